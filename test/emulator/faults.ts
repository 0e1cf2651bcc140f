/** The request log and fault injection hooks of the emulator. */
import { ApiError, Errors } from "./errors.ts"

export interface RequestRecord {
  verb: string
  method: string
  path: string
  group: string
  resource: string
  subresource?: string
  namespace?: string
  name?: string
  contentType?: string
  bodySize: number
  status: number
  at: number
  /** The authenticated user, when authentication is on. */
  user?: string
}

export interface FaultMatch {
  verb?: string
  resource?: string
  subresource?: string
  name?: string
  namespace?: string
}

export interface FailOptions {
  code: number
  count?: number
  retryAfterSeconds?: number
  message?: string
}

export const WRITE_VERBS = ["create", "update", "patch", "delete"]

function matchesFilter(r: RequestRecord, filter: Partial<RequestRecord> | undefined): boolean {
  if (!filter) return true
  for (const [k, v] of Object.entries(filter)) {
    if (v !== undefined && (r as any)[k] !== v) return false
  }
  return true
}

export class RequestLog {
  private records: RequestRecord[] = []

  add(r: RequestRecord): void {
    this.records.push(r)
  }
  all(): RequestRecord[] {
    return [...this.records]
  }
  clear(): void {
    this.records = []
  }
  writes(filter?: Partial<RequestRecord>): RequestRecord[] {
    return this.records.filter((r) => WRITE_VERBS.includes(r.verb) && matchesFilter(r, filter))
  }
  count(filter?: Partial<RequestRecord>): number {
    return this.records.filter((r) => matchesFilter(r, filter)).length
  }
}

export interface RequestAttributes {
  verb: string
  resource: string
  subresource?: string
  name?: string
  namespace?: string
  group: string
}

function matches(m: FaultMatch, a: RequestAttributes): boolean {
  if (m.verb !== undefined && m.verb !== a.verb) return false
  if (m.resource !== undefined && m.resource !== a.resource) return false
  if (m.subresource !== undefined && m.subresource !== a.subresource) return false
  if (m.name !== undefined && m.name !== a.name) return false
  if (m.namespace !== undefined && m.namespace !== a.namespace) return false
  return true
}

function failure(code: number, opts: FailOptions, a: RequestAttributes): ApiError {
  const name = a.name ?? ""
  switch (code) {
    case 409:
      return opts.message
        ? new ApiError(409, "Conflict", opts.message, { name, ...(a.group ? { group: a.group } : {}), kind: a.resource })
        : Errors.modified(a.group, a.resource, name)
    case 429:
      return Errors.tooManyRequests(opts.message ?? "Too many requests, please try again later.", opts.retryAfterSeconds ?? 1)
    case 500:
      return Errors.internal(opts.message ?? "injected failure")
    case 503:
      return Errors.unavailable(opts.message ?? "the server is currently unable to handle the request")
    case 404:
      return Errors.notFound(a.group, a.resource, name)
    case 410:
      return Errors.gone(opts.message ?? "too old resource version")
    default: {
      const reasons: Record<number, string> = { 400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 422: "Invalid", 504: "Timeout" }
      const e = new ApiError(code, reasons[code] ?? "InternalError", opts.message ?? `injected failure (${code})`)
      return e
    }
  }
}

export class Faults {
  private failures: { match: FaultMatch; opts: FailOptions; left: number }[] = []
  private latencies: { match: FaultMatch; ms: number }[] = []
  private staleLists: { match: FaultMatch; asOf: number }[] = []

  failNext(match: FaultMatch, opts: FailOptions): void {
    this.failures.push({ match, opts, left: opts.count ?? 1 })
  }

  addLatency(match: FaultMatch, ms: number): void {
    this.latencies.push({ match, ms })
  }

  /**
   * The next list of `resourceVersion=0` matching is answered as a watch cache `asOf` behind
   * would: at resourceVersion `asOf`, without the objects changed since (a watch from there
   * then brings them, as it does from a lagging kube-apiserver's cache).
   */
  staleList(match: FaultMatch, asOf: number): void {
    this.staleLists.push({ match, asOf })
  }

  clear(): void {
    this.failures = []
    this.latencies = []
    this.staleLists = []
  }

  /** The resourceVersion the next list of `resourceVersion=0` is to be answered at, if stale (consumes it). */
  takeStaleList(a: RequestAttributes): number | undefined {
    const f = this.staleLists.find((x) => matches(x.match, a))
    if (!f) return undefined
    this.staleLists = this.staleLists.filter((x) => x !== f)
    return f.asOf
  }

  latencyFor(a: RequestAttributes): number {
    let ms = 0
    for (const l of this.latencies) if (matches(l.match, a)) ms += l.ms
    return ms
  }

  /** The injected failure for this request, if one is pending (consumes it). */
  take(a: RequestAttributes): ApiError | undefined {
    const f = this.failures.find((x) => x.left > 0 && matches(x.match, a))
    if (!f) return undefined
    f.left -= 1
    if (f.left <= 0) this.failures = this.failures.filter((x) => x !== f)
    const e = failure(f.opts.code, f.opts, a)
    if (f.opts.retryAfterSeconds !== undefined && f.opts.code !== 429) {
      return new ApiError(e.code, e.reason, e.message, { ...(e.details ?? {}), retryAfterSeconds: f.opts.retryAfterSeconds }, { "Retry-After": String(f.opts.retryAfterSeconds) })
    }
    return e
  }
}
