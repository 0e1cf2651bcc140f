/**
 * OpenAPI v3 structural schemas of CustomResourceDefinitions: pruning,
 * defaulting and validation, as kube-apiserver applies them (pure functions).
 */

export interface JSONSchemaProps {
  type?: string
  format?: string
  description?: string
  properties?: Record<string, JSONSchemaProps>
  additionalProperties?: boolean | JSONSchemaProps
  items?: JSONSchemaProps
  required?: string[]
  enum?: unknown[]
  pattern?: string
  default?: unknown
  nullable?: boolean
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  anyOf?: JSONSchemaProps[]
  oneOf?: JSONSchemaProps[]
  allOf?: JSONSchemaProps[]
  not?: JSONSchemaProps
  "x-kubernetes-preserve-unknown-fields"?: boolean
  "x-kubernetes-int-or-string"?: boolean
  "x-kubernetes-embedded-resource"?: boolean
  [key: string]: unknown
}

/** One cause of a 422 Invalid, as in Status.details.causes. */
export interface FieldCause {
  /** FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, FieldValueTypeInvalid … */
  readonly reason: string
  readonly message: string
  /** e.g. `spec.replicas` */
  readonly field: string
}

/**
 * Drops every field the schema does not declare (unless preserved by
 * x-kubernetes-preserve-unknown-fields). At the root, apiVersion, kind and
 * metadata are always kept. Returns a new value.
 */
export function pruneUnknownFields(obj: unknown, schema: JSONSchemaProps): unknown {
  throw new Error("not implemented")
}

/** Applies `default` values where a field is absent (or null and not nullable). Returns a new value. */
export function applyDefaults(obj: unknown, schema: JSONSchemaProps): unknown {
  throw new Error("not implemented")
}

/** Validates against the schema; an empty array means valid. */
export function validateAgainstSchema(obj: unknown, schema: JSONSchemaProps): FieldCause[] {
  throw new Error("not implemented")
}
