import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as k8s from "@kubernetes/client-node"
import YAML from "yaml"
import { EMULATOR_TOKEN, startEmulator, type Emulator } from "./index.ts"
import { apiError, http } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const SA_TOKEN = "sa-token"
const SA_USER = "system:serviceaccount:team:worker"
const OPERATOR_TOKEN = "operator-token"
const ALICE_TOKEN = "alice-token"

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` })
const as = (api: Emulator, token: string, method: string, path: string, body?: unknown) =>
  http(api.url, method, path, body, bearer(token))
const admin = (api: Emulator, method: string, path: string, body?: unknown) => as(api, EMULATOR_TOKEN, method, path, body)

const RBAC = "/apis/rbac.authorization.k8s.io/v1"

async function mustCreate(api: Emulator, path: string, body: unknown) {
  const res = await admin(api, "POST", path, body)
  if (res.status !== 201) throw new Error(`creating at ${path}: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

const deployment = (name: string) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name },
  spec: {
    replicas: 0,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "c", image: "busybox" }] } },
  },
})

const ssar = (api: Emulator, token: string, resourceAttributes: Record<string, string>) =>
  api
    .kubeConfigFor(token)
    .makeApiClient(k8s.AuthorizationV1Api)
    .createSelfSubjectAccessReview({ body: { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec: { resourceAttributes } } })

