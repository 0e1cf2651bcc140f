/**
 * Events on bindings (core v1 Events, which `kubectl describe` and
 * `kubectl get events` show), aggregated as client-go's recorder does: the
 * same (binding, type, reason, message) again within the window does not
 * make a new Event, it increments `count` and moves `lastTimestamp` of the
 * one already recorded. Recording never fails a reconcile: a lost Event is
 * logged, not retried. Reasons are the constants of ./event-reasons.ts.
 */
import { randomBytes } from "node:crypto"
import { Clock, Effect } from "effect"
import type { KubeClientService, KubeObject } from "./client.ts"
import { apiVersionOf, Bindings, Events } from "./resources.ts"
import type { EventReason } from "../reconciler/event-reasons.ts"

export type EventType = "Normal" | "Warning"

export interface EventRecorder {
  readonly record: (binding: KubeObject, type: EventType, reason: EventReason, message: string) => Effect.Effect<void>
}

export interface EventRecorderOptions {
  readonly component: string
  readonly instance: string
  /** A repeat within this long of the last one is counted on the same Event (default 1 hour, the server's Event TTL). */
  readonly aggregateWindowMs?: number
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
  const recorded = new Map<string, Recorded>()
  const window = options.aggregateWindowMs ?? 60 * 60_000

  const forgetOld = (now: number) => {
    if (recorded.size <= MAX_TRACKED) return
    for (const [k, r] of recorded) if (now - r.last >= window) recorded.delete(k)
  }

  const create = (binding: KubeObject, type: EventType, reason: EventReason, message: string, now: number, key: string) => {
    const namespace = binding.metadata.namespace!
    const timestamp = timestampOf(now)
    // The name scheme of client-go's recorder: object name, then a unique suffix.
    const name = `${binding.metadata.name}.${now.toString(16)}${randomBytes(4).toString("hex")}`
    recorded.set(key, { namespace, name, count: 1, last: now })
    forgetOld(now)
    return kube
      .create(Events, namespace, {
        apiVersion: "v1",
        kind: "Event",
        metadata: { name, namespace },
        involvedObject: {
          // List items from a real API server may lack their type; events are only recorded on bindings.
          apiVersion: binding.apiVersion ?? apiVersionOf(Bindings),
          kind: binding.kind ?? Bindings.kind,
          name: binding.metadata.name,
          namespace,
          uid: binding.metadata.uid,
          resourceVersion: binding.metadata.resourceVersion,
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
    record: (binding, type, reason, text) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const message = text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text
        const key = [binding.metadata.uid, type, reason, message].join("\u0000")
        const previous = recorded.get(key)
        const effect =
          previous !== undefined && now - previous.last < window
            ? Effect.suspend(() => {
                previous.count += 1
                previous.last = now
                return kube
                  .patch(Events, previous.namespace, previous.name, {
                    type: "merge",
                    body: { count: previous.count, lastTimestamp: timestampOf(now) },
                  })
                  .pipe(
                    Effect.asVoid,
                    // Expired on the server (Events live an hour) or deleted: record it afresh.
                    Effect.catchTag("KubeNotFound", () => create(binding, type, reason, message, now, key)),
                  )
              })
            : create(binding, type, reason, message, now, key)
        return effect.pipe(
          Effect.catchAll((error) =>
            Effect.logWarning(
              `could not record event ${reason} on ${binding.metadata.namespace}/${binding.metadata.name}: ${error.message}`,
            ),
          ),
        )
      }),
  }
}
