/**
 * The binding controller, built on the runtime's (src/runtime/controller.ts):
 * for AnalyticsWorkspaceBindings, owning the browser Deployments, Services
 * and Secrets, reconciled by ./reconcile.ts with ./classify.ts's error
 * policy; every binding looked at again each resync and verification
 * interval; the idle culler beside it.
 *
 *   bindings (every watched namespace) ──┐
 *   Deployments / Services / Secrets  ───┼─▶ keys ─▶ work queue ─▶ reconcile
 *   (NAMESPACE, purpose label)        ───┘
 */
import { randomFillSync } from "node:crypto"
import { Clock, Context, Duration, Effect, type Scope } from "effect"
import type { IdleSettings } from "../config.ts"
import { bindingKey } from "../domain/binding.ts"
import { DEPLOYMENT_NAME_LABEL, ownerBindingKey, PURPOSE, PURPOSE_LABEL, type WorkloadSettings } from "../domain/desired.ts"
import { GuacamoleDb, holderValue } from "../guacamole/db.ts"
import type { Metrics } from "../http/metrics.ts"
import { KubeClient, type KubeObject } from "../runtime/client.ts"
import { makeController } from "../runtime/controller.ts"
import { inBackground, makeEventRecorder } from "../runtime/events.ts"
import type { Informer } from "../runtime/reflector.ts"
import { Bindings, Deployments, Secrets, Services } from "../runtime/resources.ts"
import { cachedDesiredAccess, deploymentNameOf, identityOf, makeAppliedAccess } from "./access.ts"
import { makeBrowserLifecycle } from "./browser.ts"
import { classifyFailure, errorPolicy, makeInstallationHealth, reportInstallation, type InstallationHealth } from "./classify.ts"
import { Applied, Browsers, Caches, Installation, ReconcilerSettings, Recorder } from "./deps.ts"
import { cullerEnabled, makeIdleCuller } from "./idle.ts"
import { OWNER_INDEX } from "./children.ts"
import { DEPLOYMENT_INDEX, IDENTITY_INDEX, reconcile } from "./reconcile.ts"
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
  /** All caches have listed once and the workers run. */
  readonly ready: () => boolean
  /** No key waits, none is being processed and no Event is on its way (scheduled retries aside). */
  readonly idle: () => boolean
  readonly informers: ReadonlyArray<Informer>
  /** Queues every known binding, its Guacamole rows to be read again (as the periodic resync does). */
  readonly resync: () => void
  /** A problem of the installation (not of any one binding) that stops reconciles, with its remedy. */
  readonly installationProblem: () => string | undefined
}

const cryptoRandomBytes = (n: number): Uint8Array => randomFillSync(new Uint8Array(n))

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null)

/** A binding change that matters: not our own status writes, which come back with the same generation. */
const bindingChanged = (previous: KubeObject, next: KubeObject): boolean =>
  previous.metadata.generation !== next.metadata.generation ||
  previous.metadata.deletionTimestamp !== next.metadata.deletionTimestamp ||
  !same(previous.metadata.finalizers ?? [], next.metadata.finalizers ?? []) ||
  !same(previous.metadata.annotations ?? {}, next.metadata.annotations ?? {})

/** Annotations the deployment controller keeps on a Deployment (its revision): none of the binding's business. */
const ownAnnotations = (o: KubeObject) =>
  Object.fromEntries(Object.entries(o.metadata.annotations ?? {}).filter(([k]) => !k.startsWith("deployment.kubernetes.io/")))

/**
 * A Deployment change the binding must see: its spec or metadata changed (someone edited it), or
 * what the binding's status shows (replicas, ready replicas) or the browser's readiness depends on.
 */
const deploymentChanged = (previous: KubeObject, next: KubeObject): boolean =>
  previous.metadata.generation !== next.metadata.generation ||
  previous.metadata.deletionTimestamp !== next.metadata.deletionTimestamp ||
  !same(previous.metadata.labels, next.metadata.labels) ||
  !same(ownAnnotations(previous), ownAnnotations(next)) ||
  !same(previous.metadata.ownerReferences, next.metadata.ownerReferences) ||
  previous.status?.replicas !== next.status?.replicas ||
  previous.status?.readyReplicas !== next.status?.readyReplicas ||
  (Number(next.status?.readyReplicas ?? 0) >= 1 && previous.status?.observedGeneration !== next.status?.observedGeneration)