describe("authentication", () => {
  let api: Emulator
  beforeAll(async () => {
    api = await startEmulator({ auth: { users: { [ALICE_TOKEN]: { username: "alice" } } } })
  })
  afterAll(() => api.stop())

  test("a request without a bearer token, or with an unknown one, gets 401 Unauthorized, discovery included", async () => {
    for (const path of ["/api/v1/namespaces", "/api", "/apis"]) {
      const none = await http(api.url, "GET", path)
      expect(none.status).toBe(401)
      expect(none.body).toEqual({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "Unauthorized", reason: "Unauthorized", code: 401 })
      const unknown = await as(api, "no-such-token", "GET", path)
      expect(unknown.status).toBe(401)
    }
  })

  test("known tokens are accepted; without enforceRbac every authenticated user may do anything", async () => {
    expect((await admin(api, "GET", "/api/v1/namespaces")).status).toBe(200)
    const list = await api.kubeConfigFor(ALICE_TOKEN).makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace: "default" })
    expect(list.items).toEqual([])
  })

  test("the kubeconfig written for a token authenticates with it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "auth-kc-"))
    try {
      const path = join(dir, "kubeconfig")
      api.writeKubeconfigFor(ALICE_TOKEN, path)
      const kc = new k8s.KubeConfig()
      kc.loadFromFile(path)
      expect(kc.getCurrentUser()?.token).toBe(ALICE_TOKEN)
      const ns = await kc.makeApiClient(k8s.CoreV1Api).readNamespace({ name: "default" })
      expect(ns.metadata?.name).toBe("default")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("RBAC", () => {
  let api: Emulator
  beforeAll(async () => {
    api = await startEmulator({
      namespaces: ["team", "other", "guacamole", "jupyterhub"],
      auth: {
        enforceRbac: true,
        users: {
          [SA_TOKEN]: { username: SA_USER },
          [ALICE_TOKEN]: { username: "alice", groups: ["auditors"] },
          [OPERATOR_TOKEN]: { username: "system:serviceaccount:guacamole:awms-guacamole-operator" },
        },
      },
    })
    await mustCreate(api, `${RBAC}/namespaces/team/roles`, {
      metadata: { name: "config-reader" },
      rules: [
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] },
        { apiGroups: [""], resources: ["secrets"], resourceNames: ["allowed"], verbs: ["get"] },
        { apiGroups: ["apps"], resources: ["deployments/scale"], verbs: ["patch", "get"] },
        { apiGroups: ["apps"], resources: ["*/status"], verbs: ["get"] },
      ],
    })
    await mustCreate(api, `${RBAC}/namespaces/team/rolebindings`, {
      metadata: { name: "worker-reads" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "config-reader" },
      subjects: [{ kind: "ServiceAccount", name: "worker", namespace: "team" }],
    })
    await mustCreate(api, `${RBAC}/clusterroles`, {
      metadata: { name: "namespace-viewer" },
      rules: [{ apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch"] }],
    })
    await mustCreate(api, `${RBAC}/clusterrolebindings`, {
      metadata: { name: "auditors-view-namespaces" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "namespace-viewer" },
      subjects: [{ kind: "Group", name: "auditors", apiGroup: "rbac.authorization.k8s.io" }],
    })
    for (const name of ["settings"]) await mustCreate(api, "/api/v1/namespaces/team/configmaps", { metadata: { name } })
    for (const name of ["settings"]) await mustCreate(api, "/api/v1/namespaces/other/configmaps", { metadata: { name } })
    for (const name of ["allowed", "hidden"]) await mustCreate(api, "/api/v1/namespaces/team/secrets", { metadata: { name } })
    await mustCreate(api, "/apis/apps/v1/namespaces/team/deployments", deployment("web"))
  })
  afterAll(() => api.stop())

  test("a service account bound by a RoleBinding can do what the Role grants, in that namespace", async () => {
    expect((await as(api, SA_TOKEN, "GET", "/api/v1/namespaces/team/configmaps/settings")).status).toBe(200)
    const list = await api.kubeConfigFor(SA_TOKEN).makeApiClient(k8s.CoreV1Api).listNamespacedConfigMap({ namespace: "team" })
    expect(list.items.map((c) => c.metadata?.name)).toEqual(["settings"])
  })

  test("elsewhere, and for verbs the Role does not grant, it gets the real 403", async () => {
    const otherNs = await as(api, SA_TOKEN, "GET", "/api/v1/namespaces/other/configmaps/settings")
    expect(otherNs.status).toBe(403)
    expect(otherNs.body).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: `configmaps "settings" is forbidden: User "${SA_USER}" cannot get resource "configmaps" in API group "" in the namespace "other"`,
      reason: "Forbidden",
      details: { name: "settings", kind: "configmaps" },
      code: 403,
    })
    const del = await as(api, SA_TOKEN, "DELETE", "/api/v1/namespaces/team/configmaps/settings")
    expect(del.status).toBe(403)
    expect(del.body.message).toBe(
      `configmaps "settings" is forbidden: User "${SA_USER}" cannot delete resource "configmaps" in API group "" in the namespace "team"`,
    )
    expect(api.get("", "configmaps", "team", "settings")).toBeDefined()
    // A list names no object; a group other than core is named in the resource.
    const deployments = await apiError(
      api.kubeConfigFor(SA_TOKEN).makeApiClient(k8s.AppsV1Api).listNamespacedDeployment({ namespace: "team" }),
    )
    expect(deployments.code).toBe(403)
    expect(deployments.status.message).toBe(
      `deployments.apps is forbidden: User "${SA_USER}" cannot list resource "deployments" in API group "apps" in the namespace "team"`,
    )
    expect(deployments.status.details).toEqual({ group: "apps", kind: "deployments" })
    // Cluster-scoped: "at the cluster scope".
    const namespaces = await as(api, SA_TOKEN, "GET", "/api/v1/namespaces")
    expect(namespaces.status).toBe(403)
    expect(namespaces.body.message).toBe(
      `namespaces is forbidden: User "${SA_USER}" cannot list resource "namespaces" in API group "" at the cluster scope`,
    )
  })

  test("a ClusterRoleBinding to a Group grants everywhere, to that group's members only", async () => {
    const list = await as(api, ALICE_TOKEN, "GET", "/api/v1/namespaces")
    expect(list.status).toBe(200)
    expect(list.body.items.map((n: any) => n.metadata.name)).toContain("team")
    expect((await as(api, ALICE_TOKEN, "GET", "/api/v1/namespaces/other")).status).toBe(200)
    expect((await as(api, ALICE_TOKEN, "GET", "/api/v1/namespaces/team/configmaps")).status).toBe(403)
    // The namespace object is authorised in its own namespace, as kube-apiserver does.
    const ns = await as(api, SA_TOKEN, "GET", "/api/v1/namespaces/team")
    expect(ns.body.message).toBe(
      `namespaces "team" is forbidden: User "${SA_USER}" cannot get resource "namespaces" in API group "" in the namespace "team"`,
    )
  })

  test("resourceNames limit a rule to the named objects; a list is not named", async () => {
    expect((await as(api, SA_TOKEN, "GET", "/api/v1/namespaces/team/secrets/allowed")).status).toBe(200)
    const hidden = await as(api, SA_TOKEN, "GET", "/api/v1/namespaces/team/secrets/hidden")
    expect(hidden.status).toBe(403)
    expect(hidden.body.message).toBe(
      `secrets "hidden" is forbidden: User "${SA_USER}" cannot get resource "secrets" in API group "" in the namespace "team"`,
    )
    expect((await as(api, SA_TOKEN, "GET", "/api/v1/namespaces/team/secrets")).status).toBe(403)
  })

  test("subresource rules: deployments/scale grants the scale only; */status grants every status", async () => {
    const scaled = await api
      .kubeConfigFor(SA_TOKEN)
      .makeApiClient(k8s.AppsV1Api)
      .patchNamespacedDeploymentScale(
        { name: "web", namespace: "team", body: { spec: { replicas: 2 } } },
        k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
      )
    expect(scaled.spec?.replicas).toBe(2)
    expect(api.get("apps", "deployments", "team", "web").spec.replicas).toBe(2)
    const whole = await as(api, SA_TOKEN, "GET", "/apis/apps/v1/namespaces/team/deployments/web")
    expect(whole.status).toBe(403)
    const status = await as(api, SA_TOKEN, "GET", "/apis/apps/v1/namespaces/team/deployments/web/status")
    expect(status.status).toBe(200)
    const patchStatus = await http(api.url, "PATCH", "/apis/apps/v1/namespaces/team/deployments/web/status", { status: {} }, {
      ...bearer(SA_TOKEN),
      "Content-Type": "application/merge-patch+json",
    })
    expect(patchStatus.status).toBe(403)
    expect(patchStatus.body.message).toBe(
      `deployments.apps "web" is forbidden: User "${SA_USER}" cannot patch resource "deployments/status" in API group "apps" in the namespace "team"`,
    )
  })

  test("SelfSubjectAccessReview answers allowed (with the granting binding) or not, whatever the user may otherwise do", async () => {
    const allowed = await ssar(api, SA_TOKEN, { namespace: "team", verb: "get", resource: "configmaps" })
    expect(allowed.status?.allowed).toBe(true)
    expect(allowed.status?.reason).toBe(
      'RBAC: allowed by RoleBinding "worker-reads/team" of Role "config-reader" to ServiceAccount "worker/team"',
    )
    const denied = await ssar(api, SA_TOKEN, { namespace: "other", verb: "get", resource: "configmaps" })
    expect(denied.status?.allowed).toBe(false)
    expect(denied.status?.denied ?? false).toBe(false)
    const scale = await ssar(api, SA_TOKEN, { namespace: "team", verb: "patch", group: "apps", resource: "deployments", subresource: "scale" })
    expect(scale.status?.allowed).toBe(true)
    const named = await ssar(api, SA_TOKEN, { namespace: "team", verb: "get", resource: "secrets", name: "hidden" })
    expect(named.status?.allowed).toBe(false)
    const masters = await ssar(api, EMULATOR_TOKEN, { namespace: "other", verb: "delete", resource: "secrets" })
    expect(masters.status?.allowed).toBe(true)
    // Discovery lists the review kinds.
    const authz = await admin(api, "GET", "/apis/authorization.k8s.io/v1")
    expect(authz.body.resources.map((r: any) => [r.name, r.namespaced, r.verbs])).toEqual([
      ["selfsubjectaccessreviews", false, ["create"]],
      ["selfsubjectrulesreviews", false, ["create"]],
    ])
  })

  test("SelfSubjectReview (kubectl auth whoami) says who the token is, groups implied by the authenticators included", async () => {
    const res = await as(api, SA_TOKEN, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" })
    expect(res.status).toBe(201)
    expect(res.body).toEqual({
      kind: "SelfSubjectReview",
      apiVersion: "authentication.k8s.io/v1",
      metadata: { creationTimestamp: null },
      status: { userInfo: { username: SA_USER, groups: ["system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"] } },
    })
    const alice = await as(api, ALICE_TOKEN, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", {})
    expect(alice.body.status.userInfo).toEqual({ username: "alice", groups: ["auditors", "system:authenticated"] })
  })

  test("a malformed SelfSubjectAccessReview is refused with 422", async () => {
    const res = await as(api, SA_TOKEN, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", { spec: {} })
    expect(res.status).toBe(422)
    expect(res.body.reason).toBe("Invalid")
  })

  test("SelfSubjectRulesReview lists the rules that apply in a namespace", async () => {
    const review = await api
      .kubeConfigFor(SA_TOKEN)
      .makeApiClient(k8s.AuthorizationV1Api)
      .createSelfSubjectRulesReview({ body: { spec: { namespace: "team" } } })
    expect(review.status?.incomplete).toBe(false)
    const rules = review.status!.resourceRules.map((r) => ({ ...r }))
    expect(rules).toContainEqual({ verbs: ["get", "list"], apiGroups: [""], resources: ["configmaps"] })
    expect(rules).toContainEqual({ verbs: ["get"], apiGroups: [""], resources: ["secrets"], resourceNames: ["allowed"] })
    expect(rules).toContainEqual({ verbs: ["patch", "get"], apiGroups: ["apps"], resources: ["deployments/scale"] })
    const elsewhere = await api
      .kubeConfigFor(SA_TOKEN)
      .makeApiClient(k8s.AuthorizationV1Api)
      .createSelfSubjectRulesReview({ body: { spec: { namespace: "other" } } })
    expect(elsewhere.status!.resourceRules.flatMap((r) => r.resources ?? [])).not.toContain("configmaps")
  })

  test("deploy/rbac.yaml gives the operator's service account what the operator needs and nothing more", async () => {
    const docs = YAML.parseAllDocuments(readFileSync(join(import.meta.dir, "../../deploy/rbac.yaml"), "utf8")).map((d) => d.toJS())
    const objects = api.kubeConfig().makeApiClient(k8s.KubernetesObjectApi)
    for (const doc of docs) await objects.create(doc)
    const can = async (verb: string, resource: string, namespace?: string, extra: Record<string, string> = {}) => {
      const [res, sub] = resource.split("/")
      const [plural, ...groupParts] = res!.split(".")
      const attributes: Record<string, string> = { verb, resource: plural!, group: groupParts.join("."), ...extra }
      if (sub) attributes.subresource = sub
      if (namespace) attributes.namespace = namespace
      return (await ssar(api, OPERATOR_TOKEN, attributes)).status?.allowed
    }
    // What the operator does.
    for (const verb of ["get", "list", "watch", "patch"]) {
      expect(await can(verb, "analyticsworkspacebindings.xlscsde.nhs.uk")).toBe(true)
      expect(await can(verb, "analyticsworkspacebindings.xlscsde.nhs.uk", "jupyterhub")).toBe(true)
    }
    expect(await can("patch", "analyticsworkspacebindings.xlscsde.nhs.uk/status", "jupyterhub")).toBe(true)
    // The idle culler stops a browser by scaling its binding.
    expect(await can("patch", "analyticsworkspacebindings.xlscsde.nhs.uk/scale", "jupyterhub")).toBe(true)
    expect(await can("create", "events", "jupyterhub")).toBe(true)
    expect(await can("get", "customresourcedefinitions.apiextensions.k8s.io", undefined, { name: "analyticsworkspacebindings.xlscsde.nhs.uk" })).toBe(true)
    for (const resource of ["deployments.apps", "services", "secrets"]) {
      for (const verb of ["get", "list", "watch", "create", "patch", "delete"]) expect(await can(verb, resource, "guacamole")).toBe(true)
    }
    for (const verb of ["get", "create", "update"]) expect(await can(verb, "leases.coordination.k8s.io", "guacamole")).toBe(true)
    // Nothing more.
    expect(await can("delete", "analyticsworkspacebindings.xlscsde.nhs.uk", "jupyterhub")).toBe(false)
    expect(await can("create", "analyticsworkspacebindings.xlscsde.nhs.uk", "jupyterhub")).toBe(false)
    expect(await can("update", "analyticsworkspacebindings.xlscsde.nhs.uk/scale", "jupyterhub")).toBe(false)
    expect(await can("get", "secrets", "jupyterhub")).toBe(false)
    expect(await can("list", "deployments.apps", "jupyterhub")).toBe(false)
    expect(await can("list", "secrets")).toBe(false)
    expect(await can("update", "deployments.apps", "guacamole")).toBe(false)
    expect(await can("get", "customresourcedefinitions.apiextensions.k8s.io", undefined, { name: "widgets.example.com" })).toBe(false)
    expect(await can("list", "customresourcedefinitions.apiextensions.k8s.io")).toBe(false)
    expect(await can("get", "namespaces", undefined, { name: "guacamole" })).toBe(false)
    expect(await can("delete", "leases.coordination.k8s.io", "guacamole")).toBe(false)
    // And the requests themselves are refused with the real message.
    const secret = await as(api, OPERATOR_TOKEN, "GET", "/api/v1/namespaces/jupyterhub/secrets")
    expect(secret.status).toBe(403)
    expect(secret.body.message).toBe(
      'secrets is forbidden: User "system:serviceaccount:guacamole:awms-guacamole-operator" cannot list resource "secrets" in API group "" in the namespace "jupyterhub"',
    )
    expect((await as(api, OPERATOR_TOKEN, "GET", "/api/v1/namespaces/guacamole/secrets")).status).toBe(200)
  })
})

describe("with auth off", () => {
  let api: Emulator
  beforeAll(async () => {
    api = await startEmulator()
  })
  afterAll(() => api.stop())

  test("requests need no token and every access review answers allowed", async () => {
    expect((await http(api.url, "GET", "/api/v1/namespaces")).status).toBe(200)
    const review = await http(api.url, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
      spec: { resourceAttributes: { namespace: "default", verb: "delete", resource: "secrets" } },
    })
    expect(review.status).toBe(201)
    expect(review.body).toMatchObject({ kind: "SelfSubjectAccessReview", apiVersion: "authorization.k8s.io/v1", status: { allowed: true } })
    // Reviews are answers, not stored objects.
    expect(api.list("authorization.k8s.io", "selfsubjectaccessreviews")).toEqual([])
  })
})
