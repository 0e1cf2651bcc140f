/**
 * KubeClient: the operator's only door to the Kubernetes API.
 *
 * A small REST client over one request path (./transport.ts): wire JSON in
 * and out, typed errors, and every call abortable — an interrupted Effect
 * aborts its HTTP request. client-node supplies the kubeconfig (loading,
 * merging, in-cluster, authenticators); its typed API classes are not used:
 * their models rename wire fields and cost a conversion each way.
 */
import * as k8s from "@kubernetes/client-node"
import { Context, Duration, Effect, Layer } from "effect"
import { fromStatus, fromUnknown, KubeGone, noAnswer, type KubeError } from "./errors.ts"
import { collectionPath, type ResourceType } from "./resources.ts"
import { makeTransport, type KubeTransport, type TransportRequest } from "./transport.ts"

export type KubeObject = {
  apiVersion?: string
  kind?: string
  metadata: {
    name: string
    namespace?: string
    uid?: string
    resourceVersion?: string
    generation?: number
    labels?: Record<string, string>
    annotations?: Record<string, string>
    finalizers?: string[]
    deletionTimestamp?: string
    [key: string]: unknown
  }
  [key: string]: any
}

export interface KubeList {
  readonly items: ReadonlyArray<KubeObject>
  readonly resourceVersion: string
  readonly continue: string | undefined
}

export interface ListOptions {
  readonly namespace?: string
  readonly labelSelector?: string
  readonly limit?: number
  readonly continue?: string
  /**
   * Unset: the latest state (a consistent read, through etcd). "0": any state the server has,
   * served from its watch cache (which kube-apiserver 1.34 does in one answer, `limit` ignored).
   */
  readonly resourceVersion?: string
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"

export interface WatchOptions {
  readonly namespace?: string
  readonly labelSelector?: string
  readonly resourceVersion: string
  /** Asks the server to end the watch after this long. */
  readonly timeoutSeconds: number
  /** Ends the watch when nothing at all (not even a bookmark) arrives for this long. */
  readonly idleTimeoutMs: number
}

/** How a watch ended without error: the server closed it, or it went silent and was abandoned. */
export type WatchEnd = "closed" | "idle"

export type Patch =
  | { readonly type: "merge"; readonly body: object }
  | { readonly type: "json"; readonly body: ReadonlyArray<object> }

export interface CreateOptions {
  /** Validate and admit, store nothing (dryRun=All). */
  readonly dryRun?: boolean
}

export interface DeleteOptions {
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string }
}

export interface KubeClientService {
  readonly list: (rt: ResourceType, options?: ListOptions) => Effect.Effect<KubeList, KubeError>
  /**
   * Runs one watch until it ends, calling `onEvent` for each event in order.
   * An ERROR event becomes a failure (410 Gone as KubeGone).
   */
  readonly watch: (
    rt: ResourceType,
    options: WatchOptions,
    onEvent: (type: WatchEventType, object: KubeObject) => void,
  ) => Effect.Effect<WatchEnd, KubeError>
  readonly get: (rt: ResourceType, namespace: string | undefined, name: string) => Effect.Effect<KubeObject, KubeError>
  readonly create: (
    rt: ResourceType,
    namespace: string | undefined,
    body: object,
    options?: CreateOptions,
  ) => Effect.Effect<KubeObject, KubeError>
  readonly replace: (rt: ResourceType, namespace: string | undefined, body: KubeObject) => Effect.Effect<KubeObject, KubeError>
  readonly patch: (
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    patch: Patch,
    subresource?: "status" | "scale",
  ) => Effect.Effect<KubeObject, KubeError>
  readonly delete: (
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    options?: DeleteOptions,
  ) => Effect.Effect<void, KubeError>
  /** Any other request (discovery, /version): the decoded JSON body of a 2xx answer. */
  readonly request: (request: Omit<TransportRequest, "signal">) => Effect.Effect<unknown, KubeError>
  /** The KubeConfig in use. */
  readonly config: k8s.KubeConfig
  /** The API server's URL. */
  readonly server: string
}

