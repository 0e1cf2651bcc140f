/**
 * The binding controller: informers feed binding keys into the work queue;
 * workers reconcile them; failures are retried per key with backoff; every
 * binding is looked at again on a resync interval.
 *
 *   bindings (every watched namespace) ──┐
 *   Deployments / Services / Secrets  ───┼─▶ keys ─▶ work queue ─▶ reconcile
 *   (NAMESPACE, purpose label)        ───┘
 */
import { randomFillSync } from "node:crypto"
import { Clock, Duration, Effect, Either, Fiber, Option, Schedule, type Scope } from "effect"
import { bindingKey, decodeBinding } from "../domain/binding.ts"
import { bindingKeyOf, DEPLOYMENT_NAME_LABEL, PURPOSE, PURPOSE_LABEL, type WorkloadSettings } from "../domain/desired.ts"
import { deploymentNameFor, entityNameFor } from "../domain/naming.ts"
import { GuacamoleDb } from "../guacamole/db.ts"
import { KubeClient, type KubeObject } from "../runtime/client.ts"
import { makeInformer, type Informer } from "../runtime/reflector.ts"
import { Bindings, Deployments, Secrets, Services } from "../runtime/resources.ts"
import { CONTROLLER, type Metrics } from "../http/metrics.ts"
import { EventReason } from "./event-reasons.ts"
import type { IdleSettings } from "../config.ts"
import { makeBrowserLifecycle } from "./browser.ts"
import { cullerEnabled, makeIdleCuller } from "./idle.ts"
import { makeEventRecorder } from "../runtime/events.ts"
import { classifyFailure, makeInstallationHealth, type Fault, type InstallationHealth } from "./classify.ts"
import { makeWorkQueue } from "../runtime/queue.ts"
import { reconcile, writeBindingStatus, type ReconcileEnv } from "./reconcile.ts"
import { discoverStatusFields, type StatusFields } from "./status-fields.ts"

export interface ControllerSettings {
  readonly workload: WorkloadSettings
  /** Empty: every namespace. */
  readonly watchNamespaces: ReadonlyArray<string>
  readonly concurrency: number
  readonly resyncInterval: Duration.Duration
  readonly watchTimeoutSeconds: number
  readonly watchIdleTimeout: Duration.Duration
  /** How often the operator's own Guacamole rows are read back and put right (tampering is repaired within it). */
  readonly verifyInterval?: Duration.Duration
  /** Names this replica in Events (the pod name in a cluster). */
  readonly instance: string
  /** Stopping idle browsers; absent or without a timeout and maximum age: off. */
  readonly idle?: IdleSettings
}

export interface ControllerOptions {
  readonly metrics: Metrics
  readonly randomBytes?: (n: number) => Uint8Array
  /** Overrides discovery of the CRD's status fields (tests). */
  readonly statusFields?: StatusFields
  /** Where problems of the installation are noted (shared with /readyz, which needs it before the caches are full). */
  readonly installation?: InstallationHealth
}

export interface Controller {
  /** All informers have listed once and the workers run. */
  readonly ready: () => boolean
  /** No key waits and none is being processed (scheduled retries aside). */
  readonly idle: () => boolean
  readonly informers: ReadonlyArray<Informer>
  /** Queues every known binding (as the periodic resync does). */
  readonly resync: () => void
  /** A problem of the installation (not of any one binding) that stops reconciles, with its remedy. */
  readonly installationProblem: () => string | undefined
}

const cryptoRandomBytes = (n: number): Uint8Array => randomFillSync(new Uint8Array(n))

const splitKey = (key: string): [string, string] => {
  const i = key.indexOf("/")
  return [key.slice(0, i), key.slice(i + 1)]
}

