/**
 * The cache of one resource type, in two halves (as kube-rs's reflector has
 * them): a read-only `Store` for reconcilers and a `Writer` for the runtime.
 *
 * The writer takes what the list and watch deliver, and what the runtime's
 * own client wrote (./cached-client.ts). A change is reported to the
 * controller only when it is news: the echo of the operator's own write (the
 * watch event carrying the resourceVersion the write returned) updates the
 * cache silently, even when it arrives before the write's answer does; an
 * event older than what the cache holds is dropped.
 *
 * Objects are kept without `metadata.managedFields`.
 *
 * Indexes map each object to values (an identity, a name) so that the
 * controller finds the objects of a value without a scan.
 */
import type { KubeObject } from "./client.ts"
import type { ResourceType } from "./resources.ts"

export type ChangeType = "ADDED" | "MODIFIED" | "DELETED"
export type ChangeHandler = (type: ChangeType, object: KubeObject, previous: KubeObject | undefined) => void
export type Indexers = Readonly<Record<string, (object: KubeObject) => ReadonlyArray<string>>>

export interface Store {
  readonly resource: ResourceType
  /** The namespace cached; undefined: every namespace. */
  readonly namespace: string | undefined
  readonly labelSelector: string | undefined
  readonly get: (namespace: string | undefined, name: string) => KubeObject | undefined
  readonly list: () => ReadonlyArray<KubeObject>
  /** The objects an index maps to `value`. */
  readonly byIndex: (index: string, value: string) => ReadonlyArray<KubeObject>
}

export interface Writer {
  readonly store: Store
  /** A watch event. */
  readonly apply: (type: ChangeType, object: KubeObject) => void
  /** A complete list: what it lacks is deleted, what differs is changed. */
  readonly replace: (objects: ReadonlyArray<KubeObject>) => void
  /** The operator's own write of (namespace, name) begins; the returned function ends it with its result. */
  readonly writing: (namespace: string | undefined, name: string) => (result: KubeObject | "deleted" | undefined) => void
}

export const keyOf = (namespace: string | undefined, name: string) => (namespace ? `${namespace}/${name}` : name)
const objectKey = (o: KubeObject) => keyOf(o.metadata.namespace, o.metadata.name)

/** resourceVersions are opaque, but every server in practice issues increasing integers; only then do we compare. */
const isOlder = (candidate: string | undefined, than: string | undefined): boolean => {
  if (!candidate || !than) return false
  if (!/^\d+$/.test(candidate) || !/^\d+$/.test(than)) return false
  return BigInt(candidate) < BigInt(than)
}

interface Change {
  readonly type: ChangeType
  readonly object: KubeObject
  readonly previous: KubeObject | undefined
}

