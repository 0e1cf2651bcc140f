/**
 * KubeClient: the operator's only door to the Kubernetes API.
 *
 * Every call goes through @kubernetes/client-node (its typed API classes for
 * built-in kinds, CustomObjectsApi for the binding, its Watch for watches);
 * this module turns them into Effects with typed errors, and hands the rest
 * of the operator plain JSON objects in their wire form.
 */
import * as k8s from "@kubernetes/client-node"
import { ObjectSerializer } from "@kubernetes/client-node/dist/serializer.js"
import { Context, Effect, Layer } from "effect"
import { fromUnknown, KubeGone, type KubeError } from "./errors.ts"
import { collectionPath, type ResourceType } from "./resources.ts"

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
  readonly create: (rt: ResourceType, namespace: string | undefined, body: object) => Effect.Effect<KubeObject, KubeError>
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
  /** The KubeConfig in use (for the check command's access reviews). */
  readonly config: k8s.KubeConfig
}

export class KubeClient extends Context.Tag("KubeClient")<KubeClient, KubeClientService>() {}

/** Loads the kubeconfig: an explicit file, else KUBECONFIG / ~/.kube/config, else the in-cluster service account. */
export const loadKubeConfig = (kubeconfig: string | undefined): k8s.KubeConfig => {
  const kc = new k8s.KubeConfig()
  if (kubeconfig) kc.loadFromFile(kubeconfig)
  else kc.loadFromDefault()
  return kc
}

/**
 * client-node decodes built-in kinds into its typed models, whose attribute
 * names are not always the wire's (ListMeta `_continue`, JSONSchemaProps
 * `_default` and `x_kubernetes_*`) and whose timestamps are Dates. The
 * operator works on the wire form: encode typed results back with the
 * client's own serializer. Custom objects arrive as wire JSON already.
 * (Patch bodies are sent as they are.)
 */
const modelOf = (rt: ResourceType, list = false): string =>
  `${rt.version.charAt(0).toUpperCase()}${rt.version.slice(1)}${rt.kind}${list ? "List" : ""}`

const wire = (rt: ResourceType, value: unknown, list = false): KubeObject =>
  typedApiClass(rt.group)
    ? JSON.parse(JSON.stringify(ObjectSerializer.serialize(value, modelOf(rt, list))))
    : (value as KubeObject)

/** The reverse, for request bodies: a typed API encodes its model's attributes, so a wire object is decoded first. */
const model = (rt: ResourceType, body: object): object =>
  typedApiClass(rt.group) ? ObjectSerializer.deserialize(body, modelOf(rt)) : body

// The typed client-node API classes follow one naming scheme
// (listNamespacedDeployment, patchNamespacedSecret, readCustomResourceDefinition…);
// this picks the method for a resource type by that scheme.
type AnyApi = Record<string, (request: object, options?: object) => Promise<any>>

const typedApiClass = (group: string) => {
  switch (group) {
    case "":
      return k8s.CoreV1Api
    case "apps":
      return k8s.AppsV1Api
    case "coordination.k8s.io":
      return k8s.CoordinationV1Api
    case "apiextensions.k8s.io":
      return k8s.ApiextensionsV1Api
    default:
      return undefined
  }
}

const patchOptions = (patch: Patch) =>
  k8s.setHeaderOptions("Content-Type", patch.type === "merge" ? k8s.PatchStrategy.MergePatch : k8s.PatchStrategy.JsonPatch)