export const startController = (
  settings: ControllerSettings,
  options: ControllerOptions,
): Effect.Effect<Controller, never, KubeClient | GuacamoleDb | Scope.Scope> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const db = yield* GuacamoleDb
    const { metrics } = options
    const queue = yield* makeWorkQueue()
    const statusFields = options.statusFields ?? (yield* discoverStatusFields(kube))
    const watchedNamespaces = new Set(settings.watchNamespaces)
    const watches = (namespace: string) => watchedNamespaces.size === 0 || watchedNamespaces.has(namespace)

    // deployment name → binding key, for objects of the original operator that carry no binding annotation
    const byDeploymentName = new Map<string, string>()
    const deploymentNameOf = (binding: KubeObject): string | undefined => {
      if (typeof binding.status?.deploymentName === "string" && binding.status.deploymentName) {
        return binding.status.deploymentName
      }
      const decoded = decodeBinding(binding)
      return Either.isRight(decoded) ? deploymentNameFor(decoded.right.spec.workspace, decoded.right.spec.username) : undefined
    }

    const events = makeEventRecorder(kube, { component: settings.workload.operatorName, instance: settings.instance })
    const browser = makeBrowserLifecycle(metrics, events)
    // Bindings listed at start-up were scaled before this process could see it: only later changes are timed.
    let serving = false
    const wantedReplicas = (o: KubeObject | undefined) => Number(o?.spec?.replicas ?? 0)


    // identity (`<workspace>@<username>`) → keys of the bindings that ask for it, so that a
    // binding refused because another holds its identity is queued the moment the holder lets go.
    const wanting = new Map<string, Set<string>>()
    const identityOf = (binding: KubeObject): string | undefined => {
      const decoded = decodeBinding(binding)
      return Either.isRight(decoded) ? entityNameFor(decoded.right.spec.workspace, decoded.right.spec.username) : undefined
    }
    const indexIdentity = (key: string, identity: string | undefined, present: boolean) => {
      if (identity === undefined) return
      const keys = wanting.get(identity) ?? new Set<string>()
      if (present) keys.add(key)
      else keys.delete(key)
      if (keys.size === 0) wanting.delete(identity)
      else wanting.set(identity, keys)
    }
    const wakeWaiters = (identities: ReadonlyArray<string>, except: string) => {
      for (const identity of identities) {
        for (const waiting of wanting.get(identity) ?? []) if (waiting !== except) queue.add(waiting)
      }
    }

    const onBinding = (type: string, object: KubeObject, previous: KubeObject | undefined) => {
      const key = bindingKey(object)
      if (previous) indexIdentity(key, identityOf(previous), false)
      indexIdentity(key, identityOf(object), type !== "DELETED")
      if (type === "DELETED" || wantedReplicas(object) <= 0) browser.scaleDownSeen(key)
      else if (serving && wantedReplicas(previous) <= 0) browser.scaleUpSeen(key)
      const name = deploymentNameOf(object)
      if (type === "DELETED") {
        if (name && byDeploymentName.get(name) === key) byDeploymentName.delete(name)
      } else if (name && !byDeploymentName.has(name)) {
        byDeploymentName.set(name, key)
      }
      // Our own status writes come back as MODIFIED events with the same generation: nothing to do for them.
      if (
        type === "MODIFIED" &&
        previous &&
        previous.metadata.generation === object.metadata.generation &&
        previous.metadata.deletionTimestamp === object.metadata.deletionTimestamp &&
        JSON.stringify(previous.metadata.finalizers ?? []) === JSON.stringify(object.metadata.finalizers ?? []) &&
        JSON.stringify(previous.metadata.annotations ?? {}) === JSON.stringify(object.metadata.annotations ?? {})
      ) {
        return
      }
      queue.add(key)
    }

    const onChild = (_type: string, object: KubeObject) => {
      const key = bindingKeyOf(object) ?? byDeploymentName.get(object.metadata.labels?.[DEPLOYMENT_NAME_LABEL] ?? "")
      if (key) queue.add(key)
    }

    const informerOptions = {
      watchTimeoutSeconds: settings.watchTimeoutSeconds,
      idleTimeout: settings.watchIdleTimeout,
    }
    const bindingInformers =
      settings.watchNamespaces.length === 0
        ? [yield* makeInformer(Bindings, informerOptions, onBinding)]
        : yield* Effect.forEach(settings.watchNamespaces, (namespace) =>
            makeInformer(Bindings, { ...informerOptions, namespace }, onBinding),
          )
    const childOptions = {
      ...informerOptions,
      namespace: settings.workload.namespace,
      labelSelector: `${PURPOSE_LABEL}=${PURPOSE}`,
    }
    const deployments = yield* makeInformer(Deployments, childOptions, onChild)
    const services = yield* makeInformer(Services, childOptions, onChild)
    const secrets = yield* makeInformer(Secrets, childOptions, onChild)
    const informers = [...bindingInformers, deployments, services, secrets]

    const bindingInformerFor = (namespace: string) =>
      bindingInformers.length === 1 && settings.watchNamespaces.length === 0
        ? bindingInformers[0]!
        : bindingInformers[settings.watchNamespaces.indexOf(namespace)]
    const bindings: ReconcileEnv["bindings"] = {
      get: (namespace, name) => bindingInformerFor(namespace)?.get(namespace, name),
      observe: (object) => bindingInformerFor(object.metadata.namespace!)?.observe(object),
    }

    const env: ReconcileEnv = {
      kube,
      db,
      bindings,
      deployments,
      services,
      secrets,
      settings: settings.workload,
      statusFields,
      events,
      applied: new Map(),
      randomBytes: options.randomBytes ?? cryptoRandomBytes,
      watches,
      browser,
    }

    const health = options.installation ?? makeInstallationHealth()

    /** What the binding shows for a failure that is its own, or transient; installation problems and races touch no binding. */
    const reportOnBinding = (key: string, fault: Fault) =>
      Effect.gen(function* () {
        if (fault.kind !== "binding" && fault.kind !== "transient") return
        const [namespace, name] = splitKey(key)
        const raw = bindings.get(namespace, name)
        if (!raw || raw.metadata.deletionTimestamp) return
        if (fault.kind === "transient") return yield* events.record(raw, "Warning", EventReason.Retrying, fault.message)
        // Once: the status says ERROR with this message, and one Event says why, until either changes.
        const unchanged = raw.status?.statusText === "ERROR" && (!statusFields.has("message") || raw.status?.message === fault.message)
        if (unchanged) return
        yield* writeBindingStatus(env, raw, "ERROR", { message: fault.message })
        yield* events.record(raw, "Warning", fault.reason, fault.message)
      }).pipe(Effect.catchAll((e) => Effect.logWarning(`could not report the failure on ${key}: ${e.message}`)))

    const process = (key: string) =>
      Effect.gen(function* () {
        const started = performance.now()
        const result = yield* Effect.either(reconcile(env, key))
        const seconds = (performance.now() - started) / 1000
        metrics.reconcileTime.observe({ controller: CONTROLLER }, seconds)
        metrics.queueDepth.set({ name: CONTROLLER }, queue.depth())
        const durationMs = Math.round(seconds * 1000 * 10) / 10
        if (Either.isRight(result)) {
          const outcome = result.right
          queue.forget(key)
          // Only a reconcile that reached the database and the API server says the installation works again.
          if (outcome.result !== "skipped" && outcome.result !== "invalid") health.clear()
          if (outcome.requeueAfter) queue.addAfter(key, outcome.requeueAfter)
          if (outcome.released && outcome.released.length > 0) wakeWaiters(outcome.released, key)
          metrics.reconcileTotal.inc({ controller: CONTROLLER, result: outcome.requeueAfter ? "requeue_after" : "success" })
          metrics.kubeWrites.inc({ controller: CONTROLLER }, outcome.writes)
          yield* Effect.logInfo("reconciled").pipe(
            Effect.annotateLogs({ key, result: outcome.result, writes: outcome.writes, durationMs }),
          )
        } else {
          const error = result.left
          const fault = classifyFailure(error)
          const retryAfter =
            error._tag === "KubeTransient" && Option.isSome(error.retryAfter) ? error.retryAfter.value : undefined
          const retryIn = queue.addRateLimited(key, retryAfter)
          const retryInMs = Math.round(Duration.toMillis(retryIn))
          if (fault.kind === "race") {
            // Someone else wrote first, or the object went while we worked on it: look again, nothing failed.
            metrics.reconcileTotal.inc({ controller: CONTROLLER, result: "requeue" })
            yield* Effect.logInfo("reconcile superseded").pipe(
              Effect.annotateLogs({ key, result: "requeue", message: fault.message, retryInMs, durationMs }),
            )
            return
          }
          metrics.reconcileTotal.inc({ controller: CONTROLLER, result: "error" })
          metrics.reconcileErrors.inc({ controller: CONTROLLER, error: error._tag })
          metrics.queueRetries.inc({ name: CONTROLLER })
          if (fault.kind === "installation") {
            const now = yield* Clock.currentTimeMillis
            const annotations = { key, error: error._tag, retryInMs, durationMs }
            if (health.report(fault, key, now)) {
              // ERROR: a person must act. Once a minute, not once per binding.
              yield* Effect.logError(`${fault.problem} — remedy: ${fault.remedy}`).pipe(
                Effect.annotateLogs({ ...annotations, bindingsWaiting: health.affected() }),
              )
            } else {
              yield* Effect.logDebug("reconcile failed").pipe(Effect.annotateLogs(annotations))
            }
            return
          }
          yield* Effect.logWarning("reconcile failed").pipe(
            Effect.annotateLogs({
              key,
              error: error._tag,
              ...(fault.kind === "binding" ? { reason: fault.reason } : {}),
              message: fault.message,
              retryInMs,
              durationMs,
            }),
          )
          yield* reportOnBinding(key, fault)
        }
      })

    // Workers start only once every cache is full: a key reconciled against a
    // half-listed cache could take a missing binding for a deleted one.
    // Meanwhile a cache that cannot fill because of the installation (no CRD, RBAC forbidding the LIST) says so.
    const notSynced = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      for (const informer of informers) {
        const failure = informer.hasSynced() ? undefined : informer.stats.lastFailure
        const fault = failure && classifyFailure(failure)
        if (fault?.kind !== "installation") continue
        if (health.report(fault, `cache of ${informer.resource.id}`, now)) {
          yield* Effect.logError(`${fault.problem} — remedy: ${fault.remedy}`)
        }
      }
    })
    const watcher = yield* Effect.forkScoped(Effect.repeat(notSynced, Schedule.spaced(Duration.millis(500))))
    yield* Effect.forEach(informers, (i) => i.synced, { discard: true })
    yield* Fiber.interrupt(watcher)
    health.clear()
    let isReady = false
    yield* queue.run(settings.concurrency, process)
    isReady = true
    serving = true
    yield* Effect.logInfo(
      `controller ready: ${bindingInformers.reduce((n, i) => n + i.list().length, 0)} bindings, ${settings.concurrency} workers`,
    )

    if (settings.idle && cullerEnabled(settings.idle)) {
      yield* makeIdleCuller({
        kube,
        db,
        settings: settings.idle,
        namespace: settings.workload.namespace,
        bindings: () => bindingInformers.flatMap((i) => i.list()),
        observeBinding: bindings.observe,
        deployments,
        statusFields,
        events,
        browser,
        metrics,
      }).run
    }

    const resync = () => {
      env.applied.clear()
      for (const informer of bindingInformers) {
        for (const object of informer.list()) queue.add(bindingKey(object))
      }
    }
    yield* Effect.forkScoped(
      Effect.sleep(settings.resyncInterval).pipe(
        Effect.zipRight(Effect.sync(resync)),
        Effect.repeat(Schedule.forever),
      ),
    )
    // The verification: every binding's Guacamole rows are read again (one read each when
    // they are right; the Kubernetes side is compared with the caches and writes nothing),
    // so a row changed behind the operator's back is put right within one interval.
    if (settings.verifyInterval) {
      yield* Effect.forkScoped(
        Effect.sleep(settings.verifyInterval).pipe(
          Effect.zipRight(Effect.sync(resync)),
          Effect.repeat(Schedule.forever),
        ),
      )
    }

    // Keep the gauges current, and count watch restarts from the informers' statistics.
    const seenRestarts = new Map<Informer, { idle: number; gone: number; error: number }>()
    const countRestarts = () => {
      for (const informer of informers) {
        const seen = seenRestarts.get(informer) ?? { idle: 0, gone: 0, error: 0 }
        const now = { idle: informer.stats.idleRestarts, gone: informer.stats.gone, error: informer.stats.failures }
        for (const cause of ["idle", "gone", "error"] as const) {
          const delta = now[cause] - seen[cause]
          const resource = informer.namespace ? `${informer.resource.id} in ${informer.namespace}` : informer.resource.id
          if (delta > 0) metrics.watchRestarts.inc({ resource, cause }, delta)
        }
        seenRestarts.set(informer, now)
      }
    }
    metrics.onScrape.push(() => {
      countRestarts()
      const counts = new Map<string, number>()
      for (const informer of bindingInformers) {
        for (const o of informer.list()) {
          const status = String(o.status?.statusText ?? "PROVISIONING")
          counts.set(status, (counts.get(status) ?? 0) + 1)
        }
      }
      metrics.bindings.reset()
      for (const [status, n] of counts) metrics.bindings.set({ status }, n)
      metrics.queueDepth.set({ name: CONTROLLER }, queue.depth())
    })

    return {
      ready: () => isReady,
      idle: () => queue.depth() === 0 && queue.active() === 0,
      informers,
      resync,
      installationProblem: health.current,
    } satisfies Controller
  })
