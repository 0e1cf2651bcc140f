import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as k8s from "@kubernetes/client-node"
import { startEmulator, type Emulator } from "./index.ts"
import { apiError, http, readWatch, waitFor, widget, widgetCRD } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator
let core: k8s.CoreV1Api
let apps: k8s.AppsV1Api
let co: k8s.CustomObjectsApi
const ns = "del"
const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)

beforeAll(async () => {
  api = await startEmulator({ namespaces: [ns], crds: [widgetCRD()] })
  core = api.kubeConfig().makeApiClient(k8s.CoreV1Api)
  apps = api.kubeConfig().makeApiClient(k8s.AppsV1Api)
  co = api.kubeConfig().makeApiClient(k8s.CustomObjectsApi)
})
afterAll(() => api.stop())

describe("delete", () => {
  test("deleting a built-in answers a Success Status; a custom resource answers the object", async () => {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "gone" } } })
    const res = await http(api.url, "DELETE", `/api/v1/namespaces/${ns}/configmaps/gone`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ kind: "Status", apiVersion: "v1", status: "Success", details: { name: "gone", kind: "configmaps" } })
    expect(res.body.details.uid).toMatch(/^[0-9a-f-]{36}$/)
    await co.createNamespacedCustomObject({ group: "example.com", version: "v1", namespace: ns, plural: "widgets", body: widget("wgone") })
    const cr = await http(api.url, "DELETE", `/apis/example.com/v1/namespaces/${ns}/widgets/wgone`)
    expect(cr.body).toMatchObject({ kind: "Widget", metadata: { name: "wgone" } })
    expect((await apiError(core.deleteNamespacedConfigMap({ namespace: ns, name: "gone" }))).code).toBe(404)
  })

  test("finalizers keep the object with a deletionTimestamp until the last one is removed", async () => {
    const created = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "fin", finalizers: ["example.com/a", "example.com/b"] } } })
    const rv = created.metadata!.resourceVersion!
    const { events } = await readWatch(api.url, `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${rv}&fieldSelector=metadata.name%3Dfin`, (e) => e.length >= 4, {
      onOpen: async () => {
        const marked = await http(api.url, "DELETE", `/api/v1/namespaces/${ns}/configmaps/fin`)
        expect(marked.status).toBe(200)
        expect(marked.body.metadata.deletionTimestamp).toBeDefined()
        expect(marked.body.metadata.deletionGracePeriodSeconds).toBe(0)
        const again = await http(api.url, "DELETE", `/api/v1/namespaces/${ns}/configmaps/fin`)
        expect(again.body.metadata.resourceVersion).toBe(marked.body.metadata.resourceVersion)
        await core.patchNamespacedConfigMap({ namespace: ns, name: "fin", body: [{ op: "remove", path: "/metadata/finalizers/0" }] })
        expect(api.get("", "configmaps", ns, "fin")).toBeDefined()
        await core.patchNamespacedConfigMap({ namespace: ns, name: "fin", body: { metadata: { finalizers: null } } }, merge)
      },
    })
    expect(events.map((e) => e.type)).toEqual(["MODIFIED", "MODIFIED", "MODIFIED", "DELETED"])
    expect(api.get("", "configmaps", ns, "fin")).toBeUndefined()
  })

  test("no new finalizers can be added to an object being deleted", async () => {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "fin2", finalizers: ["example.com/a"] } } })
    await core.deleteNamespacedConfigMap({ namespace: ns, name: "fin2" })
    const { code, status } = await apiError(
      core.patchNamespacedConfigMap({ namespace: ns, name: "fin2", body: { metadata: { finalizers: ["example.com/a", "example.com/new"] } } }, merge),
    )
    expect(code).toBe(422)
    expect(status.details.causes[0]).toMatchObject({ reason: "FieldValueForbidden", field: "metadata.finalizers" })
    expect(status.message).toContain('no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/new"}')
  })

  test("a custom resource's generation is bumped when its deletion starts", async () => {
    const W = { group: "example.com", version: "v1", namespace: ns, plural: "widgets" }
    await co.createNamespacedCustomObject({ ...W, body: widget("wfin", { size: "small" }, { finalizers: ["example.com/x"] }) })
    const marked = (await co.deleteNamespacedCustomObject({ ...W, name: "wfin" })) as any
    expect(marked.metadata.generation).toBe(2)
    expect(marked.metadata.deletionTimestamp).toBeDefined()
  })

  test("preconditions: a wrong uid or resourceVersion is 409 Conflict", async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "pre" } } })
    const uid = await apiError(core.deleteNamespacedConfigMap({ namespace: ns, name: "pre", body: { preconditions: { uid: "00000000-0000-0000-0000-000000000000" } } }))
    expect(uid.code).toBe(409)
    expect(uid.status.message).toBe(
      `Operation cannot be fulfilled on configmaps "pre": Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000, UID in object meta: ${cm.metadata!.uid}`,
    )
    const rv = await apiError(core.deleteNamespacedConfigMap({ namespace: ns, name: "pre", body: { preconditions: { resourceVersion: "1" } } }))
    expect(rv.code).toBe(409)
    expect(rv.status.message).toContain("Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in object meta:")
    await core.deleteNamespacedConfigMap({ namespace: ns, name: "pre", body: { preconditions: { uid: cm.metadata!.uid, resourceVersion: cm.metadata!.resourceVersion } } })
    expect(api.get("", "configmaps", ns, "pre")).toBeUndefined()
  })

  test("deletecollection deletes what the selector matches", async () => {
    for (const [n, l] of [["dc1", "x"], ["dc2", "x"], ["dc3", "y"]] as const) {
      await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: n, labels: { dc: l } } } })
    }
    await core.deleteCollectionNamespacedConfigMap({ namespace: ns, labelSelector: "dc=x" })
    expect(api.list("", "configmaps", ns).filter((c) => c.metadata.labels?.dc).map((c) => c.metadata.name)).toEqual(["dc3"])
  })
})

