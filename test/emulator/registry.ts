/**
 * The resource types the emulator serves: the built-in kinds and the kinds
 * CustomResourceDefinitions add, with the discovery documents describing them.
 */
import type { JSONSchemaProps } from "./structural.ts"

export interface PrinterColumn {
  name: string
  type: string
  jsonPath: string
  description?: string
  format?: string
  priority?: number
}

export interface ScaleSpec {
  specReplicasPath: string
  statusReplicasPath: string
  labelSelectorPath?: string
}

export interface ResourceType {
  group: string
  /** Served versions; the first is the preferred/storage version. */
  versions: string[]
  resource: string
  singular: string
  kind: string
  listKind: string
  namespaced: boolean
  shortNames: string[]
  categories: string[]
  verbs: string[]
  /** Has a /status subresource (main endpoint ignores status, /status ignores everything else). */
  status: boolean
  scale?: ScaleSpec
  /** metadata.generation is kept and bumped on spec changes. */
  generation: boolean
  /** PUT without metadata.resourceVersion is allowed. */
  unconditionalUpdate: boolean
  /** DELETE answers with the deleted object rather than a Success Status. */
  returnDeletedObject: boolean
  nameRule: "subdomain" | "label"
  /** Set for custom resources: schema per version, printer columns per version. */
  crd?: {
    name: string
    schemas: Record<string, JSONSchemaProps | undefined>
    printerColumns: Record<string, PrinterColumn[]>
  }
  /** Stored under another type (events.k8s.io events live as core events). */
  aliasOf?: { group: string; resource: string }
  fieldSelectors: string[]
}

const RW = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

function builtin(
  group: string,
  version: string,
  resource: string,
  kind: string,
  namespaced: boolean,
  extra: Partial<ResourceType> = {},
): ResourceType {
  return {
    group,
    versions: [version],
    resource,
    singular: kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced,
    shortNames: [],
    categories: [],
    verbs: RW,
    status: false,
    generation: false,
    unconditionalUpdate: true,
    returnDeletedObject: false,
    nameRule: "subdomain",
    fieldSelectors: namespaced ? ["metadata.name", "metadata.namespace"] : ["metadata.name"],
    ...extra,
  }
}

const EVENT_FIELDS = [
  "metadata.name",
  "metadata.namespace",
  "involvedObject.kind",
  "involvedObject.namespace",
  "involvedObject.name",
  "involvedObject.uid",
  "involvedObject.apiVersion",
  "involvedObject.resourceVersion",
  "involvedObject.fieldPath",
  "reason",
  "reportingComponent",
  "source",
  "type",
]

export function builtinTypes(): ResourceType[] {
  return [
    builtin("", "v1", "namespaces", "Namespace", false, {
      shortNames: ["ns"],
      status: true,
      nameRule: "label",
      returnDeletedObject: true,
      verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
      fieldSelectors: ["metadata.name", "status.phase"],
    }),
    builtin("", "v1", "configmaps", "ConfigMap", true, { shortNames: ["cm"] }),
    builtin("", "v1", "secrets", "Secret", true, {
      fieldSelectors: ["metadata.name", "metadata.namespace", "type"],
    }),
    builtin("", "v1", "services", "Service", true, {
      shortNames: ["svc"],
      categories: ["all"],
      status: true,
      nameRule: "label",
      verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    }),
    builtin("", "v1", "events", "Event", true, { shortNames: ["ev"], fieldSelectors: EVENT_FIELDS }),
    builtin("", "v1", "pods", "Pod", true, { shortNames: ["po"], categories: ["all"], status: true }),
    builtin("", "v1", "serviceaccounts", "ServiceAccount", true, { shortNames: ["sa"] }),
    builtin("", "v1", "endpoints", "Endpoints", true, { shortNames: ["ep"], singular: "endpoints", listKind: "EndpointsList" }),
    builtin("events.k8s.io", "v1", "events", "Event", true, {
      shortNames: ["ev"],
      aliasOf: { group: "", resource: "events" },
      fieldSelectors: EVENT_FIELDS,
    }),
    builtin("apps", "v1", "deployments", "Deployment", true, {
      shortNames: ["deploy"],
      categories: ["all"],
      status: true,
      scale: { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.replicas" },
      generation: true,
    }),
    builtin("apps", "v1", "replicasets", "ReplicaSet", true, {
      shortNames: ["rs"],
      categories: ["all"],
      status: true,
      generation: true,
    }),
    builtin("coordination.k8s.io", "v1", "leases", "Lease", true),
    builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, {
      shortNames: ["crd", "crds"],
      categories: ["api-extensions"],
      status: true,
      generation: true,
      unconditionalUpdate: false,
    }),
    builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
    builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false),
    builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true),
    builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false),
    builtin("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", false, { verbs: ["create"] }),
    builtin("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", false, { verbs: ["create"] }),
    builtin("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", false, { verbs: ["create"] }),
    builtin("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, {
      shortNames: ["netpol"],
      generation: true,
    }),
  ]
}

function servedVersions(crd: any): any[] {
  return ((crd?.spec?.versions ?? []) as any[]).filter((v) => v && v.served !== false)
}

