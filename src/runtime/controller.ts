/**
 * The controller: caches of a parent kind and of the children it owns feed
 * parent keys ("namespace/name") into the work queue; workers reconcile them;
 * a failure goes to the error policy and the key is retried with backoff;
 * every parent is queued again on each resync interval.
 *
 *   parents (each watched namespace) ──────────────┐
 *   children (namespace, label selector) ─ map ────┼─▶ keys ─▶ queue ─▶ reconcile(key) ─▶ Action
 *                                                   │                 └▶ errorPolicy(key, error)
 *   resync intervals ──────────────────────────────┘
 *
 * As kube-rs's `Controller::new(parents).owns(children).run(reconcile,
 * error_policy)`: `makeController` builds the caches and the write-through
 * client (./cached-client.ts), `run` waits for every cache to fill and
 * starts the workers. Only changes that are news reach the queue: not the
 * echo of the operator's own writes, and for each kind only what its
 * `changed` predicate says matters.
 */
import { Duration, Effect, Either, Fiber, Option, Schedule, type Scope } from "effect"
import { CONTROLLER, type Metrics } from "../http/metrics.ts"
import { countWrites, writeThrough } from "./cached-client.ts"
import { KubeClient, type KubeClientService, type KubeObject } from "./client.ts"
import type { KubeError } from "./errors.ts"
import { makeWorkQueue } from "./queue.ts"
import { makeInformer, type Informer } from "./reflector.ts"
import type { ResourceType } from "./resources.ts"
import { keyOf, type ChangeHandler, type Indexers, type Store } from "./store.ts"

/** What a reconcile that went through asks for. */
export interface Action {
  /** Said in the log line of the reconcile. */
  readonly result: string
  /** Look at this key again after this long. */
  readonly requeueAfter?: Duration.Duration
  /** Other keys to look at now (parents waiting for something this one gave up). */
  readonly wake?: ReadonlyArray<string>
}

export interface ParentSpec {
  readonly resource: ResourceType
  /** Empty: every namespace, one cache; otherwise one cache each. */
  readonly namespaces: ReadonlyArray<string>
  readonly indexers?: Indexers
  /** Whether a change reaches the queue (default: every change). */
  readonly changed?: (previous: KubeObject, next: KubeObject) => boolean
  /** Sees every change first (for bookkeeping of the caller's own). */
  readonly onChange?: ChangeHandler
}

export interface ChildSpec {
  readonly resource: ResourceType
  readonly namespace: string
  readonly labelSelector?: string
  /** The keys of the parents a child belongs to. */
  readonly map: (child: KubeObject, parents: Store) => ReadonlyArray<string>
  /** Whether a change reaches the queue (default: every change). */
  readonly changed?: (previous: KubeObject, next: KubeObject) => boolean
  /** Indexes of the children's cache (a parent's children found without a scan). */
  readonly indexers?: Indexers
}

export interface ControllerSpec {
  readonly for: ParentSpec
  readonly owns: ReadonlyArray<ChildSpec>
  readonly concurrency: number
  readonly watchTimeoutSeconds: number
  readonly watchIdleTimeout: Duration.Duration
  readonly metrics: Metrics
}

export interface ErrorPolicy<E, R> {
  /** Whether the failure is a race, only looked at again, or an error (for the metrics). */
  readonly handle: (key: string, error: E, retryIn: Duration.Duration) => Effect.Effect<"requeue" | "error", never, R>
  /** A wait the server asked for (Retry-After): the retry comes no sooner. */
  readonly retryAfter?: (error: E) => Duration.Duration | undefined
}

export interface RunOptions<R> {
  /** Repeated while the caches fill (every 500 ms): say why one cannot. */
  readonly whileSyncing?: (informers: ReadonlyArray<Informer>) => Effect.Effect<void, never, R>
  /** Run once every cache has filled, before the workers start (the parents are queued by then). */
  readonly synced?: Effect.Effect<void, never, R>
  /** Queue every parent on each of these intervals, running `onResync` first. */
  readonly resync?: ReadonlyArray<Duration.Duration>
  readonly onResync?: Effect.Effect<void, never, R>
  /** Work the controller waits for beyond its queue (Events on their way): `idle` is false meanwhile. */
  readonly busy?: () => boolean
}