export const makeWriter = (
  scope: { readonly resource: ResourceType; readonly namespace?: string | undefined; readonly labelSelector?: string | undefined },
  onChange: ChangeHandler,
  indexers: Indexers = {},
): Writer => {
  const cache = new Map<string, KubeObject>()
  // value → the key of its one object, or the keys of several: most values (an identity, a
  // binding's key) map to one object, and a Set for each would be most of an index's memory.
  const indexes = new Map<string, Map<string, string | Set<string>>>(Object.keys(indexers).map((name) => [name, new Map()]))
  /** The resourceVersion of the operator's last write of a key, until the watch shows it. */
  const echoes = new Map<string, string>()
  /** Writes in flight per key, and the changes the watch delivered meanwhile (decided when they end). */
  const inFlight = new Map<string, number>()
  const deferred = new Map<string, Array<Change>>()
  /** The resourceVersion of a deletion the watch showed while a write of the key was in flight. */
  const tombstones = new Map<string, string>()

  const unindex = (key: string, object: KubeObject) => {
    for (const [name, indexer] of Object.entries(indexers)) {
      const index = indexes.get(name)!
      for (const value of indexer(object)) {
        const keys = index.get(value)
        if (keys === key) index.delete(value)
        else if (typeof keys === "object") {
          keys.delete(key)
          if (keys.size === 1) index.set(value, keys.values().next().value!)
        }
      }
    }
  }
  const set = (key: string, object: KubeObject) => {
    const previous = cache.get(key)
    if (previous) unindex(key, previous)
    // The server's field-ownership records are no reconciler's business and are most of a small
    // object's size (as client-go's TransformStripManagedFields, they are not kept).
    if (object.metadata.managedFields !== undefined) delete (object.metadata as { managedFields?: unknown }).managedFields
    cache.set(key, object)
    for (const [name, indexer] of Object.entries(indexers)) {
      const index = indexes.get(name)!
      for (const value of indexer(object)) {
        const keys = index.get(value)
        if (keys === undefined) index.set(value, key)
        else if (typeof keys === "string") {
          if (keys !== key) index.set(value, new Set([keys, key]))
        } else keys.add(key)
      }
    }
  }
  const remove = (key: string) => {
    const previous = cache.get(key)
    if (previous) unindex(key, previous)
    cache.delete(key)
  }

  const report = (key: string, change: Change) => {
    if ((inFlight.get(key) ?? 0) > 0) {
      const list = deferred.get(key) ?? []
      list.push(change)
      deferred.set(key, list)
    } else {
      onChange(change.type, change.object, change.previous)
    }
  }

  const apply: Writer["apply"] = (type, object) => {
    const key = objectKey(object)
    const previous = cache.get(key)
    const version = object.metadata.resourceVersion
    if (type === "DELETED") {
      echoes.delete(key)
      if ((inFlight.get(key) ?? 0) > 0) tombstones.set(key, version ?? "")
      // Gone already: the operator deleted it itself.
      if (!previous) return
      remove(key)
      return report(key, { type, object, previous })
    }
    if (previous && isOlder(version, previous.metadata.resourceVersion)) return
    const echo = echoes.get(key)
    if (echo !== undefined && !isOlder(version, echo)) echoes.delete(key)
    set(key, object)
    if (echo === version || previous?.metadata.resourceVersion === version) return
    report(key, { type: previous ? "MODIFIED" : "ADDED", object, previous })
  }

  const replace: Writer["replace"] = (objects) => {
    const fresh = new Map(objects.map((o) => [objectKey(o), o] as const))
    for (const [key, previous] of [...cache]) {
      if (!fresh.has(key)) {
        remove(key)
        onChange("DELETED", previous, previous)
      }
    }
    for (const [key, object] of fresh) {
      const previous = cache.get(key)
      set(key, object)
      if (!previous) onChange("ADDED", object, undefined)
      else if (previous.metadata.resourceVersion !== object.metadata.resourceVersion) onChange("MODIFIED", object, previous)
    }
  }

  const writing: Writer["writing"] = (namespace, name) => {
    const key = keyOf(namespace, name)
    inFlight.set(key, (inFlight.get(key) ?? 0) + 1)
    return (result) => {
      const left = (inFlight.get(key) ?? 1) - 1
      if (left > 0) inFlight.set(key, left)
      else inFlight.delete(key)
      let written: string | undefined
      if (result === "deleted") {
        remove(key)
      } else if (result !== undefined) {
        written = result.metadata.resourceVersion
        const current = cache.get(key)
        const tombstone = tombstones.get(key)
        // The answer of a write the watch has already shown deleted (the last finalizer removed) must not bring it back.
        const deleted = tombstone !== undefined && !isOlder(tombstone, written)
        if (!deleted && (!current || !isOlder(written, current.metadata.resourceVersion))) set(key, result)
        // The watch has not shown this version yet (or it did, while the write was in flight).
        if (!deleted && written !== undefined && current?.metadata.resourceVersion !== written) echoes.set(key, written)
      }
      if (left > 0) return
      tombstones.delete(key)
      const changes = deferred.get(key)
      deferred.delete(key)
      for (const change of changes ?? []) {
        const version = change.object.metadata.resourceVersion
        if (change.type !== "DELETED" && version !== undefined && version === written) {
          echoes.delete(key)
          continue
        }
        // Anything else is someone else's change, or older than the write: the controller looks again.
        if (result === "deleted" && change.type === "DELETED") continue
        onChange(change.type, change.object, change.previous)
      }
    }
  }

  const store: Store = {
    resource: scope.resource,
    namespace: scope.namespace,
    labelSelector: scope.labelSelector,
    get: (namespace, name) => cache.get(keyOf(namespace, name)),
    list: () => [...cache.values()],
    byIndex: (index, value) => {
      const keys = indexes.get(index)?.get(value)
      if (keys === undefined) return []
      if (typeof keys === "string") return cache.has(keys) ? [cache.get(keys)!] : []
      return [...keys].flatMap((k) => cache.get(k) ?? [])
    },
  }
  return { store, apply, replace, writing }
}