export class KubeClient extends Context.Tag("KubeClient")<KubeClient, KubeClientService>() {}

/**
 * Loads the kubeconfig as kubectl does: an explicit file, else the files of
 * KUBECONFIG (merged, the first one's current context), else ~/.kube/config,
 * else the in-cluster service account.
 */
export const loadKubeConfig = (kubeconfig: string | undefined): k8s.KubeConfig => {
  const kc = new k8s.KubeConfig()
  if (kubeconfig) kc.loadFromFile(kubeconfig)
  else kc.loadFromDefault()
  return kc
}

const objectPath = (rt: ResourceType, namespace: string | undefined, name: string, subresource?: string) =>
  `${collectionPath(rt, rt.namespaced ? namespace : undefined)}/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ""}`

const contentTypes: Record<Patch["type"], string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
}

const headerRecord = (headers: Headers): Record<string, string> => Object.fromEntries(headers.entries())

/** Fails with the typed error of a non-2xx answer, the server's Status message included. */
const failure = async (response: Response): Promise<never> => {
  const body = await response.text().catch(() => "")
  throw fromStatus(response.status, body, headerRecord(response.headers))
}

const isKubeError = (e: unknown): e is KubeError =>
  typeof e === "object" && e !== null && typeof (e as { _tag?: unknown })._tag === "string" && String((e as { _tag: string })._tag).startsWith("Kube")

/**
 * How long a request (a watch apart) may go unanswered. Nothing else bounds it: a connection
 * black-holed by the network would hold a worker, its key and an informer's list for good.
 * kube-apiserver answers within its own 60 s request timeout, so a longer wait is a lost connection.
 */
export const REQUEST_TIMEOUT = Duration.seconds(70)

export interface ClientOptions {
  /** Default REQUEST_TIMEOUT. */
  readonly requestTimeout?: Duration.Duration
}

