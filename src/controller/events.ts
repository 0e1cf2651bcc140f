/**
 * Events on bindings (core v1 Events, which `kubectl describe` and
 * `kubectl get events` show). Recording never fails a reconcile: a lost
 * Event is logged, not retried. The same reason and message for the same
 * binding within the dedupe window is recorded once, so a binding stuck in
 * a retry loop does not flood the namespace.
 */
import { randomBytes } from "node:crypto"
import { Clock, Effect } from "effect"
import type { KubeClientService, KubeObject } from "../kube/client.ts"
import { apiVersionOf, Bindings, Events } from "../kube/resources.ts"

export type EventType = "Normal" | "Warning"

export interface EventRecorder {
  readonly record: (binding: KubeObject, type: EventType, reason: string, message: string) => Effect.Effect<void>
}

export interface EventRecorderOptions {
  readonly component: string
  readonly instance: string
  readonly dedupeWindowMs?: number
}

const MAX_MESSAGE = 1024

export const makeEventRecorder = (kube: KubeClientService, options: EventRecorderOptions): EventRecorder => {
  const recent = new Map<string, number>()
  const window = options.dedupeWindowMs ?? 10 * 60_000

  return {
    record: (binding, type, reason, message) =>
      Effect.flatMap(Clock.currentTimeMillis, (millis) => {
        const at = new Date(millis)
        const dedupeKey = `${binding.metadata.uid}\u0000${reason}\u0000${message}`
        const last = recent.get(dedupeKey)
        if (last !== undefined && at.getTime() - last < window) return Effect.void
        recent.set(dedupeKey, at.getTime())
        if (recent.size > 10_000) {
          for (const [k, t] of recent) if (at.getTime() - t >= window) recent.delete(k)
        }
        const namespace = binding.metadata.namespace!
        const timestamp = at.toISOString().replace(/\.\d{3}Z$/, "Z")
        const body = {
          apiVersion: "v1",
          kind: "Event",
          metadata: {
            // The name scheme of client-go's recorder: object name, then a unique suffix.
            name: `${binding.metadata.name}.${at.getTime().toString(16)}${randomBytes(4).toString("hex")}`,
            namespace,
          },
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
          message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message,
          source: { component: options.component },
          reportingComponent: options.component,
          reportingInstance: options.instance,
          firstTimestamp: timestamp,
          lastTimestamp: timestamp,
          count: 1,
        }
        return kube.create(Events, namespace, body).pipe(
          Effect.asVoid,
          Effect.catchAll((error) =>
            Effect.logWarning(`could not record event ${reason} on ${namespace}/${binding.metadata.name}: ${error.message}`),
          ),
        )
      }),
  }
}
