/**
 * The OpenAPI documents of the emulated server, built from what it serves:
 * the built-in kinds' schemas written here (top-level fields, ObjectMeta in
 * full, nested built-in structures left open) and each installed CRD's
 * structural schema, as the real server publishes them.
 *
 * - `/openapi/v3` (JSON): an index of group-versions, then one document per
 *   group-version with its PATCH operations (which is how kubectl learns the
 *   server validates fields) and `components.schemas` carrying
 *   `x-kubernetes-group-version-kind` (what `kubectl explain` looks up);
 * - `/openapi/v2` (protobuf only, as client-go reads it): every kind's
 *   definition, which kubectl uses to validate on the client what it cannot
 *   hand to the server, such as the items of a `kind: List`. CRD schemas lose
 *   what OpenAPI v2 cannot say (anyOf, oneOf, allOf, not, nullable), and a
 *   node preserving unknown fields is published without type or properties,
 *   as the real server does, so kubectl lets its content through.
 */
import type { Registry, ResourceType } from "./registry.ts"
import type { JSONSchemaProps } from "./structural.ts"
import { Writer } from "./protobuf.ts"

type Schema = Record<string, any>

const META = "io.k8s.apimachinery.pkg.apis.meta.v1"
const OBJECT_META = `${META}.ObjectMeta`
const OWNER_REFERENCE = `${META}.OwnerReference`

/** The definition name of a kind, as the real server names it. */
export function definitionName(type: ResourceType, version: string): string {
  if (type.crd) return `${type.group.split(".").reverse().join(".")}.${version}.${type.kind}`
  if (type.group === "apiextensions.k8s.io") return `io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.${version}.${type.kind}`
  const pkg = type.group === "" ? "core" : type.group.split(".")[0]
  return `io.k8s.api.${pkg}.${version}.${type.kind}`
}

const str = (description: string, format?: string): Schema => ({ type: "string", description, ...(format ? { format } : {}) })
const int = (description: string): Schema => ({ type: "integer", format: "int64", description })
const bool = (description: string): Schema => ({ type: "boolean", description })
const strings = (description: string): Schema => ({ type: "array", items: { type: "string" }, description })
const stringMap = (description: string, format?: string): Schema => ({
  type: "object",
  additionalProperties: { type: "string", ...(format ? { format } : {}) },
  description,
})
/** A nested structure the emulator keeps as given, without describing it. */
const open = (description: string): Schema => ({ type: "object", description, "x-kubernetes-preserve-unknown-fields": true })
const openList = (description: string): Schema => ({ type: "array", items: open(""), description })

function objectMetaSchemas(ref: (name: string) => string): Record<string, Schema> {
  return {
    [OBJECT_META]: {
      description: "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
      type: "object",
      properties: {
        annotations: stringMap("Annotations is an unstructured key value map stored with a resource that may be set by external tools."),
        creationTimestamp: str("The time the server created this object; set by the system, read-only.", "date-time"),
        deletionGracePeriodSeconds: int("Seconds allowed for this object to terminate gracefully before it is removed; set by the system."),
        deletionTimestamp: str("The time after which this resource will be deleted; set by the system when deletion is requested.", "date-time"),
        finalizers: strings("Must be empty before the object is deleted from the registry."),
        generateName: str("A prefix the server uses to generate a unique name when Name is not provided."),
        generation: int("A sequence number representing a specific generation of the desired state; set by the system."),
        labels: stringMap("Map of string keys and values that can be used to organize and categorize objects."),
        managedFields: openList("Server-side apply bookkeeping (not kept by this server)."),
        name: str("Name must be unique within a namespace."),
        namespace: str("Namespace defines the space within which each name must be unique."),
        ownerReferences: { type: "array", items: { $ref: ref(OWNER_REFERENCE) }, description: "Objects this object depends on; garbage collected once all are gone." },
        resourceVersion: str("An opaque value that represents the internal version of this object; set by the system."),
        selfLink: str("Deprecated; not set by the system."),
        uid: str("The unique in time and space value for this object; set by the system."),
      },
    },
    [OWNER_REFERENCE]: {
      description: "OwnerReference contains enough information to let you identify an owning object.",
      type: "object",
      required: ["apiVersion", "kind", "name", "uid"],
      properties: {
        apiVersion: str("API version of the referent."),
        blockOwnerDeletion: bool("If true, the owner cannot be deleted from the key-value store until this reference is removed."),
        controller: bool("If true, this reference points to the managing controller."),
        kind: str("Kind of the referent."),
        name: str("Name of the referent."),
        uid: str("UID of the referent."),
      },
    },
  }
}