export interface Controller {
  /** The parents, over every watched namespace. */
  readonly parents: Store
  readonly children: ReadonlyArray<Store>
  readonly informers: ReadonlyArray<Informer>
  /** Reads as the given client; writes also update the caches and are counted per reconcile. */
  readonly client: KubeClientService
  readonly add: (key: string) => void
  readonly run: <E, R>(
    reconcile: (key: string) => Effect.Effect<Action, E, R>,
    errorPolicy: ErrorPolicy<E, R>,
    options?: RunOptions<R>,
  ) => Effect.Effect<void, never, R | Scope.Scope>
  /** Every cache has listed once and the workers run. */
  readonly ready: () => boolean
  /** No key waits and none is being processed (scheduled retries aside). */
  readonly idle: () => boolean
  /** Queues every parent (as a resync does). */
  readonly resync: () => void
  readonly depth: () => number
}

/** A store over several (one per namespace), read as one. */
const unionStore = (resource: ResourceType, stores: ReadonlyArray<Store>, forNamespace: (ns: string | undefined) => Store | undefined): Store => ({
  resource,
  namespace: undefined,
  labelSelector: undefined,
  get: (namespace, name) => forNamespace(namespace)?.get(namespace, name),
  list: () => stores.flatMap((s) => s.list()),
  byIndex: (index, value) => stores.flatMap((s) => s.byIndex(index, value)),
})

