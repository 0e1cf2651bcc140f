/**
 * The object store: objects per resource, one global resourceVersion
 * counter, a bounded event history for watch resumption and the fan-out of
 * events to watchers.
 */

export type EventType = "ADDED" | "MODIFIED" | "DELETED"

export interface StoreEvent {
  readonly rv: number
  readonly type: EventType
  /** `group/resource` of the storage type. */
  readonly gr: string
  /** The object after the change (for DELETED: the last state, with the deletion's resourceVersion). */
  readonly obj: any
  /** The object before the change (MODIFIED and DELETED). */
  readonly prev?: any
}

export function grKey(group: string, resource: string): string {
  return `${group}/${resource}`
}

export function objKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name
}

export class Store {
  private rv = 0
  private readonly buckets = new Map<string, Map<string, any>>()
  private readonly uidIndex = new Map<string, { gr: string; key: string }>()
  private history: StoreEvent[] = []
  /** Lowest resourceVersion a watch can resume from. */
  private minResumable = 0
  private readonly listeners = new Set<(ev: StoreEvent) => void>()

  constructor(private readonly historySize: number) {}

  get resourceVersion(): number {
    return this.rv
  }

  /** A watch or continue token from `rv` can be served iff rv >= this. */
  get oldestResumable(): number {
    return this.minResumable
  }

  private bucket(gr: string): Map<string, any> {
    let b = this.buckets.get(gr)
    if (!b) {
      b = new Map()
      this.buckets.set(gr, b)
    }
    return b
  }

  get(gr: string, key: string): any | undefined {
    return this.buckets.get(gr)?.get(key)
  }

  /** Objects of a resource (optionally of one namespace), sorted by key as etcd returns them. */
  list(gr: string, namespace?: string): { key: string; obj: any }[] {
    const b = this.buckets.get(gr)
    if (!b) return []
    const out: { key: string; obj: any }[] = []
    for (const key of this.sortedKeys(gr)) {
      const obj = b.get(key)
      if (namespace !== undefined && obj.metadata?.namespace !== namespace) continue
      out.push({ key, obj })
    }
    return out
  }

  /**
   * The keys of a resource in order, sorted again only after a key came or went: a list of
   * 10,000 objects read in pages of 500 would otherwise sort them twenty times.
   */
  private sortedKeys(gr: string): ReadonlyArray<string> {
    let keys = this.sorted.get(gr)
    if (!keys) {
      keys = [...(this.buckets.get(gr)?.keys() ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      this.sorted.set(gr, keys)
    }
    return keys
  }
  private readonly sorted = new Map<string, string[]>()

  /** Resources that currently hold objects. */
  resources(): string[] {
    return [...this.buckets.keys()].filter((k) => (this.buckets.get(k)?.size ?? 0) > 0)
  }

  uidExists(uid: string): { gr: string; key: string } | undefined {
    return this.uidIndex.get(uid)
  }

  private next(): number {
    this.rv += 1
    return this.rv
  }

  /** Stores a new object; sets its resourceVersion. */
  create(gr: string, key: string, obj: any): any {
    const rv = this.next()
    obj.metadata.resourceVersion = String(rv)
    this.bucket(gr).set(key, obj)
    this.sorted.delete(gr)
    if (obj.metadata.uid) this.uidIndex.set(obj.metadata.uid, { gr, key })
    this.emit({ rv, type: "ADDED", gr, obj })
    return obj
  }

  /** Replaces an object; sets its resourceVersion. */
  update(gr: string, key: string, obj: any): any {
    const prev = this.get(gr, key)
    const rv = this.next()
    obj.metadata.resourceVersion = String(rv)
    this.bucket(gr).set(key, obj)
    if (!prev) this.sorted.delete(gr)
    this.emit({ rv, type: "MODIFIED", gr, obj, prev })
    return obj
  }

  /** Removes an object; the DELETED event carries it with a fresh resourceVersion. */
  remove(gr: string, key: string): any | undefined {
    const prev = this.get(gr, key)
    if (!prev) return undefined
    const rv = this.next()
    const obj = structuredClone(prev)
    obj.metadata.resourceVersion = String(rv)
    this.bucket(gr).delete(key)
    this.sorted.delete(gr)
    if (prev.metadata?.uid) this.uidIndex.delete(prev.metadata.uid)
    this.emit({ rv, type: "DELETED", gr, obj, prev })
    return obj
  }

  private emit(ev: StoreEvent): void {
    this.history.push(ev)
    if (this.history.length > this.historySize) {
      const drop = this.history.length - this.historySize
      const last = this.history[drop - 1]
      if (last) this.minResumable = Math.max(this.minResumable, last.rv)
      this.history = this.history.slice(drop)
    }
    for (const l of [...this.listeners]) l(ev)
  }

  /** Events after `rv`; undefined when the history no longer reaches back that far. */
  since(rv: number): StoreEvent[] | undefined {
    if (rv < this.minResumable) return undefined
    // History is ordered by rv; find the first event newer than rv.
    let lo = 0
    let hi = this.history.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.history[mid]!.rv <= rv) lo = mid + 1
      else hi = mid
    }
    return this.history.slice(lo)
  }

  /** Forgets the history: resuming from any resourceVersion older than now fails. */
  compact(): void {
    this.history = []
    this.minResumable = this.rv
  }

  subscribe(listener: (ev: StoreEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