const SPEC = "Spec defines the desired state; its fields are kept as given."
const STATUS = "Status is the most recently observed state; its fields are kept as given."

/** The top-level fields of the built-in kinds besides apiVersion, kind and metadata. */
function builtinFields(type: ResourceType): Record<string, Schema> {
  switch (`${type.group}/${type.kind}`) {
    case "/Namespace":
      return {
        spec: { type: "object", description: "NamespaceSpec describes the attributes on a Namespace.", properties: { finalizers: strings("Finalizers must be empty before the namespace is removed from storage.") } },
        status: { type: "object", description: "NamespaceStatus is information about the current status of a Namespace.", properties: { phase: str("Active or Terminating."), conditions: openList("The latest available observations of the namespace's state.") } },
      }
    case "/ConfigMap":
      return {
        binaryData: stringMap("Binary data, base64 encoded.", "byte"),
        data: stringMap("Configuration data."),
        immutable: bool("If true, only metadata can be modified."),
      }
    case "/Secret":
      return {
        data: stringMap("Secret data, base64 encoded.", "byte"),
        immutable: bool("If true, only metadata can be modified."),
        stringData: stringMap("Write-only convenience: merged into data on write, never returned."),
        type: str("Used to facilitate programmatic handling of secret data; Opaque when not set."),
      }
    case "/ServiceAccount":
      return {
        automountServiceAccountToken: bool("Whether pods running as this service account should have an API token automatically mounted."),
        imagePullSecrets: openList("References to secrets for pulling images."),
        secrets: openList("Secrets allowed to be used by pods running as this service account."),
      }
    case "/Endpoints":
      return { subsets: openList("The set of all endpoints.") }
    case "/Event":
    case "events.k8s.io/Event": {
      const names =
        type.group === ""
          ? ["action", "count", "eventTime", "firstTimestamp", "involvedObject", "lastTimestamp", "message", "reason", "related", "reportingComponent", "reportingInstance", "series", "source", "type"]
          : ["action", "deprecatedCount", "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedSource", "eventTime", "note", "reason", "regarding", "related", "reportingController", "reportingInstance", "series", "type"]
      const objects = new Set(["involvedObject", "related", "series", "source", "regarding", "deprecatedSource"])
      const out: Record<string, Schema> = {}
      for (const n of names) out[n] = objects.has(n) ? open(n) : n === "count" || n === "deprecatedCount" ? { type: "integer", format: "int32", description: n } : str(n)
      return out
    }
    case "rbac.authorization.k8s.io/Role":
    case "rbac.authorization.k8s.io/ClusterRole":
      return {
        rules: openList("The PolicyRules of this role."),
        ...(type.kind === "ClusterRole" ? { aggregationRule: open("How to build the rules of this ClusterRole from others.") } : {}),
      }
    case "rbac.authorization.k8s.io/RoleBinding":
    case "rbac.authorization.k8s.io/ClusterRoleBinding":
      return {
        roleRef: { type: "object", description: "The role being granted.", required: ["apiGroup", "kind", "name"], properties: { apiGroup: str("API group of the role."), kind: str("Role or ClusterRole."), name: str("Name of the role.") } },
        subjects: openList("The users, groups and service accounts the role applies to."),
      }
    case "authorization.k8s.io/SelfSubjectAccessReview":
    case "authorization.k8s.io/SelfSubjectRulesReview":
      return { spec: open(SPEC), status: open(STATUS) }
    default:
      return type.status || type.resource === "customresourcedefinitions" ? { spec: open(SPEC), status: open(STATUS) } : { spec: open(SPEC) }
  }
}

function gvk(type: ResourceType, version: string): Schema[] {
  return [{ group: type.group, kind: type.kind, version }]
}

