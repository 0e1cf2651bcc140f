/**
 * HTTP routing of the emulated kube-apiserver: discovery, the resource
 * paths, lists and watches, Status errors, the request log and faults.
 * Every resource request goes through `handle`, which is where an
 * authentication/authorisation step belongs.
 */
import { Api, type Target } from "./api.ts"
import { ApiError, Errors } from "./errors.ts"
import type { Faults, RequestAttributes, RequestLog } from "./faults.ts"
import type { ResourceType } from "./registry.ts"
import { OpenApi } from "./openapi.ts"
import { decodeKubernetesProtobuf, ProtobufError } from "./protobuf.ts"
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector, SelectorError } from "./selectors.ts"
import { toTable } from "./tables.ts"
import { translate, WatchHub, type WatchSpec } from "./watch.ts"

export const SERVER_VERSION = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.0",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2025-01-01T00:00:00Z",
  goVersion: "go1.23.4",
  compiler: "gc",
  platform: "linux/amd64",
}

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } })
}

/** The request's warnings as `Warning: 299 - "…"` headers, as the real server sends them. */
function withWarnings(res: Response, t: Target): Response {
  for (const w of t.warnings ?? []) res.headers.append("Warning", `299 - ${JSON.stringify(w)}`)
  return res
}

function errorResponse(e: ApiError): Response {
  return json(e.toStatus(), e.code, e.headers)
}

function encodeContinue(rv: number, start: string): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv, start })).toString("base64")
}

function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const t = JSON.parse(Buffer.from(token, "base64").toString("utf8"))
    if (t.v !== "meta.k8s.io/v1" || typeof t.rv !== "number" || typeof t.start !== "string") throw new Error("bad")
    return { rv: t.rv, start: t.start }
  } catch {
    throw Errors.badRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
  }
}

/**
 * A boolean query parameter as the real server reads it (runtime.Convert_Slice_string_To_bool):
 * absent, `0` or `false` in any case is false; any other value, the empty one too, is true.
 */
export function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.getAll(name)[0]
  if (v === undefined) return false
  return v !== "0" && v.toLowerCase() !== "false"
}

const PROTOBUF = "application/vnd.kubernetes.protobuf"

/**
 * The request body as JSON text: a Kubernetes protobuf body (what kubectl's
 * generator commands send) is decoded to the JSON object it stands for.
 */
function requestBody(req: Request, bytes: Uint8Array): string {
  const ct = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase()
  if (ct !== PROTOBUF || bytes.length === 0) return new TextDecoder().decode(bytes)
  if (req.method !== "POST" && req.method !== "PUT" && req.method !== "DELETE") throw Errors.unsupportedMediaType(ct, ["application/json"])
  try {
    return JSON.stringify(decodeKubernetesProtobuf(bytes))
  } catch (e) {
    if (e instanceof ProtobufError) throw Errors.badRequest(`the body of the request could not be decoded as protobuf: ${e.message}`)
    throw e
  }
}

interface Route {
  target: Target
  verb: string
  collection: boolean
  watchName?: string
  /** Set by create: the request log names the created object, as an audit log does. */
  createdName?: string
}

export class ApiServer {
  /** Authentication, first for every request (discovery too): throw an ApiError (401) to refuse. */
  /** Authenticates a request (throws 401), returning who made it. */
  authenticate: (req: Request) => { readonly username: string } | void = () => {}
  /** Authorisation of a resource request: throw an ApiError to refuse. */
  authorize: (attrs: RequestAttributes, req: Request) => void = () => {}
  /** Requests answered by a handler of their own (the access reviews) rather than the store; undefined = not handled. */
  intercept: (attrs: RequestAttributes, req: Request, body: string) => Response | undefined = () => undefined

  constructor(
    readonly api: Api,
    readonly hub: WatchHub,
    readonly log: RequestLog,
    readonly faults: Faults,
    private readonly port: () => number,
  ) {
    this.openapi = new OpenApi(api.registry, SERVER_VERSION.gitVersion)
  }

  private readonly openapi: OpenApi

