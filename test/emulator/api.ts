/**
 * The semantics of the emulated kube-apiserver: create, update, patch,
 * delete and their side effects (generation, finalizers, status and scale
 * subresources, CRD serving, namespace termination, garbage collection),
 * independent of HTTP.
 */
import { randomUUID } from "node:crypto"
import { ApiError, Errors, type StatusCause } from "./errors.ts"
import { coreToEventsV1, eventsV1ToCore } from "./events.ts"
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from "./patch.ts"
import { Registry, type ResourceType } from "./registry.ts"
import { Store, grKey, objKey, type StoreEvent } from "./store.ts"
import { validateObjectMeta, validateObjectName } from "./builtins.ts"
import { getPath, isObject, jsonEqual, now, setPath } from "./json.ts"
import { CRD_CLEANUP, strategyFor, type Strategy } from "./strategies.ts"

export { getPath, jsonEqual, now } from "./json.ts"

/** What a request addresses once routed. */
export interface Target {
  type: ResourceType
  version: string
  namespace?: string
  name?: string
  subresource?: string
  dryRun?: boolean
  /** The request's fieldValidation: Strict refuses unknown fields, Warn (the default) reports them, Ignore drops them. */
  fieldValidation?: string
  /** Warnings for the response's Warning headers (unknown fields under Warn). */
  warnings?: string[]
}

export const PATCH_TYPES = {
  json: "application/json-patch+json",
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
}

/**
 * ObjectMeta as the real server stores it: Go's `omitempty` leaves out empty
 * strings, maps and lists, so `labels: {}` or `finalizers: []` in a request
 * come back absent (and kubectl apply's three-way patch sees them so).
 */
function dropEmptyMetadata(meta: Record<string, unknown> | undefined): void {
  if (!meta) return
  for (const [k, v] of Object.entries(meta)) {
    const empty = v === null || v === "" || (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0)
    if (empty) delete meta[k]
  }
}

const GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

function randomSuffix(): string {
  let s = ""
  for (let i = 0; i < 5; i++) s += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)]
  return s
}

export interface ApiHooks {
  /** Called after every committed change (after the store event). */
  onChange?(ev: StoreEvent): void
  /** Called when a resource type stops being served (its watches must end). */
  onUnserve?(type: ResourceType): void
}

export class Api {
  readonly registry = new Registry()
  readonly store: Store
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private nextIP = 2
  private stopped = false
  hooks: ApiHooks = {}

  constructor(historySize: number) {
    this.store = new Store(historySize)
    this.store.subscribe((ev) => this.afterChange(ev))
  }

