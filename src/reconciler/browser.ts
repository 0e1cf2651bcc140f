/**
 * The browser's life as its researcher feels it: from signing in (Keycloak
 * sets the binding's `spec.replicas` to 1) to a ready browser, and its stop.
 *
 * - `awms_browser_start_seconds`: the operator sees spec.replicas go from 0
 *   to 1 → the Deployment reports a ready replica;
 * - `awms_browser_start_operator_seconds`: the operator's own share of it,
 *   the change seen → the Deployment patched;
 * - Events on the binding: "browser ready in 4.2 s", "browser stopped".
 *
 * Durations are measured on the monotonic clock (performance.now()); the
 * wall time a browser started at (for the idle culler's grace period and
 * maximum age) comes from Effect's Clock, as the rest of the reconcile's
 * dates do.
 */
import { Effect } from "effect"
import type { Metrics } from "../http/metrics.ts"
import type { KubeObject } from "../runtime/client.ts"
import type { EventRecorder } from "../runtime/events.ts"

interface Start {
  /** performance.now() when the scale-up was seen. */
  readonly seenAt: number
  patched: boolean
}

export interface BrowserLifecycle {
  /** The informer saw a binding's spec.replicas go from 0 (or nothing) to at least 1. */
  readonly scaleUpSeen: (key: string) => void
  /** The binding is no longer wanted running (scaled to 0, deleted): a pending start is abandoned. */
  readonly scaleDownSeen: (key: string) => void
  /** Wall time (ms) the browser was last started at, as far as this process knows. */
  readonly startedAt: (key: string) => number | undefined
  /** After the reconcile has put the binding's Deployment right: metrics and Events. */
  readonly afterDeployment: (args: {
    readonly key: string
    readonly binding: KubeObject
    /** The Deployment before this reconcile (undefined: it was created now). */
    readonly before: KubeObject | undefined
    readonly after: KubeObject
    /** Wall time of this reconcile (Effect's Clock). */
    readonly nowMillis: number
  }) => Effect.Effect<void>
  readonly forget: (key: string) => void
}

const replicasOf = (o: KubeObject | undefined, part: "spec" | "status", field = "replicas"): number => {
  const n = Number((o?.[part] as Record<string, unknown> | undefined)?.[field] ?? 0)
  return Number.isFinite(n) ? n : 0
}

/** A Deployment whose latest spec the deployment controller has seen, with a ready pod. */
const isReady = (d: KubeObject): boolean =>
  replicasOf(d, "status", "readyReplicas") >= 1 &&
  Number(d.status?.observedGeneration ?? 0) >= Number(d.metadata.generation ?? 0)

const formatSeconds = (seconds: number): string => `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`

export const makeBrowserLifecycle = (metrics: Metrics, events: EventRecorder): BrowserLifecycle => {
  const pending = new Map<string, Start>()
  const started = new Map<string, number>()
  return {
    scaleUpSeen: (key) => void pending.set(key, { seenAt: performance.now(), patched: false }),
    scaleDownSeen: (key) => void pending.delete(key),
    startedAt: (key) => started.get(key),
    forget: (key) => {
      pending.delete(key)
      started.delete(key)
    },
    afterDeployment: ({ key, binding, before, after, nowMillis }) =>
      Effect.gen(function* () {
        const wantedBefore = replicasOf(before, "spec")
        const wanted = replicasOf(after, "spec")
        if (wantedBefore === 0 && wanted >= 1) started.set(key, nowMillis)
        if (wanted === 0) started.delete(key)
        const start = pending.get(key)
        if (start && !start.patched && wanted >= 1 && (before === undefined || wantedBefore === 0)) {
          start.patched = true
          metrics.browserStartOperator.observe((performance.now() - start.seenAt) / 1000)
        }
        if (start && wanted >= 1 && isReady(after)) {
          pending.delete(key)
          const seconds = (performance.now() - start.seenAt) / 1000
          metrics.browserStart.observe(seconds)
          yield* events.record(binding, "Normal", "BrowserReady", `browser ready in ${formatSeconds(seconds)}`)
        }
        const runningBefore = replicasOf(binding, "status")
        if (runningBefore > 0 && replicasOf(after, "status") === 0 && wanted === 0) {
          yield* events.record(binding, "Normal", "BrowserStopped", "browser stopped")
        }
      }),
  }
}