  async handle(req: Request): Promise<Response> {
    const url = new URL(req.url)
    const segs = url.pathname.split("/").filter((s) => s !== "").map(decodeURIComponent)
    let user: string | undefined
    try {
      user = this.authenticate(req)?.username
      const meta = this.nonResource(segs, req.headers.get("accept") ?? "")
      if (meta) return meta
    } catch (e) {
      if (e instanceof ApiError) return errorResponse(e)
      throw e
    }
    const bytes = req.method === "GET" || req.method === "HEAD" ? new Uint8Array() : new Uint8Array(await req.arrayBuffer())
    const record = {
      verb: "",
      method: req.method,
      path: url.pathname + url.search,
      group: "",
      resource: "",
      contentType: req.headers.get("content-type") ?? undefined,
      bodySize: bytes.length,
      status: 0,
      at: Date.now(),
      ...(user !== undefined ? { user } : {}),
    } as import("./faults.ts").RequestRecord
    let res: Response
    try {
      const route = this.route(segs, req.method, url.searchParams)
      const body = requestBody(req, bytes)
      const t = route.target
      record.verb = route.verb
      record.group = t.type.group
      record.resource = t.type.resource
      if (t.subresource) record.subresource = t.subresource
      if (t.namespace) record.namespace = t.namespace
      if (t.name) record.name = t.name
      const attrs: RequestAttributes = {
        verb: route.verb,
        group: t.type.group,
        resource: t.type.resource,
        subresource: t.subresource,
        namespace: t.namespace,
        name: t.name,
      }
      const delay = this.faults.latencyFor(attrs)
      if (delay > 0) await Bun.sleep(delay)
      const injected = this.faults.take(attrs)
      if (injected) throw injected
      this.authorize(attrs, req)
      res = this.intercept(attrs, req, body) ?? this.dispatch(route, req, url.searchParams, body)
      if (route.createdName) record.name = route.createdName
    } catch (e) {
      res = e instanceof ApiError ? errorResponse(e) : errorResponse(Errors.internal(e instanceof Error ? e.message : String(e)))
    }
    record.status = res.status
    this.log.add(record)
    return res
  }

