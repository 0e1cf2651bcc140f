/**
 * The reflector: keeps the cache of one resource type (optionally one
 * namespace and a label selector, ./store.ts) by one LIST and then WATCHes
 * that resume from the last resourceVersion seen.
 *
 * - the first LIST asks for resourceVersion 0, as client-go's reflector does:
 *   the API server answers from its watch cache, in one response, rather
 *   than reading etcd page by page (a restart over 10,000 bindings lists
 *   four caches of 10,000 objects). That cache may be a moment behind; the
 *   watch resumes from the version the list answered with, so what it
 *   lacked follows as events. A LIST after 410 Gone must not go back in
 *   time, so it is a consistent one;
 * - bookmarks are requested, and they advance the resume point;
 * - the server is asked to end each watch (timeoutSeconds) and a watch that
 *   goes silent past the idle bound is abandoned and resumed — managed
 *   clusters' load balancers are known to keep dead watches open;
 * - 410 Gone (history compacted) leads to a fresh LIST whose differences
 *   with the cache are delivered as ADDED/MODIFIED/DELETED;
 * - any other failure is retried with capped exponential backoff and jitter.
 */
import { Deferred, Duration, Effect, Runtime, Schedule, type Scope } from "effect"
import { KubeClient, type KubeObject } from "./client.ts"
import type { KubeError } from "./errors.ts"
import type { ResourceType } from "./resources.ts"
import { makeWriter, type ChangeHandler, type ChangeType, type Indexers, type Store, type Writer } from "./store.ts"

export type { ChangeHandler, ChangeType }

export interface InformerOptions {
  readonly namespace?: string
  readonly labelSelector?: string
  readonly watchTimeoutSeconds: number
  readonly idleTimeout: Duration.Duration
  /** Page size of the LIST. */
  readonly pageSize?: number
}

export interface InformerStats {
  lists: number
  watches: number
  idleRestarts: number
  gone: number
  failures: number
  /** The failure of the last LIST or WATCH, until one succeeds. */
  lastFailure: KubeError | undefined
}

/** A store kept current by list and watch. */
export interface Informer extends Store {
  /** The runtime's half: its own client records its writes here. */
  readonly writer: Writer
  /** Completes once the first LIST is in the cache. */
  readonly synced: Effect.Effect<void>
  readonly hasSynced: () => boolean
  readonly stats: Readonly<InformerStats>
}

const retryDelay = Schedule.exponential(Duration.millis(250), 2).pipe(
  Schedule.jittered,
  Schedule.map((d) => Duration.min(d, Duration.seconds(30))),
)

export const makeInformer = (
  resource: ResourceType,
  options: InformerOptions,
  onChange: ChangeHandler,
  indexers: Indexers = {},
): Effect.Effect<Informer, never, KubeClient | Scope.Scope> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const synced = yield* Deferred.make<void>()
    const stats: InformerStats = { lists: 0, watches: 0, idleRestarts: 0, gone: 0, failures: 0, lastFailure: undefined }
    let resourceVersion: string | undefined
    let isSynced = false
    const label = options.namespace ? `${resource.id} in ${options.namespace}` : resource.id

    // Handlers run synchronously inside the watch callback; a throwing one is logged
    // with the operator's own logger (this runtime) and does not stop the informer.
    const runtime = yield* Effect.runtime<never>()
    const deliver = (type: ChangeType, object: KubeObject, previous: KubeObject | undefined) => {
      try {
        onChange(type, object, previous)
      } catch (error) {
        Runtime.runFork(runtime)(Effect.logError(`change handler of ${label} failed`, error))
      }
    }
    const writer = makeWriter({ resource, namespace: options.namespace, labelSelector: options.labelSelector }, deliver, indexers)

    const relist = Effect.gen(function* () {
      const fresh: KubeObject[] = []
      let token: string | undefined
      let listVersion = ""
      do {
        const page = yield* kube.list(resource, {
          ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
          ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
          limit: options.pageSize ?? 500,
          // Once synced, a list follows a 410 Gone: no older than the cache, so a consistent read.
          ...(token ? { continue: token } : isSynced ? {} : { resourceVersion: "0" }),
        })
        fresh.push(...page.items)
        token = page.continue
        listVersion = page.resourceVersion
      } while (token)
      stats.lists++
      writer.replace(fresh)
      yield* Effect.logDebug(`listed ${label}: ${fresh.length} objects at resourceVersion ${listVersion}`)
      resourceVersion = listVersion
      isSynced = true
      yield* Deferred.succeed(synced, undefined)
    })

    const watchOnce = Effect.gen(function* () {
      stats.watches++
      const started = Date.now()
      let received = 0
      const end = yield* kube.watch(
        resource,
        {
          ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
          ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
          resourceVersion: resourceVersion!,
          timeoutSeconds: options.watchTimeoutSeconds,
          idleTimeoutMs: Duration.toMillis(options.idleTimeout),
        },
        (type, object) => {
          received++
          const version = object?.metadata?.resourceVersion
          if (type === "BOOKMARK") {
            if (version) resourceVersion = version
            return
          }
          writer.apply(type, object)
          if (version) resourceVersion = version
        },
      )
      if (end === "idle") {
        stats.idleRestarts++
        yield* Effect.logWarning(`watch of ${label} went silent; resuming from resourceVersion ${resourceVersion}`)
      }
      // A watch the server ends at once, with nothing sent, must not turn into a hot loop.
      if (received === 0 && Date.now() - started < 1000) yield* Effect.sleep(Duration.seconds(1))
    })

    const step = Effect.suspend(() => (resourceVersion === undefined ? relist : watchOnce)).pipe(
      Effect.catchTag("KubeGone", () =>
        Effect.sync(() => {
          stats.gone++
          resourceVersion = undefined
        }).pipe(Effect.zipRight(Effect.logInfo(`watch of ${label}: history expired (410 Gone); listing again`))),
      ),
    )

    // Failures other than 410 are retried with backoff; a success resets the backoff.
    const loop = step.pipe(
      Effect.tap(() => void (stats.lastFailure = undefined)),
      Effect.tapError((error) =>
        Effect.sync(() => {
          stats.failures++
          stats.lastFailure = error
        }).pipe(
          Effect.zipRight(Effect.logWarning(`list/watch of ${label} failed: ${error.message}`)),
        ),
      ),
      Effect.retry(retryDelay),
      Effect.forever,
    )
    yield* Effect.forkScoped(loop.pipe(Effect.annotateLogs({ informer: label })))

    return {
      ...writer.store,
      writer,
      synced: Deferred.await(synced),
      hasSynced: () => isSynced,
      stats,
    } satisfies Informer
  })
