/**
 * The idle culler (opt-in: BROWSER_IDLE_TIMEOUT and/or BROWSER_MAX_AGE).
 *
 * Every BROWSER_IDLE_CHECK_INTERVAL, ONE database query says which
 * connections are in use (src/guacamole/activity.ts); then, for each running
 * browser, from the caches alone:
 *   - in use: `status.lastActiveCheck` is set to the check's time;
 *   - idle past the timeout (the grace period after its start counting as
 *     use), or older than the maximum age: the BINDING is scaled to 0
 *     through its scale subresource — so the binding stays the one source of
 *     truth, the reconcile stops the Deployment as for any scale-down, and
 *     the next sign-in starts it again — with an Event saying why.
 *
 * The scale-down carries the binding's resourceVersion: a sign-in that
 * lands in between wins (409), and the browser is looked at again at the
 * next check. Only the leader runs it (it runs inside the controller).
 *
 * A browser's start time is what this process saw; after an operator
 * restart, running browsers count from when the restarted operator first
 * saw them, so a restart never stops a browser early.
 */
import { Clock, Duration, Effect, Either, Schedule, type Scope } from "effect"
import type { IdleSettings } from "../config.ts"
import { bindingKey, decodeBinding } from "../domain/binding.ts"
import { ownerBindingKey } from "../domain/desired.ts"
import { decideIdle } from "../domain/idle.ts"
import { connectionHostnameFor, deploymentNameFor } from "../domain/naming.ts"
import type { GuacamoleDbService } from "../guacamole/db.ts"
import type { GuacamoleError } from "../guacamole/errors.ts"
import type { Metrics } from "../http/metrics.ts"
import type { KubeClientService, KubeObject } from "../runtime/client.ts"
import type { Store } from "../runtime/store.ts"
import { Bindings } from "../runtime/resources.ts"
import type { BrowserLifecycle } from "./browser.ts"
import type { EventRecorder } from "../runtime/events.ts"
import type { StatusFields } from "./status-fields.ts"

export interface IdleCullerEnv {
  readonly kube: KubeClientService
  readonly db: GuacamoleDbService
  readonly settings: IdleSettings
  /** The Guacamole namespace (where the Deployments are). */
  readonly namespace: string
  readonly bindings: () => ReadonlyArray<KubeObject>
  readonly deployments: Pick<Store, "get">
  readonly statusFields: StatusFields
  readonly events: EventRecorder
  readonly browser: BrowserLifecycle
  readonly metrics: Metrics
}

export interface IdleCheckResult {
  readonly running: number
  readonly inUse: number
  readonly stopped: number
}

/** Whether the culler has anything to do with these settings. */
export const cullerEnabled = (s: IdleSettings): boolean => s.timeout !== undefined || s.maxAge !== undefined

const describe = (d: Duration.Duration) => Duration.format(Duration.millis(Math.round(Duration.toMillis(d) / 1000) * 1000))

const deploymentNameOf = (raw: KubeObject): string | undefined => {
  if (typeof raw.status?.deploymentName === "string" && raw.status.deploymentName !== "") return raw.status.deploymentName
  const decoded = decodeBinding(raw)
  return Either.isRight(decoded) ? deploymentNameFor(decoded.right.spec.workspace, decoded.right.spec.username) : undefined
}

