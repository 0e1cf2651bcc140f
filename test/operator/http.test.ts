/** The endpoints a platform engineer's probes and dashboards use. */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { Effect, Exit, Logger, LogLevel, Scope } from "effect"
import { runOperator } from "../../src/operator.ts"
import { startHarness, type Harness } from "../support/operator.ts"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let h: Harness
beforeAll(async () => {
  h = await startHarness()
})
afterAll(async () => {
  await h?.close()
})

test("/healthz and /readyz answer ok once the caches are full and the database answers", async () => {
  const { url } = h.operator().http
  expect((await fetch(`${url}/healthz`)).status).toBe(200)
  const ready = await fetch(`${url}/readyz`)
  expect(ready.status).toBe(200)
  expect(await ready.text()).toBe("ok\n")
  expect((await fetch(`${url}/nothing-here`)).status).toBe(404)
})

test("/metrics exposes controller-runtime's reconcile and work queue metrics in Prometheus format", async () => {
  await h.createBinding("ws1-alice", { workspace: "ws1", username: "alice", expires: "2099-12-31" })
  await h.waitForStatus("ws1-alice", "READY")
  const text = await waitFor(async () => {
    const body = await (await fetch(`${h.operator().http.url}/metrics`)).text()
    return /controller_runtime_reconcile_total\{controller="analyticsworkspacebinding",result="requeue_after"\} [1-9]/.test(body)
      ? body
      : undefined
  })
  expect(text).toContain("# TYPE controller_runtime_reconcile_time_seconds histogram")
  expect(text).toContain('workqueue_depth{name="analyticsworkspacebinding"}')
  expect(text).toMatch(/awms_kubernetes_writes_total\{controller="analyticsworkspacebinding"\} [1-9]/)
})

test("a scrape of /metrics does not walk the JavaScript heap, which grows with the bindings", async () => {
  // prom-client's nodejs_heap_space_* gauges call v8.getHeapSpaceStatistics(), which Bun answers by
  // visiting every object: the operator's only thread stalled at each Prometheus scrape.
  const v8 = require("node:v8") as { getHeapSpaceStatistics: () => unknown; getHeapStatistics: () => unknown }
  const original = { spaces: v8.getHeapSpaceStatistics, heap: v8.getHeapStatistics }
  let walks = 0
  v8.getHeapSpaceStatistics = () => (walks++, original.spaces())
  v8.getHeapStatistics = () => (walks++, original.heap())
  try {
    const body = await (await fetch(`${h.operator().http.url}/metrics`)).text()
    expect(walks).toBe(0)
    // What the process's memory is still says: resident memory, and the heap's size and use.
    expect(body).toMatch(/^process_resident_memory_bytes \d+/m)
    expect(body).toMatch(/^nodejs_heap_size_used_bytes \d+/m)
  } finally {
    v8.getHeapSpaceStatistics = original.spaces
    v8.getHeapStatistics = original.heap
  }
})

test("/readyz says why when the database stops answering", async () => {
  await h.stopOperator()
  // The same cluster, with a database port nothing listens on.
  const scope = Effect.runSync(Scope.make())
  try {
    const operator = await Effect.runPromise(
      Scope.extend(runOperator({ ...h.config, db: { ...h.config.db, port: 1 } }, { kubeConfig: h.kc }), scope).pipe(
        Effect.provide(Logger.minimumLogLevel(LogLevel.None)),
      ),
    )
    const res = await fetch(`${operator.http.url}/readyz`)
    expect(res.status).toBe(503)
    expect(await res.text()).toContain("the Guacamole database does not answer")
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
})