  stop(): void {
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  /** Runs fn soon (as the real server's controllers would), unless stopped. */
  later(fn: () => void, ms = 0): void {
    if (this.stopped) return
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (!this.stopped) fn()
    }, ms)
    this.timers.add(t)
  }

  // ---- representation -------------------------------------------------------

  storageType(type: ResourceType): ResourceType {
    if (!type.aliasOf) return type
    return this.registry.byResource(type.aliasOf.group, type.aliasOf.resource) ?? type
  }

  gr(type: ResourceType): string {
    const s = this.storageType(type)
    return grKey(s.group, s.resource)
  }

  apiVersion(type: ResourceType, version: string): string {
    return type.group ? `${type.group}/${version}` : version
  }

  /** The stored object as the client sees it at `version`. */
  toExternal(type: ResourceType, version: string, obj: any): any {
    if (type.aliasOf) return coreToEventsV1(obj)
    const out = structuredClone(obj)
    out.apiVersion = this.apiVersion(type, version)
    out.kind = type.kind
    // Keep apiVersion/kind first, as the real server writes them.
    return { apiVersion: out.apiVersion, kind: out.kind, ...out }
  }

  private toInternal(type: ResourceType, obj: any): any {
    if (type.aliasOf) return eventsV1ToCore(obj)
    const st = this.storageType(type)
    obj.apiVersion = this.apiVersion(st, st.versions[0]!)
    obj.kind = st.kind
    return obj
  }

  getObject(t: Target): any {
    const obj = this.store.get(this.gr(t.type), objKey(t.namespace, t.name!))
    if (!obj) throw Errors.notFound(t.type.group, t.type.resource, t.name!)
    return obj
  }

  // ---- checks ---------------------------------------------------------------

  private checkBody(t: Target, body: unknown): Record<string, any> {
    if (!isObject(body)) throw Errors.badRequest("the body of the request was not a JSON object")
    const expected = this.apiVersion(t.type, t.version)
    if (t.subresource !== "scale") {
      if (body.apiVersion !== undefined && body.apiVersion !== expected) {
        throw Errors.badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${expected})`)
      }
      if (body.kind !== undefined && body.kind !== t.type.kind) {
        throw Errors.badRequest(`the kind in the data (${body.kind}) does not match the expected kind (${t.type.kind})`)
      }
    }
    if (body.metadata !== undefined && !isObject(body.metadata)) throw Errors.badRequest("metadata must be an object")
    return body
  }

  private checkNamespace(t: Target, name: string): void {
    if (!t.type.namespaced) return
    const ns = this.store.get(grKey("", "namespaces"), t.namespace!)
    if (!ns) throw Errors.notFound("", "namespaces", t.namespace!)
    if (ns.metadata.deletionTimestamp || ns.status?.phase === "Terminating") {
      throw Errors.forbidden(
        t.type.group,
        t.type.resource,
        name,
        `unable to create new content in namespace ${t.namespace} because it is being terminated`,
        [{ reason: "NamespaceTerminating", message: `namespace ${t.namespace} is being terminated`, field: "metadata.namespace" }],
      )
    }
  }

  /** The kind's strategy (defaulting, validation, generation, status and scale handling, deletion). */
  strategy(type: ResourceType): Strategy {
    return strategyFor(type)
  }

  /** Defaulting and validation, in the real server's order; throws 422 Invalid. */
  private admit(t: Target, obj: any, old: any | undefined): any {
    const type = this.storageType(t.type)
    const strategy = this.strategy(t.type)
    dropEmptyMetadata(obj.metadata)
    this.checkUnknownFields(t, strategy.unknownFields(obj, t.version))
    const undecodable = strategy.decodeError(obj)
    if (undecodable) throw Errors.badRequest(undecodable)
    obj = strategy.default(obj, t.version, { allocateClusterIP: () => this.allocateClusterIP() })
    const causes: StatusCause[] = []
    if (!old) {
      for (const m of validateObjectName(obj.metadata.name, type.nameRule)) {
        causes.push({ reason: "FieldValueInvalid", message: `Invalid value: ${JSON.stringify(obj.metadata.name)}: ${m}`, field: "metadata.name" })
      }
    }
    causes.push(...validateObjectMeta(obj.metadata))
    causes.push(...strategy.validate(obj, old, t.version))
    if (causes.length) throw Errors.invalid(t.type.group, t.type.kind, obj.metadata.name, causes)
    return obj
  }

  /** Unknown fields by the request's fieldValidation, as the real server's decoder treats them. */
  private checkUnknownFields(t: Target, paths: string[]): void {
    if (paths.length === 0) return
    const directive = t.fieldValidation ?? "Warn"
    if (directive === "Ignore") return
    const each = paths.map((p) => `unknown field ${JSON.stringify(p)}`)
    if (directive === "Strict") {
      const kind = t.type.kind
      throw Errors.badRequest(`${kind} in version ${JSON.stringify(t.version)} cannot be handled as a ${kind}: strict decoding error: ${each.join(", ")}`)
    }
    t.warnings?.push(...each)
  }

  allocateClusterIP(): string {
    const n = this.nextIP++
    return `10.96.${Math.floor(n / 250) % 256}.${(n % 250) + 1}`
  }

  // ---- create ---------------------------------------------------------------

  create(t: Target, body: unknown): any {
    const type = t.type
    let obj: any = structuredClone(this.checkBody(t, body))
    obj.metadata ??= {}
    const meta = obj.metadata
    if (type.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== "" && meta.namespace !== t.namespace) {
        throw Errors.badRequest("the namespace of the provided object does not match the namespace sent on the request")
      }
      meta.namespace = t.namespace
    } else {
      delete meta.namespace
    }
    if (!meta.name) {
      if (meta.generateName) meta.name = `${meta.generateName}${randomSuffix()}`
      else {
        throw Errors.invalid(type.group, type.kind, "", [
          { reason: "FieldValueRequired", message: "Required value: name or generateName is required", field: "metadata.name" },
        ])
      }
    }
    const crdType = this.crdOf(type)
    if (crdType?.metadata?.deletionTimestamp) {
      throw new ApiError(405, "MethodNotAllowed", `create not allowed while custom resource definition is terminating`, {})
    }
    this.checkNamespace(t, meta.name)
    // System-managed metadata.
    for (const k of ["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink", "managedFields"]) delete meta[k]
    const strategy = this.strategy(type)
    strategy.prepareForCreate(obj)
    if (type.aliasOf) {
      // Validate and default in the requested API's shape, then store as core.
      obj = this.admit(t, obj, undefined)
      obj = this.toInternal(type, obj)
    } else {
      obj.apiVersion = this.apiVersion(type, t.version)
      obj.kind = type.kind
      obj = this.admit(t, obj, undefined)
      this.toInternal(type, obj)
    }
    strategy.finishCreate(obj)
    const m = obj.metadata
    m.uid = randomUUID()
    m.creationTimestamp = now()
    if (strategy.generation) m.generation = 1
    else delete m.generation
    const gr = this.gr(type)
    const key = objKey(m.namespace, m.name)
    if (this.store.get(gr, key)) throw Errors.alreadyExists(type.group, type.resource, m.name)
    if (t.dryRun) return this.toExternal(type, t.version, { ...obj, metadata: { ...m, resourceVersion: undefined } })
    this.store.create(gr, key, obj)
    return this.toExternal(type, t.version, this.store.get(gr, key))
  }

  private crdOf(type: ResourceType): any | undefined {
    if (!type.crd) return undefined
    return this.store.get(grKey("apiextensions.k8s.io", "customresourcedefinitions"), type.crd.name)
  }

  // ---- update ---------------------------------------------------------------

  /** PUT. */
  update(t: Target, body: unknown): { obj: any; created: boolean } {
    const candidate = structuredClone(this.checkBody(t, body))
    candidate.metadata ??= {}
    if (candidate.metadata.name !== undefined && candidate.metadata.name !== t.name) {
      throw Errors.badRequest(`the name of the object (${candidate.metadata.name}) does not match the name on the URL (${t.name})`)
    }
    if (t.type.namespaced && candidate.metadata.namespace && candidate.metadata.namespace !== t.namespace) {
      throw Errors.badRequest("the namespace of the provided object does not match the namespace sent on the request")
    }
    const gr = this.gr(t.type)
    const old = this.store.get(gr, objKey(t.namespace, t.name!))
    if (!old) {
      if (this.strategy(t.type).allowCreateOnUpdate && !t.subresource) {
        candidate.metadata.name = t.name
        return { obj: this.create(t, candidate), created: true }
      }
      throw Errors.notFound(t.type.group, t.type.resource, t.name!)
    }
    if (t.subresource === "scale") return { obj: this.writeScale(t, old, candidate), created: false }
    if (!candidate.metadata.resourceVersion && !t.type.unconditionalUpdate) {
      throw Errors.invalid(t.type.group, t.type.resource, t.name!, [
        { reason: "FieldValueInvalid", message: "Invalid value: 0x0: must be specified for an update", field: "metadata.resourceVersion" },
      ])
    }
    const internal = t.type.aliasOf ? eventsV1ToCore(candidate) : candidate
    return { obj: this.commit(t, old, internal), created: false }
  }

  /** PATCH. */
  patch(t: Target, contentType: string, body: string): any {
    const ct = contentType.split(";")[0]!.trim().toLowerCase()
    const accepted = [PATCH_TYPES.json, PATCH_TYPES.merge]
    if (this.strategy(t.type).strategicMerge) accepted.push(PATCH_TYPES.strategic)
    if (!accepted.includes(ct)) throw Errors.unsupportedMediaType(ct, accepted)
    let patch: unknown
    try {
      patch = JSON.parse(body)
    } catch (e) {
      throw Errors.badRequest(`error decoding patch: ${(e as Error).message}`)
    }
    const gr = this.gr(t.type)
    const old = this.store.get(gr, objKey(t.namespace, t.name!))
    if (!old) throw Errors.notFound(t.type.group, t.type.resource, t.name!)
    const current = t.subresource === "scale" ? this.scaleOf(t, old) : this.toExternal(t.type, t.version, old)
    let patched: any
    try {
      if (ct === PATCH_TYPES.json) patched = applyJsonPatch(current, patch)
      else if (ct === PATCH_TYPES.merge) {
        if (!isObject(patch)) throw Errors.badRequest("the body of the merge patch is not a JSON object")
        patched = applyMergePatch(current, patch)
      } else {
        if (!isObject(patch)) throw Errors.badRequest("the body of the strategic merge patch is not a JSON object")
        patched = applyStrategicMergePatch(current, patch, t.subresource === "scale" ? "Scale" : t.type.kind)
      }
    } catch (e) {
      // A patch that cannot be applied is 422 with empty details, as the real server answers.
      if (e instanceof PatchError) throw new ApiError(e.code, e.reason, e.message, e.code === 422 ? {} : undefined)
      throw e
    }
    if (!isObject(patched)) throw Errors.badRequest("the patched object is not a JSON object")
    patched.metadata ??= {}
    if (patched.metadata.name !== t.name) {
      throw Errors.badRequest(`the name of the object (${patched.metadata.name}) does not match the name on the URL (${t.name})`)
    }
    if (t.subresource === "scale") return this.writeScale(t, old, patched)
    const internal = t.type.aliasOf ? eventsV1ToCore(patched) : patched
    return this.commit(t, old, internal)
  }

  /** The autoscaling/v1 Scale of an object with a scale subresource. */
  scaleOf(t: Target, obj: any): any {
    const sc = t.type.scale!
    const m = obj.metadata
    const selector = this.strategy(t.type).scaleSelector(obj)
    const status: Record<string, unknown> = { replicas: Number(getPath(obj, sc.statusReplicasPath) ?? 0) }
    if (selector !== undefined) status.selector = selector
    const metadata: Record<string, unknown> = { name: m.name }
    if (m.namespace) metadata.namespace = m.namespace
    Object.assign(metadata, { uid: m.uid, resourceVersion: m.resourceVersion, creationTimestamp: m.creationTimestamp })
    const replicas = getPath(obj, sc.specReplicasPath)
    // Scale's spec.replicas is omitempty: 0 is left out, as the real server leaves it out.
    return { kind: "Scale", apiVersion: "autoscaling/v1", metadata, spec: replicas === undefined || replicas === 0 ? {} : { replicas }, status }
  }

  private writeScale(t: Target, old: any, scale: any): any {
    const replicas = scale?.spec?.replicas ?? 0
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw Errors.invalid("autoscaling", "Scale", t.name!, [
        { reason: "FieldValueInvalid", message: `Invalid value: ${JSON.stringify(replicas)}: must be greater than or equal to 0`, field: "spec.replicas" },
      ])
    }
    const rv = scale?.metadata?.resourceVersion
    if (rv && rv !== old.metadata.resourceVersion) throw Errors.modified(t.type.group, t.type.resource, t.name!)
    const next = structuredClone(old)
    setPath(next, t.type.scale!.specReplicasPath, replicas)
    const updated = this.commit({ ...t, subresource: "scale" }, old, next)
    return this.scaleOf(t, this.store.get(this.gr(t.type), objKey(t.namespace, t.name!)) ?? updated)
  }

  /**
   * Applies an update of `old` to `candidate` (both internal shape): the
   * subresource strategy, immutable metadata, admission, generation, no-op
   * detection, then stores it. Returns the external form.
   */
  commit(t: Target, old: any, candidate: any): any {
    const type = t.type
    const cm = candidate.metadata ?? {}
    const om = old.metadata
    if (cm.resourceVersion && cm.resourceVersion !== om.resourceVersion) throw Errors.modified(type.group, type.resource, t.name!)
    if (cm.uid && cm.uid !== om.uid) {
      throw Errors.conflict(type.group, type.resource, t.name!, `Precondition failed: UID in precondition: ${cm.uid}, UID in object meta: ${om.uid}`)
    }
    const strategy = this.strategy(type)
    let next: any = t.subresource === "status" ? strategy.prepareForStatusUpdate(candidate, old) : strategy.prepareForUpdate(candidate, old)
    next.apiVersion = old.apiVersion
    next.kind = old.kind
    const nm = next.metadata ?? (next.metadata = {})
    nm.name = om.name
    if (om.namespace) nm.namespace = om.namespace
    else delete nm.namespace
    for (const k of ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"]) {
      if (om[k] !== undefined) nm[k] = om[k]
      else delete nm[k]
    }
    delete nm.selfLink
    delete nm.managedFields
    nm.resourceVersion = om.resourceVersion
    if (om.deletionTimestamp) {
      const added = ((nm.finalizers ?? []) as string[]).filter((f) => !((om.finalizers ?? []) as string[]).includes(f))
      if (added.length) {
        throw Errors.invalid(type.group, type.kind, t.name!, [
          {
            reason: "FieldValueForbidden",
            message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(", ")}}`,
            field: "metadata.finalizers",
          },
        ])
      }
    }
    if (t.subresource !== "status") {
      if (type.aliasOf) next = this.toInternal(type, this.admit(t, coreToEventsV1(next), coreToEventsV1(old)))
      else {
        next.apiVersion = this.apiVersion(type, t.version)
        next = this.admit(t, next, old)
        this.toInternal(type, next)
      }
    } else {
      this.checkUnknownFields(t, strategy.unknownFields(next, t.version))
      next = strategy.admitStatus(next, t.version)
    }
    // Admission returns new objects: take the metadata from the result.
    const fm = next.metadata
    // generation follows changes outside metadata (and status, when status is a subresource).
    if (strategy.generation && fm.generation !== undefined && strategy.specChanged(old, next)) fm.generation = (om.generation ?? 0) + 1
    if (jsonEqual(old, next)) return this.toExternal(type, t.version, old)
    if (t.dryRun) return this.toExternal(type, t.version, next)
    const gr = this.gr(type)
    const key = objKey(om.namespace, om.name)
    this.store.update(gr, key, next)
    if (fm.deletionTimestamp && (fm.finalizers ?? []).length === 0 && !strategy.holdsDeletion(next)) {
      const gone = this.store.remove(gr, key)
      return this.toExternal(type, t.version, gone)
    }
    return this.toExternal(type, t.version, next)
  }

  // ---- delete ---------------------------------------------------------------

  delete(t: Target, options: any): { obj: any; deleted: boolean } {
    const type = t.type
    const gr = this.gr(type)
    const key = objKey(t.namespace, t.name!)
    const old = this.store.get(gr, key)
    if (!old) throw Errors.notFound(type.group, type.resource, t.name!)
    const pre = options?.preconditions ?? {}
    if (pre.uid && pre.uid !== old.metadata.uid) {
      throw Errors.conflict(type.group, type.resource, t.name!, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`)
    }
    if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion) {
      throw Errors.conflict(
        type.group,
        type.resource,
        t.name!,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      )
    }
    if (t.dryRun) return { obj: this.toExternal(type, t.version, old), deleted: false }
    return this.deleteStored(type, t.version, gr, key)
  }

  /** Deletes (or marks for deletion) a stored object; used by DELETE, namespace cleanup and GC. */
  deleteStored(type: ResourceType, version: string, gr: string, key: string): { obj: any; deleted: boolean } {
    const old = this.store.get(gr, key)
    if (!old) return { obj: undefined, deleted: false }
    const graceful = this.strategy(type).gracefulDeletion
    const finalizers: string[] = old.metadata.finalizers ?? []
    if (finalizers.length > 0 || graceful) {
      if (old.metadata.deletionTimestamp) return { obj: this.toExternal(type, version, old), deleted: false }
      const next = structuredClone(old)
      next.metadata.deletionTimestamp = now()
      next.metadata.deletionGracePeriodSeconds = 0
      if (next.metadata.generation !== undefined) next.metadata.generation += 1
      graceful?.mark(next)
      this.store.update(gr, key, next)
      if (graceful?.finalizer === "namespace") this.later(() => this.finalizeNamespace(next.metadata.name))
      if (graceful?.finalizer === "crd") this.later(() => this.finalizeCRD(next.metadata.name))
      return { obj: this.toExternal(type, version, next), deleted: false }
    }
    const gone = this.store.remove(gr, key)
    return { obj: this.toExternal(type, version, gone), deleted: true }
  }

  /** The namespace controller: delete the contents, then the namespace. */
  private finalizeNamespace(name: string): void {
    const nsGr = grKey("", "namespaces")
    const ns = this.store.get(nsGr, name)
    if (!ns || !ns.metadata.deletionTimestamp) return
    let remaining = 0
    for (const t of this.registry.all()) {
      if (!t.namespaced || t.aliasOf) continue
      const gr = grKey(t.group, t.resource)
      for (const { key, obj } of this.store.list(gr, name)) {
        remaining++
        if (!obj.metadata.deletionTimestamp) this.deleteStored(t, t.versions[0]!, gr, key)
      }
    }
    // Anything left is waiting on its finalizers; the change that removes them re-runs this.
    for (const t of this.registry.all()) {
      if (!t.namespaced || t.aliasOf) continue
      if (this.store.list(grKey(t.group, t.resource), name).length) return
    }
    void remaining
    const cur = this.store.get(nsGr, name)
    if (!cur) return
    if ((cur.spec?.finalizers ?? []).length) {
      const next = structuredClone(cur)
      next.spec.finalizers = []
      this.store.update(nsGr, name, next)
    }
    const latest = this.store.get(nsGr, name)
    if (latest && (latest.metadata.finalizers ?? []).length === 0) this.store.remove(nsGr, name)
  }

  /** The CRD finalizer: delete every custom resource, then the CRD, then stop serving. */
  private finalizeCRD(name: string): void {
    const crdGr = grKey("apiextensions.k8s.io", "customresourcedefinitions")
    const crd = this.store.get(crdGr, name)
    if (!crd || !crd.metadata.deletionTimestamp) return
    const type = this.registry.byCRD(name)
    if (type) {
      const gr = grKey(type.group, type.resource)
      for (const { key, obj } of this.store.list(gr)) {
        if (!obj.metadata.deletionTimestamp) this.deleteStored(type, type.versions[0]!, gr, key)
      }
      if (this.store.list(gr).length) return
    }
    const next = structuredClone(crd)
    next.metadata.finalizers = (next.metadata.finalizers ?? []).filter((f: string) => f !== CRD_CLEANUP)
    this.store.update(crdGr, name, next)
    if (next.metadata.finalizers.length === 0) this.store.remove(crdGr, name)
  }

  // ---- reactions to changes -------------------------------------------------

  private gcScheduled = false

  private afterChange(ev: StoreEvent): void {
    const [group, resource] = ev.gr.split("/") as [string, string]
    if (group === "apiextensions.k8s.io" && resource === "customresourcedefinitions") this.crdChanged(ev)
    if (ev.type === "DELETED") {
      if (!this.gcScheduled) {
        this.gcScheduled = true
        this.later(() => {
          this.gcScheduled = false
          this.collectGarbage()
        })
      }
      const ns = ev.obj.metadata?.namespace
      if (ns) {
        const nsObj = this.store.get(grKey("", "namespaces"), ns)
        if (nsObj?.metadata.deletionTimestamp) this.later(() => this.finalizeNamespace(ns))
      }
      const type = this.registry.byResource(group, resource)
      if (type?.crd) {
        const crd = this.crdOf(type)
        if (crd?.metadata.deletionTimestamp) this.later(() => this.finalizeCRD(type.crd!.name))
      }
    }
    this.hooks.onChange?.(ev)
  }

  private crdChanged(ev: StoreEvent): void {
    const crd = ev.obj
    const name = crd.metadata.name
    if (ev.type === "DELETED") {
      const t = this.registry.unserveCRD(name)
      if (t) this.hooks.onUnserve?.(t)
      return
    }
    this.registry.serveCRD(crd)
    if (crd.metadata.deletionTimestamp) return
    // The CRD controllers: names accepted, established, stored versions.
    const names = crd.spec.names
    const conds = [
      { type: "NamesAccepted", status: "True", reason: "NoConflicts", message: "no conflicts found" },
      { type: "Established", status: "True", reason: "InitialNamesAccepted", message: "the initial names have been accepted" },
    ]
    const storage = (crd.spec.versions ?? []).find((v: any) => v.storage)?.name
    const prevConds: any[] = crd.status?.conditions ?? []
    const status = {
      conditions: conds.map((c) => {
        const p = prevConds.find((x) => x.type === c.type && x.status === c.status)
        return { ...c, lastTransitionTime: p?.lastTransitionTime ?? now() }
      }),
      acceptedNames: {
        plural: names.plural,
        singular: names.singular,
        ...(names.shortNames ? { shortNames: names.shortNames } : {}),
        kind: names.kind,
        listKind: names.listKind,
        ...(names.categories ? { categories: names.categories } : {}),
      },
      storedVersions: [...new Set([...(crd.status?.storedVersions ?? []), ...(storage ? [storage] : [])])],
    }
    if (jsonEqual(crd.status, status)) return
    const next = structuredClone(crd)
    next.status = status
    this.store.update(ev.gr, name, next)
  }

  /** Background garbage collection through ownerReferences. */
  collectGarbage(): void {
    for (const gr of this.store.resources()) {
      const [group, resource] = gr.split("/") as [string, string]
      const type = this.registry.byResource(group, resource)
      if (!type) continue
      for (const { key, obj } of this.store.list(gr)) {
        const refs: any[] = obj.metadata.ownerReferences ?? []
        if (refs.length === 0) continue
        const alive = refs.filter((r) => {
          const at = this.store.uidExists(r.uid)
          if (!at) return false
          const owner = this.store.get(at.gr, at.key)
          const ons = owner?.metadata?.namespace
          return !ons || ons === obj.metadata.namespace
        })
        if (alive.length === 0) {
          if (!obj.metadata.deletionTimestamp) this.deleteStored(type, type.versions[0]!, gr, key)
        } else if (alive.length < refs.length) {
          const next = structuredClone(obj)
          next.metadata.ownerReferences = alive
          this.store.update(gr, key, next)
        }
      }
    }
  }

  // ---- internal writes (controllers) ----------------------------------------

  /** Replaces an object's status as a controller would (no admission); no-op when equal. */
  writeStatus(gr: string, key: string, status: unknown): void {
    const cur = this.store.get(gr, key)
    if (!cur || jsonEqual(cur.status, status)) return
    const next = structuredClone(cur)
    next.status = status
    this.store.update(gr, key, next)
  }
}
