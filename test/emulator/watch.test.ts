import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as k8s from "@kubernetes/client-node"
import { startEmulator, type Emulator } from "./index.ts"
import { apiError, http, readWatch, waitFor } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator
let core: k8s.CoreV1Api
const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)

beforeAll(async () => {
  api = await startEmulator({ namespaces: ["l1", "l2", "w"], bookmarkIntervalMs: 50 })
  core = api.kubeConfig().makeApiClient(k8s.CoreV1Api)
  const cms: [string, string, Record<string, string>][] = [
    ["l1", "a", { tier: "web", env: "prod" }],
    ["l1", "b", { tier: "db", env: "prod" }],
    ["l1", "c", { tier: "web", env: "dev" }],
    ["l1", "d", {}],
    ["l2", "e", { tier: "web" }],
  ]
  for (const [namespace, name, labels] of cms) await core.createNamespacedConfigMap({ namespace, body: { metadata: { name, labels } } })
})
afterAll(() => api.stop())

const names = (l: { items: { metadata?: { name?: string } }[] }) => l.items.map((i) => i.metadata!.name)

describe("lists", () => {
  test("label selectors: equality, inequality, set-based, exists and not-exists", async () => {
    const sel = async (labelSelector: string) => names(await core.listNamespacedConfigMap({ namespace: "l1", labelSelector }))
    expect(await sel("tier=web")).toEqual(["a", "c"])
    expect(await sel("tier==web,env=prod")).toEqual(["a"])
    expect(await sel("tier!=web")).toEqual(["b", "d"])
    expect(await sel("env in (dev,staging)")).toEqual(["c"])
    expect(await sel("tier notin (web)")).toEqual(["b", "d"])
    expect(await sel("env")).toEqual(["a", "b", "c"])
    expect(await sel("!env")).toEqual(["d"])
  })

  test("a malformed label selector is 400 BadRequest", async () => {
    const { code, status } = await apiError(core.listNamespacedConfigMap({ namespace: "l1", labelSelector: "a in (b" }))
    expect(code).toBe(400)
    expect(status.reason).toBe("BadRequest")
  })

  test("field selectors on metadata.name and metadata.namespace; other fields are 400", async () => {
    expect(names(await core.listNamespacedConfigMap({ namespace: "l1", fieldSelector: "metadata.name=b" }))).toEqual(["b"])
    expect(names(await core.listConfigMapForAllNamespaces({ fieldSelector: "metadata.namespace=l2" }))).toEqual(["e"])
    expect(names(await core.listNamespacedConfigMap({ namespace: "l1", fieldSelector: "metadata.name!=b" }))).toEqual(["a", "c", "d"])
    const bad = await apiError(core.listNamespacedConfigMap({ namespace: "l1", fieldSelector: "data.x=y" }))
    expect(bad.code).toBe(400)
    expect(bad.status.message).toContain("data.x")
  })

  test("all-namespace lists return every namespace's objects", async () => {
    const all = await core.listConfigMapForAllNamespaces({ labelSelector: "tier=web" })
    expect(all.items.map((i) => `${i.metadata!.namespace}/${i.metadata!.name}`)).toEqual(["l1/a", "l1/c", "l2/e"])
  })

  test("limit and continue page through a list at one resourceVersion", async () => {
    const p1 = await core.listNamespacedConfigMap({ namespace: "l1", limit: 3 })
    expect(names(p1)).toEqual(["a", "b", "c"])
    expect(p1.metadata!._continue).toBeTruthy()
    expect(p1.metadata!.remainingItemCount).toBe(1)
    const p2 = await core.listNamespacedConfigMap({ namespace: "l1", limit: 3, _continue: p1.metadata!._continue })
    expect(names(p2)).toEqual(["d"])
    expect(p2.metadata!._continue).toBeFalsy()
    expect(p2.metadata!.resourceVersion).toBe(p1.metadata!.resourceVersion)
  })

  test("a continue token older than the history is 410 Expired", async () => {
    const small = await startEmulator({ historySize: 2 })
    try {
      const c = small.kubeConfig().makeApiClient(k8s.CoreV1Api)
      for (const n of ["x1", "x2", "x3"]) await c.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: n } } })
      const p1 = await c.listNamespacedConfigMap({ namespace: "default", limit: 1 })
      for (const n of ["y1", "y2", "y3"]) await c.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: n } } })
      const { code, status } = await apiError(c.listNamespacedConfigMap({ namespace: "default", limit: 1, _continue: p1.metadata!._continue }))
      expect(code).toBe(410)
      expect(status.reason).toBe("Expired")
      expect(status.message).toStartWith("The provided continue parameter is too old to display a consistent list result.")
    } finally {
      await small.stop()
    }
  })
})