export const startController = (
  settings: ControllerSettings,
  options: ControllerOptions,
): Effect.Effect<Controller, never, KubeClient | GuacamoleDb | Scope.Scope> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const db = yield* GuacamoleDb
    const { metrics } = options
    const statusFields = options.statusFields ?? (yield* discoverStatusFields(kube))
    const watched = new Set(settings.watchNamespaces)
    const recorder = yield* inBackground(
      makeEventRecorder(kube, { component: settings.workload.operatorName, instance: settings.instance, kind: Bindings }),
    )
    const browser = makeBrowserLifecycle(metrics, recorder)
    const applied = makeAppliedAccess()
    const health = options.installation ?? makeInstallationHealth()

    // Bindings listed at start-up were scaled before this process could see it: only later changes are timed.
    let serving = false
    const wantedReplicas = (o: KubeObject | undefined) => Number(o?.spec?.replicas ?? 0)
    const one = (value: string | undefined) => (value === undefined ? [] : [value])

    const controller = yield* makeController({
      for: {
        resource: Bindings,
        namespaces: settings.watchNamespaces,
        indexers: { [IDENTITY_INDEX]: (o) => one(identityOf(o)), [DEPLOYMENT_INDEX]: (o) => one(deploymentNameOf(o)) },
        changed: bindingChanged,
        onChange: (type, object, previous) => {
          const key = bindingKey(object)
          if (type === "DELETED" || wantedReplicas(object) <= 0) browser.scaleDownSeen(key)
          else if (serving && wantedReplicas(previous) <= 0) browser.scaleUpSeen(key)
        },
      },
      owns: [Deployments, Services, Secrets].map((resource) => ({
        resource,
        namespace: settings.workload.namespace,
        labelSelector: `${PURPOSE_LABEL}=${PURPOSE}`,
        // Objects of the original operator carry no binding annotation: found by their Deployment's name.
        map: (child, bindings) => {
          const owner = ownerBindingKey(child)
          if (owner) return [owner]
          const name = child.metadata.labels?.[DEPLOYMENT_NAME_LABEL]
          return name ? bindings.byIndex(DEPLOYMENT_INDEX, name).map(bindingKey) : []
        },
        indexers: { [OWNER_INDEX]: (o) => one(ownerBindingKey(o)) },
        ...(resource === Deployments ? { changed: deploymentChanged } : {}),
      })),
      concurrency: settings.concurrency,
      watchTimeoutSeconds: settings.watchTimeoutSeconds,
      watchIdleTimeout: settings.watchIdleTimeout,
      metrics,
    })
    const [deployments, services, secrets] = controller.children as [Informer, Informer, Informer]

    const context = Context.empty().pipe(
      Context.add(KubeClient, controller.client),
      Context.add(GuacamoleDb, db),
      Context.add(Caches, { bindings: controller.parents, deployments, services, secrets }),
      Context.add(ReconcilerSettings, {
        workload: settings.workload,
        statusFields,
        randomBytes: options.randomBytes ?? cryptoRandomBytes,
        watches: (namespace: string) => watched.size === 0 || watched.has(namespace),
      }),
      Context.add(Recorder, recorder),
      Context.add(Applied, applied),
      Context.add(Browsers, browser),
      Context.add(Installation, health),
    )

    /**
     * One batched read of every cached binding's rows (one statement per 5,000 bindings): the
     * applied state becomes exactly the bindings found right. When it fails, the applied state is
     * emptied and each binding reads its own rows at its reconcile, as without it.
     */
    const readBack = Effect.gen(function* () {
      const started = performance.now()
      const now = new Date(yield* Clock.currentTimeMillis)
      const entries = controller.parents.list().flatMap((raw) => {
        const access = cachedDesiredAccess(raw, secrets, settings.workload.namespace, now)
        return access ? [{ key: bindingKey(raw), access }] : []
      })
      const converged = entries.length === 0 ? new Set<string>() : yield* db.converged(entries.map((e) => e.access))
      applied.clear()
      applied.markApplied(entries.filter((e) => converged.has(holderValue(e.access.holder))))
      yield* Effect.logDebug("read back the bindings' Guacamole rows").pipe(
        Effect.annotateLogs({
          bindings: controller.parents.list().length,
          converged: converged.size,
          durationMs: Math.round(performance.now() - started),
        }),
      )
    }).pipe(
      Effect.catchAll((error) =>
        Effect.sync(() => applied.clear()).pipe(
          Effect.zipRight(
            Effect.logWarning(`could not read back the bindings' Guacamole rows at once; each binding reads its own: ${error.message}`),
          ),
        ),
      ),
    )

    yield* controller.run(
      (key) =>
        reconcile(key).pipe(
          // Only a reconcile that reached the database and the API server says the installation works again.
          Effect.tap((action) => void (action.result !== "skipped" && action.result !== "invalid" && health.clear())),
          Effect.provide(context),
        ),
      { ...errorPolicy, handle: (key, error, retryIn) => Effect.provide(errorPolicy.handle(key, error, retryIn), context) },
      {
        // A cache that cannot fill because of the installation (no CRD, RBAC forbidding the LIST) says so.
        whileSyncing: (informers) =>
          Effect.forEach(
            informers,
            (informer) => {
              const failure = informer.hasSynced() ? undefined : informer.stats.lastFailure
              const fault = failure && classifyFailure(failure)
              return fault?.kind === "installation"
                ? Effect.provide(reportInstallation(fault, `cache of ${informer.resource.id}`), context)
                : Effect.void
            },
            { discard: true },
          ),
        // At start-up and on every resync and verification interval, every binding's Guacamole rows
        // are read back at once; those found right cost their reconcile no SQL (the Kubernetes side is
        // compared with the caches and writes nothing), the others are put right one by one, so a row
        // changed behind the operator's back is repaired within one interval.
        synced: Effect.sync(() => health.clear()).pipe(Effect.zipRight(readBack)),
        resync: [settings.resyncInterval, ...(settings.verifyInterval ? [settings.verifyInterval] : [])],
        onResync: readBack,
        busy: () => recorder.pending() > 0,
      },
    )
    serving = true

    if (settings.idle && cullerEnabled(settings.idle)) {
      yield* makeIdleCuller({
        kube: controller.client,
        db,
        settings: settings.idle,
        namespace: settings.workload.namespace,
        bindings: controller.parents.list,
        deployments,
        statusFields,
        events: recorder,
        browser,
        metrics,
      }).run
    }

    metrics.onScrape.push(() => {
      const counts = new Map<string, number>()
      for (const o of controller.parents.list()) {
        const status = String(o.status?.statusText ?? "PROVISIONING")
        counts.set(status, (counts.get(status) ?? 0) + 1)
      }
      metrics.bindings.reset()
      for (const [status, n] of counts) metrics.bindings.set({ status }, n)
    })

    return {
      ready: controller.ready,
      idle: controller.idle,
      informers: controller.informers,
      resync: () => {
        applied.clear()
        controller.resync()
      },
      installationProblem: health.current,
    } satisfies Controller
  })