export const make = (kc: k8s.KubeConfig): KubeClientService => {
  const apis = new Map<string, AnyApi>()
  const typedApi = (rt: ResourceType): AnyApi | undefined => {
    const cls = typedApiClass(rt.group)
    if (!cls) return undefined
    let api = apis.get(rt.group)
    if (!api) {
      api = kc.makeApiClient(cls as any) as unknown as AnyApi
      apis.set(rt.group, api)
    }
    return api
  }
  const custom = kc.makeApiClient(k8s.CustomObjectsApi)

  const call = <A>(thunk: () => Promise<A>): Effect.Effect<A, KubeError> =>
    Effect.tryPromise({ try: thunk, catch: fromUnknown })

  const method = (rt: ResourceType, verb: string, namespaced: boolean, suffix = ""): ((r: object, o?: object) => Promise<any>) => {
    const api = typedApi(rt)!
    const name = `${verb}${namespaced ? "Namespaced" : ""}${rt.kind}${suffix}`
    const fn = api[name]
    if (typeof fn !== "function") throw new Error(`client-node has no ${name}`)
    return fn.bind(api)
  }

  const crdBase = (rt: ResourceType) => ({ group: rt.group, version: rt.version, plural: rt.plural })

  const list: KubeClientService["list"] = (rt, options = {}) =>
    call(async () => {
      const query = {
        ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
        ...(options.limit ? { limit: options.limit } : {}),
        ...(options.continue ? { _continue: options.continue } : {}),
      }
      const ns = rt.namespaced ? options.namespace : undefined
      let result: any
      if (typedApi(rt)) {
        if (ns !== undefined) result = await method(rt, "list", true)({ namespace: ns, ...query })
        else if (rt.namespaced) result = await method(rt, "list", false, "ForAllNamespaces")(query)
        else result = await method(rt, "list", false)(query)
      } else if (ns !== undefined) {
        result = await custom.listNamespacedCustomObject({ ...crdBase(rt), namespace: ns, ...query })
      } else {
        result = await custom.listClusterCustomObject({ ...crdBase(rt), ...query })
      }
      const plain = wire(rt, result, true)
      return {
        items: (plain.items ?? []) as KubeObject[],
        resourceVersion: String(plain.metadata?.resourceVersion ?? ""),
        continue: (plain.metadata?.continue as string | undefined) || undefined,
      }
    })

  const get: KubeClientService["get"] = (rt, namespace, name) =>
    call(async () => {
      if (typedApi(rt)) {
        return wire(rt, await method(rt, "read", rt.namespaced)({ name, ...(rt.namespaced ? { namespace } : {}) }))
      }
      return wire(rt, 
        rt.namespaced
          ? await custom.getNamespacedCustomObject({ ...crdBase(rt), namespace: namespace!, name })
          : await custom.getClusterCustomObject({ ...crdBase(rt), name }),
      )
    })

  const create: KubeClientService["create"] = (rt, namespace, body) =>
    call(async () => {
      if (typedApi(rt)) {
        return wire(rt, await method(rt, "create", rt.namespaced)({ body: model(rt, body), ...(rt.namespaced ? { namespace } : {}) }))
      }
      return wire(rt, 
        rt.namespaced
          ? await custom.createNamespacedCustomObject({ ...crdBase(rt), namespace: namespace!, body })
          : await custom.createClusterCustomObject({ ...crdBase(rt), body }),
      )
    })

  const replace: KubeClientService["replace"] = (rt, namespace, body) =>
    call(async () => {
      const name = body.metadata.name
      if (typedApi(rt)) {
        return wire(rt, 
          await method(rt, "replace", rt.namespaced)({ name, body: model(rt, body), ...(rt.namespaced ? { namespace } : {}) }),
        )
      }
      return wire(rt, 
        rt.namespaced
          ? await custom.replaceNamespacedCustomObject({ ...crdBase(rt), namespace: namespace!, name, body })
          : await custom.replaceClusterCustomObject({ ...crdBase(rt), name, body }),
      )
    })

  const patch: KubeClientService["patch"] = (rt, namespace, name, p, subresource) =>
    call(async () => {
      const options = patchOptions(p)
      const body = p.body as object
      const suffix = subresource === "status" ? "Status" : subresource === "scale" ? "Scale" : ""
      if (typedApi(rt)) {
        return wire(rt, 
          await method(rt, "patch", rt.namespaced, suffix)({ name, body, ...(rt.namespaced ? { namespace } : {}) }, options),
        )
      }
      const request = { ...crdBase(rt), name, body }
      if (rt.namespaced) {
        const namespaced = { ...request, namespace: namespace! }
        return wire(rt, 
          subresource === "status"
            ? await custom.patchNamespacedCustomObjectStatus(namespaced, options)
            : subresource === "scale"
              ? await custom.patchNamespacedCustomObjectScale(namespaced, options)
              : await custom.patchNamespacedCustomObject(namespaced, options),
        )
      }
      return wire(rt, 
        subresource === "status"
          ? await custom.patchClusterCustomObjectStatus(request, options)
          : await custom.patchClusterCustomObject(request, options),
      )
    })

  const del: KubeClientService["delete"] = (rt, namespace, name, options = {}) =>
    call(async () => {
      const body = options.preconditions ? { preconditions: options.preconditions } : {}
      if (typedApi(rt)) {
        await method(rt, "delete", rt.namespaced)({ name, body, ...(rt.namespaced ? { namespace } : {}) })
      } else if (rt.namespaced) {
        await custom.deleteNamespacedCustomObject({ ...crdBase(rt), namespace: namespace!, name, body })
      } else {
        await custom.deleteClusterCustomObject({ ...crdBase(rt), name, body })
      }
    })

  const watch: KubeClientService["watch"] = (rt, options, onEvent) =>
    Effect.async<WatchEnd, KubeError>((resume) => {
      const watcher = new k8s.Watch(kc)
      // client-node aborts a watch that receives no data for this long; we
      // make that the idle bound (bookmarks keep a healthy watch talking).
      ;(watcher as unknown as { requestTimeoutMs: number }).requestTimeoutMs = options.idleTimeoutMs
      let finished = false
      let controller: AbortController | undefined
      const finish = (result: Effect.Effect<WatchEnd, KubeError>) => {
        if (finished) return
        finished = true
        controller?.abort()
        resume(result)
      }
      const path = collectionPath(rt, rt.namespaced ? options.namespace : undefined)
      watcher
        .watch(
          path,
          {
            resourceVersion: options.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: options.timeoutSeconds,
            ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
          },
          (type, object) => {
            if (finished) return
            if (type === "ERROR") {
              const status = object as { code?: number; message?: string }
              finish(
                Effect.fail(
                  status?.code === 410
                    ? new KubeGone({ code: 410, message: status.message ?? "resource version too old" })
                    : fromUnknown({ code: status?.code ?? 500, body: status }),
                ),
              )
              return
            }
            onEvent(type as WatchEventType, object as KubeObject)
          },
          (error) => {
            if (!error) finish(Effect.succeed("closed"))
            else if (error?.name === "TimeoutError") finish(Effect.succeed("idle"))
            else if (error?.name === "AbortError") finish(Effect.succeed("closed"))
            else finish(Effect.fail(fromUnknown(error)))
          },
        )
        .then(
          (c) => {
            controller = c
            if (finished) c.abort()
          },
          (error) => finish(Effect.fail(fromUnknown(error))),
        )
      return Effect.sync(() => {
        finished = true
        controller?.abort()
      })
    })

  return { list, watch, get, create, replace, patch, delete: del, config: kc }
}

export const layer = (kubeconfig: string | undefined): Layer.Layer<KubeClient> =>
  Layer.sync(KubeClient, () => make(loadKubeConfig(kubeconfig)))

export const layerFromConfig = (kc: k8s.KubeConfig): Layer.Layer<KubeClient> => Layer.succeed(KubeClient, make(kc))