export const makeIdleCuller = (env: IdleCullerEnv) => {
  /** Per binding key: when this process first saw the browser running, and when a check last found it in use. */
  const firstSeen = new Map<string, number>()
  const lastActive = new Map<string, number>()

  const stop = (binding: KubeObject, reason: "BrowserIdle" | "BrowserMaxAge", message: string) =>
    env.kube
      .patch(
        Bindings,
        binding.metadata.namespace,
        binding.metadata.name,
        { type: "merge", body: { metadata: { resourceVersion: binding.metadata.resourceVersion }, spec: { replicas: 0 } } },
        "scale",
      )
      .pipe(
        Effect.zipRight(env.events.record(binding, "Normal", reason, message)),
        Effect.tap(() => Effect.sync(() => env.metrics.browserStops.inc({ reason: reason === "BrowserIdle" ? "idle" : "max-age" }))),
        Effect.as(1),
        Effect.catchAll((error) =>
          Effect.logWarning(`could not stop the browser of ${bindingKey(binding)}: ${error.message}`).pipe(Effect.as(0)),
        ),
      )

  const markInUse = (binding: KubeObject, at: Date) =>
    env.statusFields.has("lastActiveCheck")
      ? env.kube
          .patch(
            Bindings,
            binding.metadata.namespace,
            binding.metadata.name,
            { type: "merge", body: { status: { lastActiveCheck: at.toISOString().replace(/\.\d{3}Z$/, "Z") } } },
            "status",
          )
          .pipe(
            Effect.asVoid,
            Effect.catchAll((error) =>
              Effect.logWarning(`could not record activity on ${bindingKey(binding)}: ${error.message}`),
            ),
          )
      : Effect.void

  /** One check of every running browser: one query, then only the writes the decisions need. */
  const check: Effect.Effect<IdleCheckResult, GuacamoleError> = Effect.gen(function* () {
    const started = performance.now()
    const now = yield* Clock.currentTimeMillis
    const active = yield* env.db.activeHostnames
    const running = new Set<string>()
    const work: Array<Effect.Effect<number>> = []
    let inUse = 0
    for (const raw of env.bindings()) {
      // Cheap tests first: most browsers are stopped. An invalid binding's browser is stopped by the reconcile.
      const replicas = raw.spec?.replicas
      if (raw.metadata.deletionTimestamp || typeof replicas !== "number" || replicas < 1) continue
      const deploymentName = deploymentNameOf(raw)
      if (deploymentName === undefined) continue
      const key = bindingKey(raw)
      const deployment = env.deployments.get(env.namespace, deploymentName)
      const owner = deployment && ownerBindingKey(deployment)
      if (!deployment || (owner !== undefined && owner !== key) || Number(deployment.spec?.replicas ?? 0) < 1) continue
      running.add(key)
      if (!firstSeen.has(key)) firstSeen.set(key, now)
      const startedAt = env.browser.startedAt(key) ?? firstSeen.get(key)!
      const recorded = Date.parse(String(raw.status?.lastActiveCheck ?? ""))
      const lastActiveAt = Math.max(lastActive.get(key) ?? -Infinity, Number.isNaN(recorded) ? -Infinity : recorded)
      const decision = decideIdle(
        env.settings,
        {
          startedAt,
          lastActiveAt: Number.isFinite(lastActiveAt) ? lastActiveAt : undefined,
          inUse: active.has(connectionHostnameFor(deploymentName, env.namespace)),
        },
        now,
      )
      switch (decision._tag) {
        case "InUse":
          inUse++
          lastActive.set(key, now)
          work.push(markInUse(raw, new Date(now)).pipe(Effect.as(0)))
          break
        case "StopIdle":
          work.push(
            stop(
              raw,
              "BrowserIdle",
              `browser stopped: no Guacamole connection to it for ${describe(decision.idleFor)} (idle timeout ${describe(env.settings.timeout!)})`,
            ),
          )
          break
        case "StopMaxAge":
          work.push(
            stop(
              raw,
              "BrowserMaxAge",
              `browser stopped: it had run for ${describe(decision.age)}, the maximum age ${describe(env.settings.maxAge!)}`,
            ),
          )
          break
        case "Keep":
          break
      }
    }
    for (const key of firstSeen.keys()) {
      if (!running.has(key)) {
        firstSeen.delete(key)
        lastActive.delete(key)
      }
    }
    const stopped = (yield* Effect.all(work, { concurrency: 4 })).reduce((a, b) => a + b, 0)
    env.metrics.idleCheckTime.observe((performance.now() - started) / 1000)
    return { running: running.size, inUse, stopped }
  })

  /** Checks every interval for as long as the scope lasts; a failed check is logged and the next one runs. */
  const run: Effect.Effect<void, never, Scope.Scope> = Effect.forkScoped(
    Effect.sleep(env.settings.checkInterval).pipe(
      Effect.zipRight(
        check.pipe(
          Effect.tap((r) => (r.stopped > 0 ? Effect.logInfo("idle check").pipe(Effect.annotateLogs({ ...r })) : Effect.void)),
          Effect.catchAll((error) => Effect.logWarning(`idle check failed: ${error.message}`)),
        ),
      ),
      Effect.repeat(Schedule.forever),
    ),
  ).pipe(Effect.asVoid)

  return { check, run }
}
