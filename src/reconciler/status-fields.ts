/**
 * Which status fields the installed binding CRD declares. A real API server
 * prunes undeclared status fields, and an operator that keeps writing a
 * field that is pruned away never converges; so the operator writes only
 * what the installed CRD declares (the base four when it cannot read the CRD).
 */
import { Effect } from "effect"
import type { KubeClientService } from "../runtime/client.ts"
import { Bindings, CustomResourceDefinitions } from "../runtime/resources.ts"

export interface StatusFields {
  readonly has: (field: string) => boolean
  readonly describe: () => string
}

/** The status fields of the binding CRD that existing installations have. */
const BASE_STATUS_FIELDS = ["statusText", "deploymentName", "lastActiveCheck", "replicas"] as const

export const statusFieldsFrom = (crd: unknown, version: string): StatusFields => {
  const versions = ((crd as any)?.spec?.versions ?? []) as any[]
  const schema = versions.find((v) => v?.name === version)?.schema?.openAPIV3Schema
  const status = schema?.properties?.status
  if (status?.["x-kubernetes-preserve-unknown-fields"] === true) {
    return { has: () => true, describe: () => "any (x-kubernetes-preserve-unknown-fields)" }
  }
  const fields = new Set<string>(Object.keys(status?.properties ?? {}))
  return { has: (f) => fields.has(f), describe: () => [...fields].sort().join(", ") }
}

export const baseStatusFields: StatusFields = (() => {
  const fields = new Set<string>(BASE_STATUS_FIELDS)
  return { has: (f: string) => fields.has(f), describe: () => [...fields].join(", ") }
})()

/** Reads the installed CRD; falls back to the base fields when it cannot (e.g. no RBAC to read CRDs). */
export const discoverStatusFields = (kube: KubeClientService): Effect.Effect<StatusFields> =>
  kube.get(CustomResourceDefinitions, undefined, `${Bindings.plural}.${Bindings.group}`).pipe(
    Effect.map((crd) => statusFieldsFrom(crd, Bindings.version)),
    Effect.tap((fields) => Effect.logInfo(`binding status fields declared by the installed CRD: ${fields.describe()}`)),
    Effect.catchAll((error) =>
      Effect.logWarning(
        `could not read the binding CRD (${error.message}); writing only the status fields every installation declares`,
      ).pipe(Effect.as(baseStatusFields)),
    ),
  )