/** The ResourceType a CustomResourceDefinition defines (undefined if it serves nothing). */
export function typeFromCRD(crd: any): ResourceType | undefined {
  const spec = crd?.spec ?? {}
  const names = spec.names ?? {}
  const versions = servedVersions(crd)
  if (!spec.group || !names.plural || !names.kind || versions.length === 0) return undefined
  // Preferred version: the storage version when served, else the first served.
  versions.sort((a, b) => (a.storage ? -1 : 0) - (b.storage ? -1 : 0))
  const first = versions[0]
  const schemas: Record<string, JSONSchemaProps | undefined> = {}
  const printerColumns: Record<string, PrinterColumn[]> = {}
  for (const v of versions) {
    schemas[v.name] = v.schema?.openAPIV3Schema ?? spec.validation?.openAPIV3Schema
    printerColumns[v.name] = v.additionalPrinterColumns ?? spec.additionalPrinterColumns ?? []
  }
  const sub = first.subresources ?? spec.subresources ?? {}
  return {
    group: spec.group,
    versions: versions.map((v) => v.name),
    resource: names.plural,
    singular: names.singular ?? String(names.kind).toLowerCase(),
    kind: names.kind,
    listKind: names.listKind ?? `${names.kind}List`,
    namespaced: spec.scope !== "Cluster",
    shortNames: names.shortNames ?? [],
    categories: names.categories ?? [],
    verbs: RW,
    status: sub.status !== undefined && sub.status !== null,
    scale: sub.scale ?? undefined,
    generation: true,
    unconditionalUpdate: false,
    returnDeletedObject: true,
    nameRule: "subdomain",
    crd: { name: crd.metadata?.name, schemas, printerColumns },
    fieldSelectors: spec.scope !== "Cluster" ? ["metadata.name", "metadata.namespace"] : ["metadata.name"],
  }
}

export class Registry {
  private readonly types: ResourceType[] = []

  constructor() {
    for (const t of builtinTypes()) this.types.push(t)
  }

  all(): readonly ResourceType[] {
    return this.types
  }

  /** The type served at group/version/resource, if any. */
  find(group: string, version: string, resource: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.resource === resource && t.versions.includes(version))
  }

  /** The type by group and plural, whatever the version. */
  byResource(group: string, resource: string): ResourceType | undefined {
    return this.types.find((t) => t.group === group && t.resource === resource)
  }

  byCRD(crdName: string): ResourceType | undefined {
    return this.types.find((t) => t.crd?.name === crdName)
  }

  /** Starts (or updates) serving a CRD's resources. */
  serveCRD(crd: any): ResourceType | undefined {
    const t = typeFromCRD(crd)
    const name = crd?.metadata?.name
    const i = this.types.findIndex((x) => x.crd?.name === name)
    if (i >= 0) this.types.splice(i, 1)
    if (t) this.types.push(t)
    return t
  }

  /** Stops serving a CRD's resources. */
  unserveCRD(crdName: string): ResourceType | undefined {
    const i = this.types.findIndex((x) => x.crd?.name === crdName)
    if (i < 0) return undefined
    const [t] = this.types.splice(i, 1)
    return t
  }

  groups(): { name: string; versions: string[] }[] {
    const out = new Map<string, string[]>()
    for (const t of this.types) {
      if (t.group === "") continue
      const vs = out.get(t.group) ?? []
      for (const v of t.versions) if (!vs.includes(v)) vs.push(v)
      out.set(t.group, vs)
    }
    return [...out].map(([name, versions]) => ({ name, versions }))
  }

  apiGroup(name: string): Record<string, unknown> | undefined {
    const g = this.groups().find((x) => x.name === name)
    if (!g) return undefined
    const versions = g.versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }))
    return { name, versions, preferredVersion: versions[0] }
  }

  apiGroupList(): Record<string, unknown> {
    return {
      kind: "APIGroupList",
      apiVersion: "v1",
      groups: this.groups().map((g) => this.apiGroup(g.name)),
    }
  }

  resourceList(group: string, version: string): Record<string, unknown> | undefined {
    const types = this.types.filter((t) => t.group === group && t.versions.includes(version))
    if (types.length === 0) return undefined
    const resources: Record<string, unknown>[] = []
    for (const t of types) {
      const r: Record<string, unknown> = {
        name: t.resource,
        singularName: t.singular,
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: t.verbs,
      }
      if (t.shortNames.length) r.shortNames = t.shortNames
      if (t.categories.length) r.categories = t.categories
      resources.push(r)
      if (t.status) {
        resources.push({ name: `${t.resource}/status`, singularName: "", namespaced: t.namespaced, kind: t.kind, verbs: ["get", "patch", "update"] })
      }
      if (t.scale) {
        resources.push({
          name: `${t.resource}/scale`,
          singularName: "",
          namespaced: t.namespaced,
          group: "autoscaling",
          version: "v1",
          kind: "Scale",
          verbs: ["get", "patch", "update"],
        })
      }
    }
    return { kind: "APIResourceList", apiVersion: "v1", groupVersion: group ? `${group}/${version}` : version, resources }
  }
}
