/**
 * Watch streams: newline-delimited JSON events over a chunked HTTP response,
 * resumed from the store's history, filtered by selectors (an object
 * leaving a selector is DELETED for that watcher), with bookmarks,
 * timeoutSeconds, and the drop/stall fault hooks.
 */
import type { ResourceType } from "./registry.ts"
import type { Store, StoreEvent } from "./store.ts"

export interface WatchSpec {
  gr: string
  type: ResourceType
  namespace?: string
  /** Object name from a metadata.name field selector or a single-object path. */
  matches(obj: any): boolean
  render(obj: any): any
  /** The apiVersion of the watched kind as requested (bookmarks carry it). */
  apiVersion: string
  /** Events to send first (history replay or synthetic ADDED). */
  initial: { type: string; object: any }[]
  bookmarks: boolean
  timeoutMs?: number
}

const encoder = new TextEncoder()

class Watcher {
  stalled = false
  closed = false
  private readonly timers: ReturnType<typeof setTimeout | typeof setInterval>[] = []
  lastRv: string

  constructor(
    readonly spec: WatchSpec,
    private readonly controller: ReadableStreamDefaultController<Uint8Array>,
    private readonly onClose: (w: Watcher) => void,
    currentRv: number,
    bookmarkMs: number,
  ) {
    this.lastRv = String(currentRv)
    for (const e of spec.initial) this.send(e)
    // Bun sends the response headers with the first body bytes; a watch with
    // nothing to say yet must still answer 200 at once, so it sends a blank
    // line (whitespace between JSON values, which every watch decoder skips).
    if (spec.initial.length === 0) controller.enqueue(encoder.encode("\n"))
    if (spec.bookmarks) this.timers.push(setInterval(() => this.bookmark(), bookmarkMs))
    // A stalled connection (a silently dropping load balancer) never delivers the end either.
    if (spec.timeoutMs !== undefined) this.timers.push(setTimeout(() => !this.stalled && this.close(), spec.timeoutMs))
  }

  send(ev: { type: string; object: any }): void {
    if (this.closed || this.stalled) return
    const rv = ev.object?.metadata?.resourceVersion
    if (rv) this.lastRv = rv
    try {
      this.controller.enqueue(encoder.encode(JSON.stringify(ev) + "\n"))
    } catch {
      this.close()
    }
  }

  bookmark(): void {
    this.send({
      type: "BOOKMARK",
      object: { kind: this.spec.type.kind, apiVersion: this.spec.apiVersion, metadata: { resourceVersion: this.lastRv } },
    })
  }

  /** Dispatches one store event as this watcher sees it. */
  onEvent(ev: StoreEvent): void {
    if (ev.gr !== this.spec.gr) return
    const out = translate(this.spec, ev)
    if (out) this.send(out)
    else this.lastRv = String(ev.rv)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    for (const t of this.timers) clearTimeout(t as any)
    try {
      this.controller.close()
    } catch {
      // already closed by the client
    }
    this.onClose(this)
  }
}

/** The event a watcher sees for a store event (undefined: nothing for it). */
export function translate(spec: WatchSpec, ev: StoreEvent): { type: string; object: any } | undefined {
  const inNs = (o: any) => spec.namespace === undefined || o?.metadata?.namespace === spec.namespace
  const now = ev.type !== "DELETED" && inNs(ev.obj) && spec.matches(ev.obj)
  const before = ev.prev !== undefined && inNs(ev.prev) && spec.matches(ev.prev)
  if (ev.type === "ADDED") return now ? { type: "ADDED", object: spec.render(ev.obj) } : undefined
  if (ev.type === "DELETED") return before ? { type: "DELETED", object: spec.render(ev.obj) } : undefined
  if (now && before) return { type: "MODIFIED", object: spec.render(ev.obj) }
  if (now) return { type: "ADDED", object: spec.render(ev.obj) }
  if (before) return { type: "DELETED", object: spec.render(ev.obj) }
  return undefined
}

export class WatchHub {
  private readonly watchers = new Set<Watcher>()
  private readonly unsubscribe: () => void

  constructor(
    private readonly store: Store,
    private readonly bookmarkMs: number,
  ) {
    this.unsubscribe = store.subscribe((ev) => {
      for (const w of [...this.watchers]) w.onEvent(ev)
    })
  }

  get size(): number {
    return this.watchers.size
  }

  /** A streaming Response for this watch. */
  open(spec: WatchSpec, signal: AbortSignal): Response {
    let watcher: Watcher | undefined
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        watcher = new Watcher(spec, controller, (w) => this.watchers.delete(w), this.store.resourceVersion, this.bookmarkMs)
        this.watchers.add(watcher)
        signal.addEventListener("abort", () => watcher?.close(), { once: true })
      },
      cancel: () => watcher?.close(),
    })
    return new Response(stream, {
      status: 200,
      headers: { "Content-Type": "application/json", "Cache-Control": "no-cache, private" },
    })
  }

  /** A 200 stream holding one ERROR event, as the real server answers a too-old watch. */
  static errorStream(status: Record<string, unknown>): Response {
    return new Response(JSON.stringify({ type: "ERROR", object: status }) + "\n", {
      status: 200,
      headers: { "Content-Type": "application/json" },
    })
  }

  dropAll(): void {
    for (const w of [...this.watchers]) w.close()
  }

  stallAll(): void {
    for (const w of this.watchers) w.stalled = true
  }

  /** Ends the watches of a type that stopped being served. */
  closeType(type: ResourceType): void {
    for (const w of [...this.watchers]) if (w.spec.type === type || w.spec.type.crd?.name === type.crd?.name && type.crd) w.close()
  }

  stop(): void {
    this.dropAll()
    this.unsubscribe()
  }
}
