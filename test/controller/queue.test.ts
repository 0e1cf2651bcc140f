import { describe, expect, test } from "bun:test"
import { Deferred, Duration, Effect, Scope, Exit } from "effect"
import { makeWorkQueue, type WorkQueue } from "../../src/runtime/queue.ts"
import { waitFor } from "../support/wait.ts"

const withQueue = async (
  body: (q: WorkQueue, scope: Scope.Scope) => Promise<void>,
  random: () => number = () => 1,
) => {
  const scope = Effect.runSync(Scope.make())
  const q = await Effect.runPromise(
    Scope.extend(makeWorkQueue({ base: Duration.millis(10), max: Duration.millis(80) }, random), scope),
  )
  try {
    await body(q, scope)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

describe("work queue", () => {
  test("a key added several times while it waits is processed once", async () => {
    await withQueue(async (q, scope) => {
      const seen: string[] = []
      q.add("ns/a")
      q.add("ns/a")
      q.add("ns/b")
      q.add("ns/a")
      await Effect.runPromise(Scope.extend(q.run(1, (k) => Effect.sync(() => void seen.push(k))), scope))
      await waitFor(() => seen.length === 2)
      expect(seen.sort()).toEqual(["ns/a", "ns/b"])
      expect(q.depth()).toBe(0)
    })
  })

  test("one key is never processed by two workers at once, and a change during processing is not lost", async () => {
    await withQueue(async (q, scope) => {
      const gate = Effect.runSync(Deferred.make<void>())
      let running = 0
      let maxRunning = 0
      let runs = 0
      await Effect.runPromise(
        Scope.extend(
          q.run(4, () =>
            Effect.gen(function* () {
              running++
              maxRunning = Math.max(maxRunning, running)
              runs++
              if (runs === 1) yield* Deferred.await(gate)
              running--
            }),
          ),
          scope,
        ),
      )
      q.add("ns/a")
      await waitFor(() => runs === 1)
      q.add("ns/a") // changed while being processed
      q.add("ns/a")
      expect(q.active()).toBe(1)
      Effect.runSync(Deferred.succeed(gate, undefined))
      await waitFor(() => runs === 2)
      expect(maxRunning).toBe(1)
    })
  })

  test("depth counts the keys waiting for a worker, a key queued again while a worker has it from when it is free", async () => {
    await withQueue(async (q, scope) => {
      const gate = Effect.runSync(Deferred.make<void>())
      const seen: string[] = []
      q.add("ns/a")
      q.add("ns/b")
      await Effect.runPromise(
        Scope.extend(
          q.run(1, (k) =>
            Effect.suspend(() => {
              seen.push(k)
              // The first run of ns/a holds the only worker until the test lets it go.
              return seen.length === 1 ? Deferred.await(gate) : Effect.void
            }),
          ),
          scope,
        ),
      )
      await waitFor(() => seen.length === 1)
      expect(q.depth()).toBe(1)
      q.add("ns/a")
      expect(q.depth()).toBe(1)
      Effect.runSync(Deferred.succeed(gate, undefined))
      await waitFor(() => seen.length === 3)
      expect(seen).toEqual(["ns/a", "ns/b", "ns/a"])
      await waitFor(() => q.depth() === 0 && q.active() === 0)
    })
  })

  test("concurrency across keys is bounded by the worker count", async () => {
    await withQueue(async (q, scope) => {
      const gate = Effect.runSync(Deferred.make<void>())
      let running = 0
      let maxRunning = 0
      let done = 0
      await Effect.runPromise(
        Scope.extend(
          q.run(3, () =>
            Effect.gen(function* () {
              running++
              maxRunning = Math.max(maxRunning, running)
              yield* Deferred.await(gate)
              running--
              done++
            }),
          ),
          scope,
        ),
      )
      for (let i = 0; i < 10; i++) q.add(`ns/k${i}`)
      await waitFor(() => running === 3)
      expect(q.depth()).toBe(7)
      Effect.runSync(Deferred.succeed(gate, undefined))
      await waitFor(() => done === 10)
      expect(maxRunning).toBe(3)
    })
  })

  test("rate-limited retries back off exponentially per key, capped, and forget resets them", async () => {
    await withQueue(async (q) => {
      const delays = Array.from({ length: 6 }, () => Duration.toMillis(q.addRateLimited("ns/a")))
      expect(delays).toEqual([10, 20, 40, 80, 80, 80])
      expect(Duration.toMillis(q.addRateLimited("ns/b"))).toBe(10)
      q.forget("ns/a")
      expect(Duration.toMillis(q.addRateLimited("ns/a"))).toBe(10)
    })
  })

  test("a server's Retry-After longer than the backoff is honoured", async () => {
    await withQueue(async (q) => {
      expect(Duration.toMillis(q.addRateLimited("ns/a", Duration.seconds(2)))).toBe(2000)
      expect(Duration.toMillis(q.addRateLimited("ns/a", Duration.millis(1)))).toBe(20)
    })
  })

  test("jitter keeps a retry between half and all of its backoff", async () => {
    await withQueue(
      async (q) => {
        expect(Duration.toMillis(q.addRateLimited("ns/a"))).toBe(5)
      },
      () => 0,
    )
  })

  test("a scheduled key is processed after its delay; the earliest schedule wins", async () => {
    await withQueue(async (q, scope) => {
      const seen: Array<{ key: string; at: number }> = []
      await Effect.runPromise(
        Scope.extend(q.run(1, (key) => Effect.sync(() => void seen.push({ key, at: Date.now() }))), scope),
      )
      const start = Date.now()
      q.addAfter("ns/a", Duration.seconds(30))
      q.addAfter("ns/a", Duration.millis(30))
      await waitFor(() => seen.length === 1, { timeoutMs: 5000 })
      expect(seen[0]!.key).toBe("ns/a")
      expect(seen[0]!.at - start).toBeGreaterThanOrEqual(25)
    })
  })

  test("closing the scope stops the workers and cancels schedules", async () => {
    const seen: string[] = []
    const scope = Effect.runSync(Scope.make())
    const q = await Effect.runPromise(Scope.extend(makeWorkQueue(), scope))
    await Effect.runPromise(Scope.extend(q.run(2, (k) => Effect.sync(() => void seen.push(k))), scope))
    q.addAfter("ns/late", Duration.millis(50))
    await Effect.runPromise(Scope.close(scope, Exit.void))
    q.add("ns/after-close")
    await Bun.sleep(100) // nothing may arrive; there is no condition to wait on for an absence
    expect(seen).toEqual([])
  })
})