/** A CRD's structural schema as the real server publishes it in v3: apiVersion, kind and metadata added. */
function crdSchema(type: ResourceType, version: string, ref: (name: string) => string): Schema {
  const s: JSONSchemaProps = structuredClone(type.crd!.schemas[version] ?? { type: "object", "x-kubernetes-preserve-unknown-fields": true })
  const properties = { ...(s.properties ?? {}) }
  s.properties = {
    apiVersion: str("APIVersion defines the versioned schema of this representation of an object."),
    kind: str("Kind is a string value representing the REST resource this object represents."),
    metadata: { allOf: [{ $ref: ref(OBJECT_META) }], description: "Standard object's metadata." },
    ...properties,
  }
  s.type ??= "object"
  return { ...s, "x-kubernetes-group-version-kind": gvk(type, version) }
}

function builtinSchema(type: ResourceType, version: string, ref: (name: string) => string): Schema {
  return {
    description: `${type.kind} as this server stores it.`,
    type: "object",
    properties: {
      apiVersion: str("APIVersion defines the versioned schema of this representation of an object."),
      kind: str("Kind is a string value representing the REST resource this object represents."),
      metadata: { allOf: [{ $ref: ref(OBJECT_META) }], description: "Standard object's metadata." },
      ...builtinFields(type),
    },
    "x-kubernetes-group-version-kind": gvk(type, version),
  }
}

function kindSchema(type: ResourceType, version: string, ref: (name: string) => string): Schema {
  return type.crd ? crdSchema(type, version, ref) : builtinSchema(type, version, ref)
}

interface GroupVersion {
  path: string
  group: string
  version: string
}

const v3Ref = (name: string) => `#/components/schemas/${name}`

export class OpenApi {
  constructor(
    private readonly registry: Registry,
    private readonly gitVersion: string,
  ) {}

  private groupVersions(): GroupVersion[] {
    const gvs: GroupVersion[] = [{ path: "api/v1", group: "", version: "v1" }]
    for (const g of this.registry.groups()) for (const v of g.versions) gvs.push({ path: `apis/${g.name}/${v}`, group: g.name, version: v })
    return gvs
  }

  private types(gv: { group: string; version: string }): ResourceType[] {
    return this.registry.all().filter((t) => t.group === gv.group && t.versions.includes(gv.version))
  }

  /** The v3 document of one group-version. */
  v3Document(gv: { group: string; version: string }): Schema {
    const paths: Record<string, unknown> = {}
    const schemas: Record<string, Schema> = objectMetaSchemas(v3Ref)
    const prefix = gv.group ? `/apis/${gv.group}/${gv.version}` : `/api/${gv.version}`
    for (const t of this.types(gv)) {
      schemas[definitionName(t, gv.version)] = kindSchema(t, gv.version, v3Ref)
      if (!t.verbs.includes("patch")) continue
      const p = t.namespaced ? `${prefix}/namespaces/{namespace}/${t.resource}/{name}` : `${prefix}/${t.resource}/{name}`
      paths[p] = {
        patch: {
          operationId: `patch${t.kind}`,
          "x-kubernetes-action": "patch",
          "x-kubernetes-group-version-kind": { group: gv.group, version: gv.version, kind: t.kind },
          parameters: [
            { name: "dryRun", in: "query", schema: { type: "string", uniqueItems: true } },
            { name: "fieldManager", in: "query", schema: { type: "string", uniqueItems: true } },
            { name: "fieldValidation", in: "query", schema: { type: "string", uniqueItems: true } },
          ],
          responses: { "200": { content: { "application/json": { schema: { $ref: v3Ref(definitionName(t, gv.version)) } } } } },
        },
      }
    }
    return { openapi: "3.0.0", info: { title: "Kubernetes", version: this.gitVersion }, paths, components: { schemas } }
  }

  private hash(gv: GroupVersion): string {
    const s = JSON.stringify(this.v3Document(gv))
    let h = 2166136261
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0
    return h.toString(16).toUpperCase().padStart(8, "0")
  }

  /** `/openapi/v3` and below: the index, or one group-version's document; undefined when there is none. */
  v3(rest: string[]): Schema | undefined {
    const gvs = this.groupVersions()
    if (rest.length === 0) {
      const paths: Record<string, unknown> = {}
      for (const gv of gvs) paths[gv.path] = { serverRelativeURL: `/openapi/v3/${gv.path}?hash=${this.hash(gv)}` }
      return { paths }
    }
    const gv = gvs.find((x) => x.path === rest.join("/"))
    return gv ? this.v3Document(gv) : undefined
  }

