/**
 * The resource types test code reads and writes by (group, plural) or by a
 * manifest's kind, beside the operator's own (src/runtime/resources.ts, which
 * lists only what the operator's RBAC grants). Every group used is at v1.
 */
import type { ResourceType } from "../../src/runtime/resources.ts"

const clusterScoped = new Set([
  "/namespaces",
  "/nodes",
  "apiextensions.k8s.io/customresourcedefinitions",
  "rbac.authorization.k8s.io/clusterroles",
  "rbac.authorization.k8s.io/clusterrolebindings",
])

/** Kind → (group, plural), for the kinds the project's manifests and tests use. */
const kinds: Record<string, readonly [group: string, plural: string]> = {
  Namespace: ["", "namespaces"],
  Node: ["", "nodes"],
  ServiceAccount: ["", "serviceaccounts"],
  ConfigMap: ["", "configmaps"],
  Secret: ["", "secrets"],
  Service: ["", "services"],
  Deployment: ["apps", "deployments"],
  ClusterRole: ["rbac.authorization.k8s.io", "clusterroles"],
  ClusterRoleBinding: ["rbac.authorization.k8s.io", "clusterrolebindings"],
  Role: ["rbac.authorization.k8s.io", "roles"],
  RoleBinding: ["rbac.authorization.k8s.io", "rolebindings"],
  NetworkPolicy: ["networking.k8s.io", "networkpolicies"],
  CustomResourceDefinition: ["apiextensions.k8s.io", "customresourcedefinitions"],
  AnalyticsWorkspaceBinding: ["xlscsde.nhs.uk", "analyticsworkspacebindings"],
  PodDisruptionBudget: ["policy", "poddisruptionbudgets"],
}

/** The kind served at (group, plural), when it is one of the table's. */
export const kindOf = (group: string, plural: string): string | undefined =>
  Object.entries(kinds).find(([, [g, p]]) => g === group && p === plural)?.[0]

export const resourceType = (group: string, plural: string, namespaced = true): ResourceType => ({
  id: group ? `${plural}.${group}` : plural,
  group,
  version: "v1",
  plural,
  kind: kindOf(group, plural) ?? plural,
  namespaced: namespaced && !clusterScoped.has(`${group}/${plural}`),
})

/** The resource type of a manifest's kind. */
export const resourceTypeOfKind = (kind: string): ResourceType => {
  const entry = kinds[kind]
  if (!entry) throw new Error(`no resource type known for kind ${kind}`)
  return resourceType(entry[0], entry[1])
}