describe("garbage collection", () => {
  test("dependents whose owners are all gone are deleted in the background, transitively", async () => {
    const d = await apps.createNamespacedDeployment({
      namespace: ns,
      body: { metadata: { name: "owner" }, spec: { selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "i" }] } } } },
    })
    const ref = (o: any, kind: string, apiVersion: string) => ({ apiVersion, kind, name: o.metadata.name, uid: o.metadata.uid, controller: true, blockOwnerDeletion: true })
    const svc = await core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: "owned-svc", ownerReferences: [ref(d, "Deployment", "apps/v1")] }, spec: { ports: [{ port: 80 }] } },
    })
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "grandchild", ownerReferences: [ref(svc, "Service", "v1")] } } })
    const other = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "other-owner" } } })
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "two-owners", ownerReferences: [ref(d, "Deployment", "apps/v1"), { ...ref(other, "ConfigMap", "v1"), controller: false }] } },
    })
    await apps.deleteNamespacedDeployment({ namespace: ns, name: "owner" })
    await waitFor(() => !api.get("", "services", ns, "owned-svc") && !api.get("", "configmaps", ns, "grandchild"), { what: "dependents collected" })
    const survivor = await waitFor(() => {
      const o = api.get("", "configmaps", ns, "two-owners")
      return o && o.metadata.ownerReferences.length === 1 ? o : undefined
    })
    expect(survivor.metadata.ownerReferences[0].uid).toBe(other.metadata!.uid)
  })

  test("a cluster-scoped owner works for namespaced dependents", async () => {
    const owner = await core.createNamespace({ body: { metadata: { name: "gc-owner-ns" } } })
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "ns-owned", ownerReferences: [{ apiVersion: "v1", kind: "Namespace", name: "gc-owner-ns", uid: owner.metadata!.uid! }] } },
    })
    // A garbage collection pass that provably ran (it collected the sentinel) kept the live owner's dependent.
    const trigger = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "trigger" } } })
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: "sentinel", ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "trigger", uid: trigger.metadata!.uid! }] } },
    })
    await core.deleteNamespacedConfigMap({ namespace: ns, name: "trigger" })
    await waitFor(() => !api.get("", "configmaps", ns, "sentinel"), { what: "sentinel collected" })
    expect(api.get("", "configmaps", ns, "ns-owned")).toBeDefined()
    await core.deleteNamespace({ name: "gc-owner-ns" })
    await waitFor(() => !api.get("", "configmaps", ns, "ns-owned"), { what: "collected after namespace owner went away" })
  })
})

describe("namespace deletion", () => {
  test("a deleted namespace is Terminating, refuses new content with 403, deletes its contents, then goes", async () => {
    await core.createNamespace({ body: { metadata: { name: "doomed" } } })
    await core.createNamespacedConfigMap({ namespace: "doomed", body: { metadata: { name: "held", finalizers: ["example.com/hold"] } } })
    await core.createNamespacedSecret({ namespace: "doomed", body: { metadata: { name: "s" } } })
    const res = await core.deleteNamespace({ name: "doomed" })
    expect((res as any).status?.phase ?? api.get("", "namespaces", undefined, "doomed").status.phase).toBe("Terminating")
    await waitFor(() => !api.get("", "secrets", "doomed", "s"), { what: "secret deleted" })
    const refused = await apiError(core.createNamespacedConfigMap({ namespace: "doomed", body: { metadata: { name: "late" } } }))
    expect(refused.code).toBe(403)
    expect(refused.status).toMatchObject({
      reason: "Forbidden",
      message: 'configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated',
      details: { name: "late", kind: "configmaps", causes: [{ reason: "NamespaceTerminating", message: "namespace doomed is being terminated", field: "metadata.namespace" }] },
    })
    expect(api.get("", "namespaces", undefined, "doomed")).toBeDefined()
    await core.patchNamespacedConfigMap({ namespace: "doomed", name: "held", body: { metadata: { finalizers: null } } }, merge)
    await waitFor(() => !api.get("", "namespaces", undefined, "doomed"), { what: "namespace gone" })
  })
})