export const make = (kc: k8s.KubeConfig, transport: KubeTransport = makeTransport(kc), options: ClientOptions = {}): KubeClientService => {
  const requestTimeout = options.requestTimeout ?? REQUEST_TIMEOUT
  const call = <A>(thunk: (signal: AbortSignal) => Promise<A>): Effect.Effect<A, KubeError> =>
    Effect.tryPromise({ try: thunk, catch: (e) => (isKubeError(e) ? e : fromUnknown(e)) })

  const json = (r: Omit<TransportRequest, "signal">): Effect.Effect<any, KubeError> =>
    call(async (interrupted) => {
      // Aborted on the wire by interruption or by the timeout (a timer of the runtime's, where
      // Effect.timeout would fork two fibers for every request).
      const timeout = AbortSignal.timeout(Duration.toMillis(requestTimeout))
      try {
        const response = await transport.request({ ...r, signal: AbortSignal.any([interrupted, timeout]) })
        if (!response.ok) return failure(response)
        const text = await response.text()
        if (!text) return undefined
        // Health endpoints (/readyz, /livez) answer plain text.
        return (response.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text
      } catch (e) {
        if (timeout.aborted && !interrupted.aborted) {
          throw noAnswer(`${r.method} ${r.path}: the API server did not answer within ${Duration.format(requestTimeout)}`)
        }
        throw e
      }
    })

  const list: KubeClientService["list"] = (rt, options = {}) =>
    json({
      method: "GET",
      path: collectionPath(rt, rt.namespaced ? options.namespace : undefined),
      query: {
        labelSelector: options.labelSelector,
        limit: options.limit,
        continue: options.continue,
        resourceVersion: options.resourceVersion,
      },
    }).pipe(
      Effect.map((body) => ({
        items: (body?.items ?? []) as KubeObject[],
        resourceVersion: String(body?.metadata?.resourceVersion ?? ""),
        continue: (body?.metadata?.continue as string | undefined) || undefined,
      })),
    )

  const get: KubeClientService["get"] = (rt, namespace, name) =>
    json({ method: "GET", path: objectPath(rt, namespace, name) })

  const create: KubeClientService["create"] = (rt, namespace, body, options = {}) =>
    json({
      method: "POST",
      path: collectionPath(rt, rt.namespaced ? namespace : undefined),
      body,
      ...(options.dryRun ? { query: { dryRun: "All" } } : {}),
    })

  const replace: KubeClientService["replace"] = (rt, namespace, body) =>
    json({ method: "PUT", path: objectPath(rt, namespace, body.metadata.name), body })

  const patch: KubeClientService["patch"] = (rt, namespace, name, p, subresource) =>
    json({ method: "PATCH", path: objectPath(rt, namespace, name, subresource), body: p.body, contentType: contentTypes[p.type] })

  const del: KubeClientService["delete"] = (rt, namespace, name, options = {}) =>
    json({
      method: "DELETE",
      path: objectPath(rt, namespace, name),
      body: { apiVersion: "v1", kind: "DeleteOptions", ...(options.preconditions ? { preconditions: options.preconditions } : {}) },
    }).pipe(Effect.asVoid)

  const watch: KubeClientService["watch"] = (rt, options, onEvent) =>
    call(async (signal): Promise<WatchEnd> => {
      // Our own controller: aborted by interruption (signal) or when the watch goes idle.
      const controller = new AbortController()
      const abort = () => controller.abort()
      signal.addEventListener("abort", abort, { once: true })
      let idle = false
      let timer: ReturnType<typeof setTimeout> | undefined
      const armIdle = () => {
        if (timer) clearTimeout(timer)
        timer = setTimeout(() => {
          idle = true
          controller.abort()
        }, options.idleTimeoutMs)
      }
      try {
        armIdle()
        const response = await transport.request({
          method: "GET",
          path: collectionPath(rt, rt.namespaced ? options.namespace : undefined),
          query: {
            watch: 1,
            allowWatchBookmarks: true,
            resourceVersion: options.resourceVersion,
            timeoutSeconds: options.timeoutSeconds,
            labelSelector: options.labelSelector,
          },
          signal: controller.signal,
        })
        if (!response.ok) return await failure(response)
        if (!response.body) return "closed"
        const decoder = new TextDecoder()
        let buffered = ""
        for await (const chunk of response.body) {
          armIdle()
          buffered += decoder.decode(chunk, { stream: true })
          let newline: number
          while ((newline = buffered.indexOf("\n")) >= 0) {
            const line = buffered.slice(0, newline).trim()
            buffered = buffered.slice(newline + 1)
            if (!line) continue
            const event = JSON.parse(line) as { type: string; object: unknown }
            if (event.type === "ERROR") {
              const status = event.object as { code?: number; message?: string }
              throw status?.code === 410
                ? new KubeGone({ code: 410, message: status.message ?? "resource version too old" })
                : fromStatus(status?.code ?? 500, status)
            }
            onEvent(event.type as WatchEventType, event.object as KubeObject)
          }
        }
        return "closed"
      } catch (error) {
        if (idle) return "idle"
        if (signal.aborted) return "closed"
        throw error
      } finally {
        if (timer) clearTimeout(timer)
        signal.removeEventListener("abort", abort)
        controller.abort()
      }
    })

  return { list, watch, get, create, replace, patch, delete: del, request: json, config: kc, server: transport.server }
}

export const layer = (kubeconfig: string | undefined): Layer.Layer<KubeClient> =>
  Layer.sync(KubeClient, () => make(loadKubeConfig(kubeconfig)))

export const layerFromConfig = (kc: k8s.KubeConfig): Layer.Layer<KubeClient> => Layer.sync(KubeClient, () => make(kc))