export const makeController = (spec: ControllerSpec): Effect.Effect<Controller, never, KubeClient | Scope.Scope> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const queue = yield* makeWorkQueue()
    const { metrics } = spec
    const informerOptions = { watchTimeoutSeconds: spec.watchTimeoutSeconds, idleTimeout: spec.watchIdleTimeout }
    let parents: Store | undefined

    const onParent: ChangeHandler = (type, object, previous) => {
      spec.for.onChange?.(type, object, previous)
      if (type === "MODIFIED" && previous && spec.for.changed && !spec.for.changed(previous, object)) return
      queue.add(keyOf(object.metadata.namespace, object.metadata.name))
    }
    const parentInformers =
      spec.for.namespaces.length === 0
        ? [yield* makeInformer(spec.for.resource, informerOptions, onParent, spec.for.indexers)]
        : yield* Effect.forEach(spec.for.namespaces, (namespace) =>
            makeInformer(spec.for.resource, { ...informerOptions, namespace }, onParent, spec.for.indexers),
          )
    const parentFor = (namespace: string | undefined) =>
      spec.for.namespaces.length === 0 ? parentInformers[0] : parentInformers[spec.for.namespaces.indexOf(namespace ?? "")]
    parents = unionStore(spec.for.resource, parentInformers, parentFor)

    const childInformers = yield* Effect.forEach(spec.owns, (child) =>
      makeInformer(
        child.resource,
        { ...informerOptions, namespace: child.namespace, ...(child.labelSelector ? { labelSelector: child.labelSelector } : {}) },
        (type, object, previous) => {
          if (type === "MODIFIED" && previous && child.changed && !child.changed(previous, object)) return
          for (const key of child.map(object, parents!)) queue.add(key)
        },
        child.indexers,
      ),
    )
    const informers = [...parentInformers, ...childInformers]

    const client = writeThrough(kube, (rt, namespace) => {
      if (rt === spec.for.resource) return parentFor(namespace)?.writer
      const i = spec.owns.findIndex((c) => c.resource === rt && c.namespace === namespace)
      return i < 0 ? undefined : childInformers[i]!.writer
    })

    let isReady = false
    let busy = () => false
    const resync = () => {
      for (const object of parents!.list()) queue.add(keyOf(object.metadata.namespace, object.metadata.name))
    }

    const run: Controller["run"] = <E, R>(
      reconcile: (key: string) => Effect.Effect<Action, E, R>,
      errorPolicy: ErrorPolicy<E, R>,
      options: RunOptions<R> = {},
    ) =>
      Effect.gen(function* () {
        if (options.busy) busy = options.busy
        const process = (key: string) =>
          Effect.gen(function* () {
            const started = performance.now()
            const result = yield* Effect.either(countWrites(reconcile(key)))
            const seconds = (performance.now() - started) / 1000
            metrics.reconcileTime.observe({ controller: CONTROLLER }, seconds)
            metrics.queueDepth.set({ name: CONTROLLER }, queue.depth())
            const durationMs = Math.round(seconds * 1000 * 10) / 10
            if (Either.isRight(result)) {
              const [action, writes] = result.right
              queue.forget(key)
              if (action.requeueAfter) queue.addAfter(key, action.requeueAfter)
              for (const other of action.wake ?? []) if (other !== key) queue.add(other)
              metrics.reconcileTotal.inc({ controller: CONTROLLER, result: action.requeueAfter ? "requeue_after" : "success" })
              metrics.kubeWrites.inc({ controller: CONTROLLER }, writes)
              // A reconcile that wrote nothing (a resync's or a restart's look at a converged object) is
              // not news: at 10,000 objects it would be 10,000 lines every interval.
              yield* (writes > 0 ? Effect.logInfo : Effect.logDebug)("reconciled").pipe(
                Effect.annotateLogs({ key, result: action.result, writes, durationMs }),
              )
              return
            }
            const error = result.left
            const retryIn = queue.addRateLimited(key, errorPolicy.retryAfter?.(error))
            const kind = yield* errorPolicy.handle(key, error, retryIn).pipe(Effect.annotateLogs({ durationMs }))
            metrics.reconcileTotal.inc({ controller: CONTROLLER, result: kind === "requeue" ? "requeue" : "error" })
            if (kind === "error") {
              metrics.reconcileErrors.inc({ controller: CONTROLLER, error: String((error as { _tag?: unknown })?._tag ?? "Error") })
              metrics.queueRetries.inc({ name: CONTROLLER })
            }
          })

        // Workers start only once every cache is full: a key reconciled against a
        // half-listed cache could take a missing parent for a deleted one.
        if (options.whileSyncing) {
          const watcher = yield* Effect.forkScoped(
            Effect.repeat(options.whileSyncing(informers), Schedule.spaced(Duration.millis(500))),
          )
          yield* Effect.forEach(informers, (i) => i.synced, { discard: true })
          yield* Fiber.interrupt(watcher)
        } else {
          yield* Effect.forEach(informers, (i) => i.synced, { discard: true })
        }
        if (options.synced) yield* options.synced
        const context = yield* Effect.context<R>()
        yield* queue.run(spec.concurrency, (key) => Effect.provide(process(key), context))
        isReady = true
        for (const interval of options.resync ?? []) {
          yield* Effect.forkScoped(
            Effect.sleep(interval).pipe(
              Effect.zipRight(options.onResync ?? Effect.void),
              Effect.zipRight(Effect.sync(resync)),
              Effect.repeat(Schedule.forever),
            ),
          )
        }
        yield* Effect.logInfo(`controller ready: ${parents!.list().length} ${spec.for.resource.plural}, ${spec.concurrency} workers`)
      })

    // Watch restarts, counted from the reflectors' statistics when metrics are scraped.
    const seenRestarts = new Map<Informer, { idle: number; gone: number; error: number }>()
    metrics.onScrape.push(() => {
      for (const informer of informers) {
        const seen = seenRestarts.get(informer) ?? { idle: 0, gone: 0, error: 0 }
        const now = { idle: informer.stats.idleRestarts, gone: informer.stats.gone, error: informer.stats.failures }
        const resource = informer.namespace ? `${informer.resource.id} in ${informer.namespace}` : informer.resource.id
        for (const cause of ["idle", "gone", "error"] as const) {
          const delta = now[cause] - seen[cause]
          if (delta > 0) metrics.watchRestarts.inc({ resource, cause }, delta)
        }
        seenRestarts.set(informer, now)
      }
      metrics.queueDepth.set({ name: CONTROLLER }, queue.depth())
    })

    return {
      parents,
      children: childInformers,
      informers,
      client,
      add: queue.add,
      run,
      ready: () => isReady,
      idle: () => queue.depth() === 0 && queue.active() === 0 && !busy(),
      resync,
      depth: queue.depth,
    } satisfies Controller
  })

/** The wait a KubeTransient failure asks for (Retry-After), for an error policy. */
export const retryAfterOf = (error: { readonly _tag: string }): Duration.Duration | undefined => {
  const e = error as KubeError
  return e._tag === "KubeTransient" && Option.isSome(e.retryAfter) ? e.retryAfter.value : undefined
}
