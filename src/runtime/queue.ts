/**
 * The work queue of binding keys ("namespace/name"), with the semantics of
 * client-go's workqueue:
 * - a key added while it waits is queued once;
 * - a key added while it is being processed is processed again afterwards,
 *   never by two workers at once;
 * - `addAfter` schedules a key (the earliest of several schedules wins);
 * - `addRateLimited` schedules it after a per-key exponential backoff with
 *   jitter, which `forget` resets after a success.
 */
import { Duration, Effect, Queue, type Scope } from "effect"

export interface BackoffPolicy {
  readonly base: Duration.Duration
  readonly max: Duration.Duration
}

const defaultBackoff: BackoffPolicy = { base: Duration.millis(500), max: Duration.minutes(5) }

export interface WorkQueue {
  readonly add: (key: string) => void
  readonly addAfter: (key: string, delay: Duration.Duration) => void
  /**
   * Schedules the key after its next backoff delay (or `atLeast`, when the
   * server asked for a longer wait with Retry-After), and returns that delay.
   */
  readonly addRateLimited: (key: string, atLeast?: Duration.Duration) => Duration.Duration
  readonly forget: (key: string) => void
  readonly failures: (key: string) => number
  /** Keys waiting to be processed (not counting scheduled ones). */
  readonly depth: () => number
  /** Keys being processed now. */
  readonly active: () => number
  /**
   * Starts `concurrency` workers that process keys with `process` until the
   * scope closes. `process` must handle its own errors.
   */
  readonly run: (
    concurrency: number,
    process: (key: string) => Effect.Effect<void>,
  ) => Effect.Effect<void, never, Scope.Scope>
}

export const makeWorkQueue = (
  backoff: BackoffPolicy = defaultBackoff,
  random: () => number = Math.random,
): Effect.Effect<WorkQueue, never, Scope.Scope> =>
  Effect.gen(function* () {
    const ready = yield* Queue.unbounded<string>()
    const dirty = new Set<string>()
    const processing = new Set<string>()
    const scheduled = new Map<string, { at: number; timer: ReturnType<typeof setTimeout> }>()
    const failureCounts = new Map<string, number>()
    let closed = false

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const { timer } of scheduled.values()) clearTimeout(timer)
        scheduled.clear()
      }).pipe(Effect.zipRight(Queue.shutdown(ready))),
    )

    // Keys queued again while a worker has them: they wait, but not in `ready` (kept so that depth is O(1)).
    let dirtyWhileProcessing = 0

    const add = (key: string) => {
      if (closed || dirty.has(key)) return
      dirty.add(key)
      if (processing.has(key)) dirtyWhileProcessing++
      else Queue.unsafeOffer(ready, key)
    }

    const addAfter = (key: string, delay: Duration.Duration) => {
      if (closed) return
      const ms = Math.max(0, Duration.toMillis(delay))
      if (ms === 0) return add(key)
      const at = Date.now() + ms
      const existing = scheduled.get(key)
      if (existing && existing.at <= at) return
      if (existing) clearTimeout(existing.timer)
      const timer = setTimeout(() => {
        scheduled.delete(key)
        add(key)
      }, ms)
      scheduled.set(key, { at, timer })
    }

    const addRateLimited = (key: string, atLeast?: Duration.Duration) => {
      const n = failureCounts.get(key) ?? 0
      failureCounts.set(key, n + 1)
      const exponential = Duration.toMillis(backoff.base) * 2 ** Math.min(n, 30)
      const capped = Math.min(exponential, Duration.toMillis(backoff.max))
      // Jitter in [50%, 100%] of the delay keeps retries of many keys apart.
      const jittered = Duration.millis(Math.round(capped * (0.5 + random() / 2)))
      const delay = atLeast ? Duration.max(jittered, atLeast) : jittered
      addAfter(key, delay)
      return delay
    }

    const done = (key: string) => {
      processing.delete(key)
      if (dirty.has(key)) {
        dirtyWhileProcessing--
        Queue.unsafeOffer(ready, key)
      }
    }

    const worker = (process: (key: string) => Effect.Effect<void>) =>
      Effect.gen(function* () {
        const key = yield* Queue.take(ready)
        dirty.delete(key)
        processing.add(key)
        yield* process(key).pipe(Effect.ensuring(Effect.sync(() => done(key))))
      }).pipe(Effect.forever)

    return {
      add,
      addAfter,
      addRateLimited,
      forget: (key) => {
        failureCounts.delete(key)
      },
      failures: (key) => failureCounts.get(key) ?? 0,
      depth: () => dirty.size - dirtyWhileProcessing,
      active: () => processing.size,
      run: (concurrency, process) =>
        Effect.forEach(
          Array.from({ length: concurrency }, () => worker(process)),
          (w) => Effect.forkScoped(w),
          { discard: true },
        ),
    } satisfies WorkQueue
  })