describe("watches", () => {
  test("without a resourceVersion: synthetic ADDED for current objects, then live events", async () => {
    const { events } = await readWatch(api.url, "/api/v1/namespaces/l1/configmaps?watch=true&labelSelector=tier%3Dweb", (e) => e.length >= 3, {
      onOpen: () => core.patchNamespacedConfigMap({ namespace: "l1", name: "c", body: { data: { k: "v" } } }, merge),
    })
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(["ADDED a", "ADDED c", "MODIFIED c"])
    expect(events[0].object).toMatchObject({ kind: "ConfigMap", apiVersion: "v1" })
  })

  test("from a resourceVersion: every later event, from the history", async () => {
    const start = await core.createNamespacedConfigMap({ namespace: "w", body: { metadata: { name: "h1" } } })
    await core.patchNamespacedConfigMap({ namespace: "w", name: "h1", body: { data: { a: "1" } } }, merge)
    await core.createNamespacedConfigMap({ namespace: "w", body: { metadata: { name: "h2" } } })
    await core.deleteNamespacedConfigMap({ namespace: "w", name: "h1" })
    const { events } = await readWatch(api.url, `/api/v1/namespaces/w/configmaps?watch=true&resourceVersion=${start.metadata!.resourceVersion}`, (e) => e.length >= 3)
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(["MODIFIED h1", "ADDED h2", "DELETED h1"])
    const rvs = events.map((e) => Number(e.object.metadata.resourceVersion))
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs)
  })

  test("an object leaving the selector is DELETED for the watcher; entering it is ADDED", async () => {
    await core.createNamespacedConfigMap({ namespace: "w", body: { metadata: { name: "mover", labels: { watched: "yes" } } } })
    const { events } = await readWatch(api.url, "/api/v1/namespaces/w/configmaps?watch=true&labelSelector=watched%3Dyes", (e) => e.length >= 3, {
      onOpen: async () => {
        await core.patchNamespacedConfigMap({ namespace: "w", name: "mover", body: { metadata: { labels: { watched: "no" } } } }, merge)
        await core.patchNamespacedConfigMap({ namespace: "w", name: "mover", body: { metadata: { labels: { watched: "yes" } } } }, merge)
      },
    })
    expect(events.map((e) => e.type)).toEqual(["ADDED", "DELETED", "ADDED"])
    expect(events[1].object.metadata.labels).toEqual({ watched: "no" })
  })

  test("bookmarks carry only kind, apiVersion and metadata.resourceVersion", async () => {
    const { events } = await readWatch(api.url, "/api/v1/namespaces/l2/configmaps?watch=true&allowWatchBookmarks=true&resourceVersion=0", (e) =>
      e.some((x) => x.type === "BOOKMARK"),
    )
    const bm = events.find((e) => e.type === "BOOKMARK")
    expect(bm.object).toEqual({ kind: "ConfigMap", apiVersion: "v1", metadata: { resourceVersion: expect.stringMatching(/^\d+$/) } })
    const noBookmarks = await fetch(`${api.url}/api/v1/namespaces/l2/configmaps?watch=true&resourceVersion=0&timeoutSeconds=1`)
    const text = await noBookmarks.text()
    expect(text).toContain('"ADDED"')
    expect(text).not.toContain("BOOKMARK")
  })

  test("watch=True (Python's client), watch=yes and an empty watch= are watches; watch=False and watch=0 are lists", async () => {
    for (const v of ["True", "yes", ""]) {
      const { events } = await readWatch(api.url, `/api/v1/namespaces/l2/configmaps?watch=${v}`, (e) => e.length >= 1)
      expect(events[0]).toMatchObject({ type: "ADDED", object: { metadata: { name: "e" } } })
    }
    for (const v of ["False", "0"]) {
      const r = await http(api.url, "GET", `/api/v1/namespaces/l2/configmaps?watch=${v}`)
      expect(r.body).toMatchObject({ kind: "ConfigMapList", items: [{ metadata: { name: "e" } }] })
    }
    const { events } = await readWatch(api.url, "/api/v1/namespaces/l2/configmaps?watch=1&allowWatchBookmarks=True&resourceVersion=0", (e) =>
      e.some((x) => x.type === "BOOKMARK"),
    )
    expect(events.at(-1).type).toBe("BOOKMARK")
  })

  test("timeoutSeconds ends the stream cleanly", async () => {
    const { ended } = await readWatch(api.url, "/api/v1/namespaces/l2/configmaps?watch=true&timeoutSeconds=1", () => false, { timeoutMs: 5000 })
    expect(ended).toBe(true)
  })

  test("resuming from a resourceVersion older than the history gets the 410 ERROR event", async () => {
    const small = await startEmulator({ historySize: 3 })
    try {
      const c = small.kubeConfig().makeApiClient(k8s.CoreV1Api)
      const first = await c.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "o0" } } })
      for (let i = 1; i <= 5; i++) await c.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: `o${i}` } } })
      const res = await fetch(`${small.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${first.metadata!.resourceVersion}`)
      expect(res.status).toBe(200)
      const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l))
      expect(lines).toHaveLength(1)
      expect(lines[0].type).toBe("ERROR")
      expect(lines[0].object).toEqual({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: expect.stringMatching(new RegExp(`^too old resource version: ${first.metadata!.resourceVersion} \\(\\d+\\)$`)),
        reason: "Expired",
        code: 410,
      })
    } finally {
      await small.stop()
    }
  })

  test("client-node's Watch streams from Bun, survives idle periods and stops on abort", async () => {
    const seen: string[] = []
    let done: unknown = "open"
    const w = new k8s.Watch(api.kubeConfig())
    const req = await w.watch("/api/v1/namespaces/w/configmaps", { resourceVersion: String(Number((await core.listNamespacedConfigMap({ namespace: "w" })).metadata!.resourceVersion)) }, (type, obj) =>
      seen.push(`${type} ${obj.metadata.name}`),
    (err) => {
      done = err ?? null
    })
    await waitFor(() => api.openWatches() > 0, { what: "watch open" })
    await core.createNamespacedConfigMap({ namespace: "w", body: { metadata: { name: "cn1" } } })
    await waitFor(() => seen.includes("ADDED cn1"), { what: "ADDED cn1" })
    await Bun.sleep(300) // idle connection stays open
    await core.deleteNamespacedConfigMap({ namespace: "w", name: "cn1" })
    await waitFor(() => seen.includes("DELETED cn1"), { what: "DELETED cn1" })
    const before = api.openWatches()
    req.abort()
    await waitFor(() => api.openWatches() === before - 1, { what: "watch closed on the server" })
    void done
  })

  test("client-node's informer lists then watches, seeing adds, updates and deletes", async () => {
    const kc = api.kubeConfig()
    const informer = k8s.makeInformer(kc, "/api/v1/namespaces/l2/configmaps", () => core.listNamespacedConfigMap({ namespace: "l2" }))
    const log: string[] = []
    informer.on("add", (o) => log.push(`add ${o.metadata!.name}`))
    informer.on("update", (o) => log.push(`update ${o.metadata!.name}`))
    informer.on("delete", (o) => log.push(`delete ${o.metadata!.name}`))
    await informer.start()
    try {
      await waitFor(() => log.includes("add e"), { what: "initial add" })
      await core.createNamespacedConfigMap({ namespace: "l2", body: { metadata: { name: "inf" } } })
      await core.patchNamespacedConfigMap({ namespace: "l2", name: "inf", body: { data: { a: "b" } } }, merge)
      await core.deleteNamespacedConfigMap({ namespace: "l2", name: "inf" })
      await waitFor(() => log.includes("delete inf"), { what: "informer delete" })
      expect(log.filter((l) => l.endsWith(" inf"))).toEqual(["add inf", "update inf", "delete inf"])
    } finally {
      await informer.stop()
    }
  })
})
