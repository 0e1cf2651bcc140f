/**
 * Events on objects (core v1 Events, which `kubectl describe` and
 * `kubectl get events` show), aggregated as client-go's recorder does: the
 * same (object, type, reason, message) again within the window does not
 * make a new Event, it increments `count` and moves `lastTimestamp` of the
 * one already recorded. Recording never fails a reconcile: a lost Event is
 * logged, not retried.
 *
 * `inBackground` takes the Events off the reconcile's path: recording
 * returns at once, the Events of one object are written in order, and a
 * closing scope waits for those still on their way.
 */
import { randomBytes } from "node:crypto"
import { Clock, Duration, Effect, Fiber, type Scope } from "effect"
import type { KubeClientService, KubeObject } from "./client.ts"
import { apiVersionOf, Events, type ResourceType } from "./resources.ts"

type EventReason = string

export type EventType = "Normal" | "Warning"

export interface EventRecorder {
  readonly record: (object: KubeObject, type: EventType, reason: EventReason, message: string) => Effect.Effect<void>
}

export interface EventRecorderOptions {
  readonly component: string
  readonly instance: string
  /** The type of objects that arrive without apiVersion and kind (list items of a real API server). */
  readonly kind?: ResourceType
  /** A repeat within this long of the last one is counted on the same Event (default 1 hour, the server's Event TTL). */
  readonly aggregateWindowMs?: number
  /** Events remembered for aggregation, the most recently recorded (default 10,000). */
  readonly maxTracked?: number
}

const MAX_MESSAGE = 1024
const MAX_TRACKED = 10_000

interface Recorded {
  readonly namespace: string
  readonly name: string
  count: number
  last: number
}

const timestampOf = (millis: number) => new Date(millis).toISOString().replace(/\.\d{3}Z$/, "Z")

export const makeEventRecorder = (kube: KubeClientService, options: EventRecorderOptions): EventRecorder => {
  // In the order they were last recorded (a repeat moves to the end), so the least recent is first.
  const recorded = new Map<string, Recorded>()
  const window = options.aggregateWindowMs ?? 60 * 60_000
  const maxTracked = options.maxTracked ?? MAX_TRACKED
  const remember = (key: string, r: Recorded) => {
    recorded.delete(key)
    recorded.set(key, r)
  }

  /**
   * Forgets what is past the window, and beyond `maxTracked` the least recent (a repeat of it
   * makes a new Event): memory stays bounded however many bindings have something to say, and
   * each recording costs what it forgets, not a scan of everything remembered.
   */
  const forgetOld = (now: number) => {
    for (const [k, r] of recorded) {
      if (recorded.size <= maxTracked && now - r.last < window) break
      recorded.delete(k)
    }
  }

  const create = (object: KubeObject, type: EventType, reason: EventReason, message: string, now: number, key: string) => {
    const namespace = object.metadata.namespace!
    const timestamp = timestampOf(now)
    // The name scheme of client-go's recorder: object name, then a unique suffix.
    const name = `${object.metadata.name}.${now.toString(16)}${randomBytes(4).toString("hex")}`
    remember(key, { namespace, name, count: 1, last: now })
    forgetOld(now)
    return kube
      .create(Events, namespace, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: object.apiVersion ?? (options.kind && apiVersionOf(options.kind)),
          kind: object.kind ?? options.kind?.kind,
          name: object.metadata.name,
          namespace,
          uid: object.metadata.uid,
          resourceVersion: object.metadata.resourceVersion,
        },
        type,
        reason,
        message,
        source: { component: options.component },
        reportingComponent: options.component,
        reportingInstance: options.instance,
        firstTimestamp: timestamp,
        lastTimestamp: timestamp,
        count: 1,
      })
      .pipe(
        Effect.asVoid,
        Effect.tapError(() => Effect.sync(() => recorded.delete(key))),
      )
  }

  return {
    record: (object, type, reason, text) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const message = text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text
        const key = [object.metadata.uid, type, reason, message].join("\u0000")
        const previous = recorded.get(key)
        const effect =
          previous !== undefined && now - previous.last < window
            ? Effect.suspend(() => {
                previous.count += 1
                previous.last = now
                remember(key, previous)
                return kube
                  .patch(Events, previous.namespace, previous.name, {
                    type: "merge",
                    body: { count: previous.count, lastTimestamp: timestampOf(now) },
                  })
                  .pipe(
                    Effect.asVoid,
                    // Expired on the server (Events live an hour) or deleted: record it afresh.
                    Effect.catchTag("KubeNotFound", () => create(object, type, reason, message, now, key)),
                  )
              })
            : create(object, type, reason, message, now, key)
        return effect.pipe(
          Effect.catchAll((error) =>
            Effect.logWarning(
              `could not record event ${reason} on ${object.metadata.namespace}/${object.metadata.name}: ${error.message}`,
            ),
          ),
        )
      }),
  }
}

export interface BackgroundRecorder extends EventRecorder {
  /** Events recorded and not yet written. */
  readonly pending: () => number
}

/** How long a closing scope waits for Events still being written. */
const DRAIN_TIMEOUT = Duration.seconds(10)

export const inBackground = (recorder: EventRecorder): Effect.Effect<BackgroundRecorder, never, Scope.Scope> =>
  Effect.gen(function* () {
    /** Per object, the last Event on its way: the next one waits for it. */
    const last = new Map<string, Fiber.RuntimeFiber<void>>()
    const running = new Set<Fiber.RuntimeFiber<void>>()
    yield* Effect.addFinalizer(() =>
      Effect.forEach([...running], Fiber.await, { discard: true }).pipe(Effect.timeout(DRAIN_TIMEOUT), Effect.ignore),
    )
    return {
      pending: () => running.size,
      record: (object, type, reason, message) =>
        Effect.gen(function* () {
          const key = object.metadata.uid ?? `${object.metadata.namespace}/${object.metadata.name}`
          const before = last.get(key)
          const write = before ? Fiber.await(before).pipe(Effect.zipRight(recorder.record(object, type, reason, message))) : recorder.record(object, type, reason, message)
          const fiber = yield* Effect.forkDaemon(write)
          running.add(fiber)
          last.set(key, fiber)
          fiber.addObserver(() => {
            running.delete(fiber)
            if (last.get(key) === fiber) last.delete(key)
          })
        }),
    } satisfies BackgroundRecorder
  })
