import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as k8s from "@kubernetes/client-node"
import { startEmulator, type Emulator } from "./index.ts"
import { apiError, http, readWatch, waitFor } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator
let core: k8s.CoreV1Api
const ns = "faults"
const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)

beforeAll(async () => {
  api = await startEmulator({ namespaces: [ns] })
  core = api.kubeConfig().makeApiClient(k8s.CoreV1Api)
})
afterAll(() => api.stop())

describe("request log", () => {
  test("records verb, path, group, resource, name, content type, body size and status; direct store access is not logged", async () => {
    api.requests.clear()
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "logged" } } })
    await core.patchNamespacedConfigMap({ namespace: ns, name: "logged", body: { data: { a: "b" } } }, merge)
    await core.readNamespacedConfigMap({ namespace: ns, name: "logged" })
    await core.listNamespacedConfigMap({ namespace: ns })
    await apiError(core.readNamespacedConfigMap({ namespace: ns, name: "missing" }))
    api.get("", "configmaps", ns, "logged")
    api.list("", "configmaps", ns)
    const all = api.requests.all()
    expect(all.map((r) => `${r.verb} ${r.status}`)).toEqual(["create 201", "patch 200", "get 200", "list 200", "get 404"])
    const patch = all[1]!
    expect(patch).toMatchObject({
      verb: "patch",
      method: "PATCH",
      path: `/api/v1/namespaces/${ns}/configmaps/logged`,
      group: "",
      resource: "configmaps",
      namespace: ns,
      name: "logged",
      contentType: "application/merge-patch+json",
      bodySize: JSON.stringify({ data: { a: "b" } }).length,
    })
    expect(api.requests.writes().map((r) => r.verb)).toEqual(["create", "patch"])
    expect(api.requests.writes({ verb: "patch" })).toHaveLength(1)
    expect(api.requests.count({ resource: "configmaps", name: "logged" })).toBe(3)
    api.requests.clear()
    expect(api.requests.all()).toEqual([])
  })
})

describe("injected failures", () => {
  test("failNext fails the next N matching requests with the chosen code, then lets them through", async () => {
    api.faults.failNext({ verb: "create", resource: "configmaps" }, { code: 500, count: 2 })
    const a = await apiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "f1" } } }))
    expect(a.code).toBe(500)
    expect(a.status).toMatchObject({ kind: "Status", reason: "InternalError", code: 500 })
    // Another verb is unaffected.
    await core.listNamespacedConfigMap({ namespace: ns })
    expect((await apiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "f1" } } }))).code).toBe(500)
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "f1" } } })
    expect(api.requests.count({ verb: "create", name: undefined, status: 500 })).toBeGreaterThanOrEqual(2)
  })

  test("429 carries Retry-After and details.retryAfterSeconds; 503 is ServiceUnavailable", async () => {
    api.faults.failNext({ verb: "get", resource: "configmaps", name: "f1" }, { code: 429, retryAfterSeconds: 3 })
    const res = await http(api.url, "GET", `/api/v1/namespaces/${ns}/configmaps/f1`)
    expect(res.status).toBe(429)
    expect(res.headers.get("retry-after")).toBe("3")
    expect(res.body).toMatchObject({ reason: "TooManyRequests", code: 429, details: { retryAfterSeconds: 3 } })
    api.faults.failNext({ resource: "configmaps", namespace: ns }, { code: 503 })
    const un = await http(api.url, "GET", `/api/v1/namespaces/${ns}/configmaps/f1`)
    expect(un.status).toBe(503)
    expect(un.body.reason).toBe("ServiceUnavailable")
    expect((await http(api.url, "GET", `/api/v1/namespaces/${ns}/configmaps/f1`)).status).toBe(200)
  })

  test("an injected 409 on a write is the real Conflict and changes nothing", async () => {
    api.faults.failNext({ verb: "patch", name: "f1" }, { code: 409 })
    const c = await apiError(core.patchNamespacedConfigMap({ namespace: ns, name: "f1", body: { data: { x: "1" } } }, merge))
    expect(c.code).toBe(409)
    expect(c.status.message).toBe(
      'Operation cannot be fulfilled on configmaps "f1": the object has been modified; please apply your changes to the latest version and try again',
    )
    expect(api.get("", "configmaps", ns, "f1").data).toBeUndefined()
  })

  test("addLatency delays matching requests; clear removes every fault", async () => {
    api.faults.addLatency({ verb: "get", name: "f1" }, 150)
    const t0 = performance.now()
    await core.readNamespacedConfigMap({ namespace: ns, name: "f1" })
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140)
    api.faults.failNext({ verb: "get" }, { code: 500, count: 5 })
    api.faults.clear()
    await core.readNamespacedConfigMap({ namespace: ns, name: "f1" })
  })
})