  /** The Swagger 2.0 document (JSON form) of every served kind. */
  v2Document(): Schema {
    const ref = (name: string) => `#/definitions/${name}`
    const definitions: Record<string, Schema> = objectMetaSchemas(ref)
    for (const gv of this.groupVersions()) {
      for (const t of this.types(gv)) definitions[definitionName(t, gv.version)] = kindSchema(t, gv.version, ref)
    }
    for (const [k, v] of Object.entries(definitions)) definitions[k] = toV2(v)
    return { swagger: "2.0", info: { title: "Kubernetes", version: this.gitVersion }, paths: {}, definitions }
  }

  /** `/openapi/v2` as `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`. */
  v2Protobuf(): Uint8Array {
    return encodeV2Document(this.v2Document())
  }
}

/** An OpenAPI v3 schema as v2 can say it (see the module comment). */
export function toV2(s: Schema): Schema {
  if (s.$ref) return { $ref: s.$ref, ...(s.description ? { description: s.description } : {}) }
  if (Array.isArray(s.allOf) && s.allOf.length === 1 && s.allOf[0].$ref) return { $ref: s.allOf[0].$ref, ...(s.description ? { description: s.description } : {}) }
  const out: Schema = {}
  for (const [k, v] of Object.entries(s)) {
    if (["anyOf", "oneOf", "allOf", "not", "nullable", "default"].includes(k)) continue
    if (k.startsWith("x-kubernetes-") && k !== "x-kubernetes-group-version-kind") continue
    out[k] = v
  }
  if (s["x-kubernetes-preserve-unknown-fields"] || s["x-kubernetes-int-or-string"]) {
    delete out.type
    delete out.properties
    delete out.items
    delete out.additionalProperties
    delete out.required
  }
  if (out.properties) out.properties = Object.fromEntries(Object.entries(out.properties as Record<string, Schema>).map(([k, v]) => [k, toV2(v)]))
  if (out.items && typeof out.items === "object") out.items = toV2(out.items)
  if (out.additionalProperties && typeof out.additionalProperties === "object") out.additionalProperties = toV2(out.additionalProperties)
  return out
}

// ---- gnostic openapi_v2 protobuf (github.com/google/gnostic-models openapiv2/OpenAPIv2.proto) ----

/** Any { yaml = 2 }: a vendor extension's value, written as JSON (which is YAML). */
function any(value: unknown): Writer {
  return new Writer().string(2, JSON.stringify(value))
}

function encodeSchema(s: Schema): Writer {
  const w = new Writer()
  w.string(1, s.$ref).string(2, s.format).string(3, s.title).string(4, s.description)
  w.double(7, s.maximum).double(9, s.minimum)
  w.int(11, s.maxLength).int(12, s.minLength).string(13, s.pattern).int(14, s.maxItems).int(15, s.minItems)
  for (const r of (s.required ?? []) as string[]) w.string(19, r)
  for (const e of (s.enum ?? []) as unknown[]) w.message(20, any(e))
  if (s.additionalProperties !== undefined) {
    const ap = new Writer()
    if (typeof s.additionalProperties === "object") ap.message(1, encodeSchema(s.additionalProperties))
    else ap.bool(2, s.additionalProperties)
    w.message(21, ap)
  }
  if (s.type) w.message(22, new Writer().string(1, s.type))
  if (s.items) w.message(23, new Writer().message(1, encodeSchema(s.items)))
  // Properties only when there are some: an empty Properties would make kubectl refuse every field.
  const props = Object.entries((s.properties ?? {}) as Record<string, Schema>)
  if (props.length) {
    const p = new Writer()
    for (const [name, v] of props) p.message(1, new Writer().string(1, name).message(2, encodeSchema(v)))
    w.message(25, p)
  }
  for (const [k, v] of Object.entries(s)) if (k.startsWith("x-")) w.message(31, new Writer().string(1, k).message(2, any(v)))
  return w
}

function encodeV2Document(doc: Schema): Uint8Array {
  const w = new Writer().string(1, doc.swagger)
  w.message(2, new Writer().string(1, doc.info.title).string(2, doc.info.version))
  w.message(8, new Writer())
  const defs = new Writer()
  for (const [name, s] of Object.entries(doc.definitions as Record<string, Schema>)) defs.message(1, new Writer().string(1, name).message(2, encodeSchema(s)))
  w.message(9, defs)
  return w.finish()
}
