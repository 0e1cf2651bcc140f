/**
 * The Kubernetes resource types the operator reads or writes, and nothing
 * else: the RBAC in deploy/ grants exactly these.
 */

export interface ResourceType {
  /** plural.group, as RBAC and error messages name it */
  readonly id: string
  readonly group: string
  readonly version: string
  readonly plural: string
  readonly kind: string
  readonly namespaced: boolean
}

const make = (group: string, version: string, plural: string, kind: string, namespaced = true): ResourceType => ({
  id: group === "" ? plural : `${plural}.${group}`,
  group,
  version,
  plural,
  kind,
  namespaced,
})

export const Bindings = make("xlscsde.nhs.uk", "v1", "analyticsworkspacebindings", "AnalyticsWorkspaceBinding")
export const Deployments = make("apps", "v1", "deployments", "Deployment")
export const Services = make("", "v1", "services", "Service")
export const Secrets = make("", "v1", "secrets", "Secret")
export const Events = make("", "v1", "events", "Event")
export const ConfigMaps = make("", "v1", "configmaps", "ConfigMap")
export const Namespaces = make("", "v1", "namespaces", "Namespace", false)
export const Leases = make("coordination.k8s.io", "v1", "leases", "Lease")
export const CustomResourceDefinitions = make(
  "apiextensions.k8s.io",
  "v1",
  "customresourcedefinitions",
  "CustomResourceDefinition",
  false,
)

export const SelfSubjectAccessReviews = make(
  "authorization.k8s.io",
  "v1",
  "selfsubjectaccessreviews",
  "SelfSubjectAccessReview",
  false,
)

export const apiVersionOf = (rt: ResourceType): string => (rt.group === "" ? rt.version : `${rt.group}/${rt.version}`)

/** The collection path, e.g. /apis/apps/v1/namespaces/guacamole/deployments (all namespaces when namespace is undefined). */
export const collectionPath = (rt: ResourceType, namespace?: string): string => {
  const root = rt.group === "" ? `/api/${rt.version}` : `/apis/${rt.group}/${rt.version}`
  return rt.namespaced && namespace !== undefined
    ? `${root}/namespaces/${encodeURIComponent(namespace)}/${rt.plural}`
    : `${root}/${rt.plural}`
}