describe("watch faults", () => {
  test("dropWatches closes every open watch", async () => {
    const { ended } = await readWatch(api.url, `/api/v1/namespaces/${ns}/configmaps?watch=true`, () => false, {
      onOpen: async () => {
        await waitFor(() => api.openWatches() > 0)
        api.faults.dropWatches()
      },
    })
    expect(ended).toBe(true)
    expect(api.openWatches()).toBe(0)
  })

  test("stallWatches keeps connections open but sends nothing more on them", async () => {
    const stalled: any[] = []
    const ctrl = new AbortController()
    const res = await fetch(`${api.url}/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=0`, { signal: ctrl.signal })
    const reader = res.body!.getReader()
    const pump = (async () => {
      const dec = new TextDecoder()
      try {
        for (;;) {
          const { value, done } = await reader.read()
          if (done) break
          for (const l of dec.decode(value).split("\n")) if (l.trim()) stalled.push(JSON.parse(l))
        }
      } catch {
        // aborted
      }
    })()
    await waitFor(() => stalled.length > 0, { what: "initial events" })
    api.faults.stallWatches()
    const { events } = await readWatch(api.url, `/api/v1/namespaces/${ns}/configmaps?watch=true&fieldSelector=metadata.name%3Dafter-stall`, (e) => e.length >= 2, {
      onOpen: async () => {
        await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "after-stall" } } })
        await core.deleteNamespacedConfigMap({ namespace: ns, name: "after-stall" })
      },
    })
    expect(events.map((e) => e.type)).toEqual(["ADDED", "DELETED"])
    expect(stalled.some((e) => e.object.metadata.name === "after-stall")).toBe(false)
    expect(api.openWatches()).toBeGreaterThanOrEqual(1)
    ctrl.abort()
    await pump
  })

  test("compactHistory makes resuming from any older resourceVersion a 410", async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "compact" } } })
    await core.patchNamespacedConfigMap({ namespace: ns, name: "compact", body: { data: { a: "1" } } }, merge)
    api.faults.compactHistory()
    const { events } = await readWatch(api.url, `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${cm.metadata!.resourceVersion}`, (e) => e.length >= 1)
    expect(events[0]).toMatchObject({ type: "ERROR", object: { kind: "Status", reason: "Expired", code: 410 } })
    const list = await core.listNamespacedConfigMap({ namespace: ns })
    const { events: fresh } = await readWatch(api.url, `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${list.metadata!.resourceVersion}`, (e) => e.length >= 1, {
      onOpen: () => core.deleteNamespacedConfigMap({ namespace: ns, name: "compact" }),
    })
    expect(fresh[0]).toMatchObject({ type: "DELETED", object: { metadata: { name: "compact" } } })
  })
})

describe("refused connections", () => {
  test("refuseConnections closes the port, then listens again on the same one", async () => {
    const other = await startEmulator()
    try {
      other.faults.refuseConnections(300)
      await expect(fetch(`${other.url}/version`)).rejects.toThrow()
      await waitFor(async () => (await fetch(`${other.url}/version`)).ok, { what: "listening again", timeoutMs: 5000 })
      const c = other.kubeConfig().makeApiClient(k8s.CoreV1Api)
      expect((await c.listNamespace()).items.map((n) => n.metadata!.name)).toContain("default")
    } finally {
      await other.stop()
    }
  })
})