  /** Discovery, version and health endpoints (not logged). */
  private nonResource(segs: string[], accept: string): Response | undefined {
    const reg = this.api.registry
    const [a, b, c] = segs
    if (segs.length === 1 && a === "version") return json(SERVER_VERSION)
    if (segs.length === 1 && (a === "healthz" || a === "livez" || a === "readyz")) return new Response("ok", { headers: { "Content-Type": "text/plain" } })
    if (a === "openapi") {
      if (b === "v3") {
        const doc = this.openapi.v3(segs.slice(2))
        if (!doc) throw Errors.pathNotFound()
        return json(doc)
      }
      if (b === "v2" && segs.length === 2) {
        if (!/protobuf/.test(accept)) return json(this.openapi.v2Document())
        return new Response(this.openapi.v2Protobuf(), { headers: { "Content-Type": "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" } })
      }
      throw Errors.pathNotFound()
    }
    if (a === "api") {
      if (segs.length === 1) {
        return json({
          kind: "APIVersions",
          versions: ["v1"],
          serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: `127.0.0.1:${this.port()}` }],
        })
      }
      if (segs.length === 2) {
        const list = b === "v1" ? reg.resourceList("", "v1") : undefined
        if (!list) throw Errors.pathNotFound()
        return json(list)
      }
      return undefined
    }
    if (a === "apis") {
      if (segs.length === 1) return json(reg.apiGroupList())
      if (segs.length === 2) {
        const g = reg.apiGroup(b!)
        if (!g) throw Errors.pathNotFound()
        return json({ kind: "APIGroup", apiVersion: "v1", ...g })
      }
      if (segs.length === 3) {
        const list = reg.resourceList(b!, c!)
        if (!list) throw Errors.pathNotFound()
        return json(list)
      }
      return undefined
    }
    throw Errors.pathNotFound()
  }

  private route(segs: string[], method: string, q: URLSearchParams): Route {
    let group: string
    let version: string
    let rest: string[]
    if (segs[0] === "api") {
      group = ""
      version = segs[1]!
      rest = segs.slice(2)
    } else {
      group = segs[1]!
      version = segs[2]!
      rest = segs.slice(3)
    }
    let watch = queryBool(q, "watch")
    if (rest[0] === "watch") {
      watch = true
      rest = rest.slice(1)
    }
    const reg = this.api.registry
    let type: ResourceType | undefined
    let namespace: string | undefined
    let name: string | undefined
    let subresource: string | undefined
    const nsType = rest[0] === "namespaces" && rest.length >= 3 ? reg.find(group, version, rest[2]!) : undefined
    if (nsType?.namespaced && rest.length <= 5) {
      type = nsType
      namespace = rest[1]
      name = rest[3]
      subresource = rest[4]
    } else if (rest.length >= 1 && rest.length <= 3) {
      type = reg.find(group, version, rest[0]!)
      name = rest[1]
      subresource = rest[2]
      if (type?.namespaced && name !== undefined) type = undefined
    }
    if (!type) throw Errors.pathNotFound()
    if (subresource !== undefined) {
      const ok = (subresource === "status" && type.status) || (subresource === "scale" && type.scale)
      if (!ok) throw Errors.pathNotFound()
    }
    const dryRun = q.getAll("dryRun").includes("All")
    const fieldValidation = q.get("fieldValidation") ?? undefined
    if (fieldValidation !== undefined && !["Strict", "Warn", "Ignore"].includes(fieldValidation)) {
      throw Errors.badRequest(`fieldValidation must be one of "Ignore", "Strict", "Warn" (got ${JSON.stringify(fieldValidation)})`)
    }
    const target: Target = { type, version, namespace, name, subresource, dryRun, fieldValidation, warnings: [] }
    const collection = name === undefined
    let verb: string
    if (watch) {
      if (method !== "GET") throw Errors.methodNotAllowed(method)
      verb = "watch"
      if (!collection) {
        // Legacy single-object watch path: a watch of the collection narrowed to the name.
        return { target: { ...target, name: undefined }, verb, collection: true, watchName: name }
      }
      return { target, verb, collection }
    }
    switch (method) {
      case "GET":
        verb = collection ? "list" : "get"
        break
      case "POST":
        if (!collection) throw Errors.methodNotAllowed(method)
        verb = "create"
        break
      case "PUT":
        if (collection) throw Errors.methodNotAllowed(method)
        verb = "update"
        break
      case "PATCH":
        if (collection) throw Errors.methodNotAllowed(method)
        verb = "patch"
        break
      case "DELETE":
        verb = collection ? "deletecollection" : "delete"
        if (subresource) throw Errors.methodNotAllowed(method)
        break
      default:
        throw Errors.methodNotAllowed(method)
    }
    if (!type.verbs.includes(verb) && !subresource) throw Errors.methodNotAllowed(method)
    return { target, verb, collection }
  }

  private parseBody(body: string): unknown {
    if (body.trim() === "") return undefined
    try {
      return JSON.parse(body)
    } catch (e) {
      throw Errors.badRequest(`the body of the request could not be decoded as JSON: ${(e as Error).message}`)
    }
  }

  private wantsTable(req: Request): boolean {
    const accept = req.headers.get("accept") ?? ""
    return /as=Table/.test(accept)
  }

  private dispatch(route: Route, req: Request, q: URLSearchParams, body: string): Response {
    const t = route.target
    const api = this.api
    switch (route.verb) {
      case "get": {
        const obj = api.getObject(t)
        if (t.subresource === "scale") return json(api.scaleOf(t, obj))
        const ext = api.toExternal(t.type, t.version, obj)
        if (this.wantsTable(req) && !t.subresource) {
          return json(toTable(t.type, t.version, [ext], { resourceVersion: ext.metadata.resourceVersion }, q.get("includeObject")))
        }
        return json(ext)
      }
      case "list":
        return this.list(t, req, q)
      case "watch":
        return this.watch(t, q, req, route.watchName)
      case "create": {
        const ct = (req.headers.get("content-type") ?? "application/json").split(";")[0]!.trim()
        if (ct !== "application/json" && ct !== PROTOBUF && ct !== "") throw Errors.unsupportedMediaType(ct, ["application/json", PROTOBUF])
        const created = api.create(t, this.parseBody(body))
        route.createdName = created?.metadata?.name
        return withWarnings(json(created, 201), t)
      }
      case "update": {
        const r = api.update(t, this.parseBody(body))
        return withWarnings(json(r.obj, r.created ? 201 : 200), t)
      }
      case "patch":
        return withWarnings(json(api.patch(t, req.headers.get("content-type") ?? "", body)), t)
      case "delete": {
        const options: any = (this.parseBody(body) as any) ?? {}
        const { obj, deleted } = api.delete(t, options)
        if (deleted && !t.type.returnDeletedObject) {
          const details: Record<string, unknown> = { name: t.name }
          if (t.type.group) details.group = t.type.group
          details.kind = t.type.resource
          details.uid = obj.metadata.uid
          return json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details })
        }
        return json(obj)
      }
      case "deletecollection": {
        const options: any = (this.parseBody(body) as any) ?? {}
        const items = this.select(t, q).map(({ obj }) => obj)
        const out: any[] = []
        for (const o of items) {
          try {
            out.push(api.delete({ ...t, name: o.metadata.name, namespace: o.metadata.namespace }, options).obj)
          } catch (e) {
            if (!(e instanceof ApiError && e.code === 404)) throw e
          }
        }
        return json({
          kind: t.type.listKind,
          apiVersion: api.apiVersion(t.type, t.version),
          metadata: { resourceVersion: String(api.store.resourceVersion) },
          items: out,
        })
      }
    }
    throw Errors.methodNotAllowed(req.method)
  }

  private selectors(t: Target, q: URLSearchParams): (obj: any) => boolean {
    try {
      const ls = q.get("labelSelector")
      const fs = q.get("fieldSelector")
      const labels = ls ? parseLabelSelector(ls) : undefined
      const fields = fs ? parseFieldSelector(fs, t.type.fieldSelectors) : undefined
      return (obj) => (!labels || matchLabels(labels, obj.metadata?.labels)) && (!fields || matchFields(fields, obj))
    } catch (e) {
      if (e instanceof SelectorError) throw Errors.badRequest(e.message)
      throw e
    }
  }

  private select(t: Target, q: URLSearchParams): { key: string; obj: any }[] {
    const match = this.selectors(t, q)
    return this.api.store.list(this.api.gr(t.type), t.namespace).filter(({ obj }) => match(obj))
  }

  private list(t: Target, req: Request, q: URLSearchParams): Response {
    const api = this.api
    const store = api.store
    let listRv = store.resourceVersion
    let rows = this.select(t, q)
    const cont = q.get("continue")
    if (cont) {
      const token = decodeContinue(cont)
      if (token.rv < store.oldestResumable) {
        throw Errors.gone(
          "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        )
      }
      listRv = token.rv
      rows = rows.filter((r) => r.key >= token.start)
    } else {
      const rv = q.get("resourceVersion")
      const match = q.get("resourceVersionMatch")
      if (rv && rv !== "0" && match === "Exact" && Number(rv) < store.oldestResumable) {
        throw Errors.gone(`too old resource version: ${rv} (${store.oldestResumable})`)
      }
      const asOf = rv === "0" ? this.faults.takeStaleList({ verb: "list", group: t.type.group, resource: t.type.resource, namespace: t.namespace }) : undefined
      if (asOf !== undefined) {
        listRv = Math.max(asOf, store.oldestResumable)
        rows = rows.filter(({ obj }) => Number(obj.metadata?.resourceVersion) <= listRv)
      }
    }
    const metadata: Record<string, unknown> = { resourceVersion: String(listRv) }
    // resourceVersion=0 is served from kube-apiserver's watch cache, which (1.34) answers with every object, limit or not.
    const limit = !cont && q.get("resourceVersion") === "0" ? 0 : Number(q.get("limit") ?? 0)
    if (limit > 0 && rows.length > limit) {
      const last = rows[limit - 1]!
      metadata.continue = encodeContinue(listRv, last.key + "\u0000")
      metadata.remainingItemCount = rows.length - limit
      rows = rows.slice(0, limit)
    }
    const table = this.wantsTable(req)
    const items = rows.map(({ obj }) => {
      // The response is serialised at once and nothing here changes the object: a shallow copy with
      // the type's apiVersion and kind serves it (a deep copy of each of 10,000 objects per list did not).
      if (t.type.aliasOf) return api.toExternal(t.type, t.version, obj)
      const { apiVersion: _apiVersion, kind: _kind, ...rest } = obj
      return t.type.crd || table ? { apiVersion: api.apiVersion(t.type, t.version), kind: t.type.kind, ...rest } : rest
    })
    if (table) return json(toTable(t.type, t.version, items, metadata, q.get("includeObject")))
    return json({ kind: t.type.listKind, apiVersion: api.apiVersion(t.type, t.version), metadata, items })
  }

  private watch(t: Target, q: URLSearchParams, req: Request, name?: string): Response {
    const api = this.api
    const store = api.store
    const sel = this.selectors(t, q)
    const matches = name === undefined ? sel : (o: any) => o.metadata?.name === name && sel(o)
    // kubectl get -w asks for Tables: one row per event, the column definitions only on the first, as the real server sends.
    const asTable = this.wantsTable(req)
    let headers = true
    const render = (o: any) => {
      const ext = api.toExternal(t.type, t.version, o)
      if (!asTable) return ext
      const table = toTable(t.type, t.version, [ext], { resourceVersion: ext.metadata?.resourceVersion }, q.get("includeObject"))
      if (!headers) table.columnDefinitions = null
      headers = false
      return table
    }
    const spec: WatchSpec = {
      gr: api.gr(t.type),
      type: t.type,
      apiVersion: api.apiVersion(t.type, t.version),
      namespace: t.namespace,
      matches,
      render,
      initial: [],
      bookmarks: queryBool(q, "allowWatchBookmarks"),
    }
    const timeout = q.get("timeoutSeconds")
    if (timeout !== null && Number(timeout) > 0) spec.timeoutMs = Number(timeout) * 1000
    const rvParam = q.get("resourceVersion")
    if (!rvParam || rvParam === "0") {
      for (const { obj } of store.list(spec.gr, t.namespace)) {
        if (matches(obj)) spec.initial.push({ type: "ADDED", object: render(obj) })
      }
    } else {
      const rv = Number(rvParam)
      if (!Number.isInteger(rv) || rv < 0) throw Errors.badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a valid resource version`)
      const events = store.since(rv)
      if (!events) {
        return WatchHub.errorStream(Errors.gone(`too old resource version: ${rv} (${store.oldestResumable})`).toStatus())
      }
      for (const ev of events) {
        if (ev.gr !== spec.gr) continue
        const out = translate(spec, ev)
        if (out) spec.initial.push(out)
      }
    }
    return this.hub.open(spec, req.signal)
  }
}
