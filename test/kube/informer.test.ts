import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Duration, Effect, Exit, Scope } from "effect"
import { make, type KubeObject } from "../../src/runtime/client.ts"
import { makeInformer, type ChangeType, type Informer } from "../../src/runtime/reflector.ts"
import { ConfigMaps } from "../../src/runtime/resources.ts"
import { startEmulator, type Emulator } from "@awms/kube-emulator"
import { waitFor } from "../support/wait.ts"
import { layerFromConfig } from "../../src/runtime/client.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator
let scope: Scope.CloseableScope
let informer: Informer
const seen: Array<{ type: ChangeType; name: string; rv: string | undefined }> = []

const kube = () => make(api.kubeConfig())
const cm = (name: string, data: Record<string, string> = {}) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name, namespace: "watched", labels: { app: "mine" } },
  data,
})

beforeAll(async () => {
  api = await startEmulator({ namespaces: ["default", "watched"], historySize: 50 })
  await Effect.runPromise(kube().create(ConfigMaps, "watched", cm("before-start")))
  scope = Effect.runSync(Scope.make())
  informer = await Effect.runPromise(
    Scope.extend(
      makeInformer(
        ConfigMaps,
        { namespace: "watched", labelSelector: "app=mine", watchTimeoutSeconds: 300, idleTimeout: Duration.seconds(1) },
        (type: ChangeType, o: KubeObject) => void seen.push({ type, name: o.metadata.name, rv: o.metadata.resourceVersion }),
      ),
      scope,
    ).pipe(Effect.provide(layerFromConfig(api.kubeConfig()))),
  )
  await Effect.runPromise(informer.synced)
})
afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await api?.stop()
})

const inSync = () =>
  waitFor(() => {
    const truth = api.list("", "configmaps", "watched").filter((o: any) => o.metadata.labels?.app === "mine")
    return (
      truth.length === informer.list().length &&
      truth.every((o: any) => informer.get("watched", o.metadata.name)?.metadata.resourceVersion === o.metadata.resourceVersion)
    )
  }, { timeoutMs: 15_000, message: "the cache to match the API server" })

describe("informer", () => {
  test("lists first, then follows creations, changes and deletions", async () => {
    expect(informer.get("watched", "before-start")).toBeDefined()
    const k = kube()
    await Effect.runPromise(k.create(ConfigMaps, "watched", cm("a")))
    await Effect.runPromise(k.patch(ConfigMaps, "watched", "a", { type: "merge", body: { data: { x: "1" } } }))
    await Effect.runPromise(k.delete(ConfigMaps, "watched", "before-start"))
    await inSync()
    expect(informer.get("watched", "a")?.data).toEqual({ x: "1" })
    expect(informer.get("watched", "before-start")).toBeUndefined()
    const types = seen.filter((s) => s.name === "a").map((s) => s.type)
    expect(types).toEqual(["ADDED", "MODIFIED"])
  })

  test("ignores objects outside its label selector, and forgets one that leaves it", async () => {
    const k = kube()
    await Effect.runPromise(k.create(ConfigMaps, "watched", { ...cm("other"), metadata: { name: "other", namespace: "watched" } }))
    await Effect.runPromise(k.patch(ConfigMaps, "watched", "a", { type: "merge", body: { metadata: { labels: { app: "theirs" } } } }))
    await inSync()
    expect(informer.get("watched", "other")).toBeUndefined()
    expect(informer.get("watched", "a")).toBeUndefined()
  })

  test("a silent watch is abandoned after the idle bound and resumed without losing events", async () => {
    api.faults.stallWatches()
    await Effect.runPromise(kube().create(ConfigMaps, "watched", cm("during-stall")))
    await inSync()
    expect(informer.stats.idleRestarts).toBeGreaterThan(0)
  })

  test("after 410 Gone it lists again, and deletions missed meanwhile are delivered", async () => {
    const k = kube()
    api.faults.dropWatches()
    api.faults.compactHistory()
    await Effect.runPromise(k.delete(ConfigMaps, "watched", "during-stall"))
    await Effect.runPromise(k.create(ConfigMaps, "watched", cm("after-gone")))
    await inSync()
    expect(seen.some((s) => s.name === "during-stall" && s.type === "DELETED")).toBe(true)
    expect(informer.get("watched", "after-gone")).toBeDefined()
  })

  test("its first LIST is answered from the watch cache (resourceVersion=0); after 410 Gone it lists consistently, every page", async () => {
    // A namespace of its own: the informer above watches "watched".
    const NS = "default"
    const k = kube()
    for (let i = 0; i < 5; i++) await Effect.runPromise(k.create(ConfigMaps, NS, { ...cm(`paged-${i}`), metadata: { name: `paged-${i}`, namespace: NS } }))
    const truth = () => api.list("", "configmaps", NS).map((o: any) => o.metadata.name).sort()
    const requests = (watch: boolean) =>
      api.requests
        .all()
        .filter((r) => r.method === "GET" && r.resource === "configmaps" && r.namespace === NS && r.path.includes("watch=") === watch)
        .map((r) => new URL(r.path, "http://x").searchParams)
    const pagedScope = Effect.runSync(Scope.make())
    try {
      const paged = await Effect.runPromise(
        Scope.extend(
          makeInformer(ConfigMaps, { namespace: NS, watchTimeoutSeconds: 300, idleTimeout: Duration.seconds(30), pageSize: 2 }, () => {}),
          pagedScope,
        ).pipe(Effect.provide(layerFromConfig(api.kubeConfig()))),
      )
      await Effect.runPromise(paged.synced)
      expect(truth().length).toBeGreaterThan(4)
      expect(paged.list().map((o) => o.metadata.name).sort()).toEqual(truth())
      // One request: the server's cache answers with every object, whatever the page size.
      expect(requests(false).map((q) => q.get("resourceVersion"))).toEqual(["0"])

      // Changes its watch does not see, their history then compacted, and the watch dropped: 410 Gone.
      await waitFor(() => requests(true).length === 1, { timeoutMs: 10_000, message: "the informer's watch" })
      api.faults.stallWatches()
      await Effect.runPromise(k.delete(ConfigMaps, NS, "paged-0"))
      await Effect.runPromise(k.create(ConfigMaps, NS, { ...cm("paged-after-gone"), metadata: { name: "paged-after-gone", namespace: NS } }))
      api.faults.compactHistory()
      api.faults.dropWatches()
      await waitFor(() => paged.stats.gone > 0 && paged.stats.lists > 1, { timeoutMs: 15_000, message: "the informer to list again after 410 Gone" })
      // The list that follows must not be older than the cache: the latest state, page by page.
      const relist = requests(false).slice(1)
      expect(relist.length).toBeGreaterThan(2)
      expect(relist.map((q) => q.get("resourceVersion"))).toEqual(relist.map(() => null))
      expect(relist.slice(1).every((q) => q.get("continue") !== null)).toBe(true)
      expect(paged.list().map((o) => o.metadata.name).sort()).toEqual(truth())
      expect(paged.get(NS, "paged-0")).toBeUndefined()
    } finally {
      await Effect.runPromise(Scope.close(pagedScope, Exit.void))
    }
  })
})
