/**
 * Per-kind behaviour of the emulated API server, one strategy per kind as the
 * real apiserver's registry has (`rest.RESTCreateStrategy`, `RESTUpdateStrategy`,
 * the status and scale strategies): what a create or update may set,
 * defaulting, validation, when metadata.generation moves, what the status
 * subresource writes, and how deletion proceeds. The `Api` class runs the
 * request flow and asks the kind's strategy at each of these points.
 */
import { Errors, type StatusCause } from "./errors.ts"
import type { ResourceType } from "./registry.ts"
import { formatLabelSelector, fromLabelSelectorObject } from "./selectors.ts"
import { applyDefaults, pruneUnknownFields, validateAgainstSchema, withRulesNotChecked } from "./structural.ts"
import { applyBuiltinDefaults, builtinDecodeError, validateBuiltin, type DefaultingContext } from "./builtins.ts"
import { getPath, isObject, jsonEqual, now } from "./json.ts"

/** The CRD finalizer the apiextensions server adds on deletion. */
export const CRD_CLEANUP = "customresourcecleanup.apiextensions.k8s.io"

/** The controller that finishes a graceful deletion the kind itself asks for. */
export type Finalizer = "namespace" | "crd"

export interface Strategy {
  /** metadata.generation is kept (1 on create) and bumped when specChanged says so. */
  readonly generation: boolean
  /** Strategic merge patch is accepted (built-ins; custom resources answer 415). */
  readonly strategicMerge: boolean
  /** PUT of a missing object creates it (core events). */
  readonly allowCreateOnUpdate: boolean
  /** Create: clears what a client may not set on create (a status written only through /status). */
  prepareForCreate(obj: any): void
  /** Create, after admission: what the server sets on every new object of the kind. */
  finishCreate(obj: any): void
  /** Defaulting, in the real server's place (after decoding, before validation); may return a new object. */
  default(obj: any, version: string, ctx: DefaultingContext): any
  /** The paths of fields the kind's schema does not have (pruning would drop them), as `spec.a` or `spec.items[0].b`. */
  unknownFields(obj: any, version: string): string[]
  /** Why the object cannot be decoded into the kind's Go type (a 400 before validation, e.g. Secret data that is not base64), or undefined. */
  decodeError(obj: any): string | undefined
  /** Validation of the kind's own fields (ObjectMeta is checked for every kind); `old` on update. */
  validate(obj: any, old: any | undefined, version: string): StatusCause[]
  /** Update through the main endpoint: keeps what it cannot change (status, a namespace's spec). */
  prepareForUpdate(candidate: any, old: any): any
  /** Update through /status: takes the status (and what else the kind lets through) onto the stored object. */
  prepareForStatusUpdate(candidate: any, old: any): any
  /** Admission of a /status write: defaulting and validation where the kind has them; throws 422. */
  admitStatus(next: any, version: string): any
  /** Whether old → next changes what metadata.generation tracks. */
  specChanged(old: any, next: any): boolean
  /** The label selector the Scale subresource reports. */
  scaleSelector(obj: any): string | undefined
  /** Deletion is graceful even without metadata.finalizers: marks the object and names the controller that ends it. */
  readonly gracefulDeletion?: { mark(next: any): void; finalizer: Finalizer }
  /** Still held after its metadata.finalizers are gone (a namespace's spec.finalizers). */
  holdsDeletion(obj: any): boolean
}

/** The behaviour most built-in kinds share; kinds override what they do differently. */
class BuiltinStrategy implements Strategy {
  readonly strategicMerge: boolean = true
  readonly allowCreateOnUpdate: boolean = false
  readonly gracefulDeletion?: { mark(next: any): void; finalizer: Finalizer }

  constructor(
    protected readonly type: ResourceType,
    /** The main endpoint drops a client's status on create (its status belongs to /status). */
    private readonly resetStatusOnCreate = false,
  ) {}

  get generation(): boolean {
    return this.type.generation
  }

  prepareForCreate(obj: any): void {
    if (this.type.status && this.resetStatusOnCreate) delete obj.status
  }

  finishCreate(_obj: any): void {}

  default(obj: any, _version: string, ctx: DefaultingContext): any {
    applyBuiltinDefaults(this.type.group, this.type.resource, obj, ctx)
    return obj
  }

  decodeError(obj: any): string | undefined {
    return builtinDecodeError(this.type.group, this.type.resource, obj)
  }

  /** Built-ins keep unknown fields: the emulator does not have their full schemas. */
  unknownFields(_obj: any, _version: string): string[] {
    return []
  }

  validate(obj: any, old: any | undefined, _version: string): StatusCause[] {
    return validateBuiltin(this.type.group, this.type.resource, obj, old)
  }

  prepareForUpdate(candidate: any, old: any): any {
    if (this.type.status) {
      if (old.status !== undefined) candidate.status = structuredClone(old.status)
      else delete candidate.status
    }
    return candidate
  }

  /** Whether a /status write also takes the client's annotations (most built-ins' status strategies do). */
  protected statusTakesAnnotations = true

  prepareForStatusUpdate(candidate: any, old: any): any {
    const next = structuredClone(old)
    if (candidate.status !== undefined) next.status = candidate.status
    else delete next.status
    const annotations = candidate.metadata?.annotations
    if (this.statusTakesAnnotations && annotations !== undefined) next.metadata.annotations = annotations
    return next
  }

  admitStatus(next: any, _version: string): any {
    return next
  }

  specChanged(old: any, next: any): boolean {
    const strip = (o: any) => {
      const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o
      return this.type.status ? rest : { ...rest, status: _s }
    }
    return !jsonEqual(strip(old), strip(next))
  }

  scaleSelector(obj: any): string | undefined {
    return obj.spec?.selector ? formatLabelSelector(fromLabelSelectorObject(obj.spec.selector)) : undefined
  }

  holdsDeletion(_obj: any): boolean {
    return false
  }
}

class DeploymentStrategy extends BuiltinStrategy {
  protected override statusTakesAnnotations = false
  constructor(type: ResourceType) {
    super(type, true)
  }
}

class NamespaceStrategy extends BuiltinStrategy {
  override readonly gracefulDeletion = {
    finalizer: "namespace" as const,
    mark(next: any) {
      // A namespace's deletion is no graceful pod deletion: no grace period is recorded.
      delete next.metadata.deletionGracePeriodSeconds
      next.status = { ...(next.status ?? {}), phase: "Terminating" }
    },
  }

  override finishCreate(obj: any): void {
    obj.metadata.labels = { ...(obj.metadata.labels ?? {}), "kubernetes.io/metadata.name": obj.metadata.name }
    obj.spec = { finalizers: ["kubernetes"], ...(obj.spec ?? {}) }
    obj.status = { phase: "Active" }
  }

  /** spec.finalizers changes only through /finalize (the namespace controller here). */
  override prepareForUpdate(candidate: any, old: any): any {
    const next = super.prepareForUpdate(candidate, old)
    next.spec = structuredClone(old.spec)
    return next
  }

  override holdsDeletion(obj: any): boolean {
    return (obj.spec?.finalizers ?? []).length > 0
  }
}

class EventStrategy extends BuiltinStrategy {
  override readonly allowCreateOnUpdate = true
}

class CRDStrategy extends BuiltinStrategy {
  override readonly gracefulDeletion = {
    finalizer: "crd" as const,
    mark(next: any) {
      next.metadata.finalizers = [...(next.metadata.finalizers ?? []), CRD_CLEANUP]
      const conds = (next.status?.conditions ?? []).filter((c: any) => c.type !== "Terminating")
      conds.push({ type: "Terminating", status: "True", lastTransitionTime: now(), reason: "InstanceDeletionInProgress", message: "CustomResource deletion is in progress" })
      next.status = { ...(next.status ?? {}), conditions: conds }
    },
  }

  override prepareForCreate(obj: any): void {
    delete obj.status
  }

  override finishCreate(crd: any): void {
    const spec = crd.spec
    spec.names.singular ??= String(spec.names.kind).toLowerCase()
    spec.names.listKind ??= `${spec.names.kind}List`
    spec.conversion ??= { strategy: "None" }
  }

  override validate(crd: any, old: any | undefined, version: string): StatusCause[] {
    return [...super.validate(crd, old, version), ...validateCRD(crd, old)]
  }
}

function validateCRD(crd: any, old: any | undefined): StatusCause[] {
  const causes: StatusCause[] = []
  const spec = crd.spec ?? {}
  if (!spec.group) causes.push({ reason: "FieldValueRequired", message: "Required value", field: "spec.group" })
  if (!spec.names?.plural) causes.push({ reason: "FieldValueRequired", message: "Required value", field: "spec.names.plural" })
  if (!spec.names?.kind) causes.push({ reason: "FieldValueRequired", message: "Required value", field: "spec.names.kind" })
  if (spec.scope !== "Namespaced" && spec.scope !== "Cluster") {
    causes.push({ reason: "FieldValueNotSupported", message: `Unsupported value: ${JSON.stringify(spec.scope ?? "")}: supported values: "Cluster", "Namespaced"`, field: "spec.scope" })
  }
  if (spec.group && spec.names?.plural && crd.metadata.name !== `${spec.names.plural}.${spec.group}`) {
    causes.push({ reason: "FieldValueInvalid", message: `Invalid value: ${JSON.stringify(crd.metadata.name)}: must be spec.names.plural+"."+spec.group`, field: "metadata.name" })
  }
  const versions: any[] = Array.isArray(spec.versions) ? spec.versions : []
  if (versions.length === 0) causes.push({ reason: "FieldValueInvalid", message: "Invalid value: \"null\": must have exactly one version marked as storage version", field: "spec.versions" })
  else if (versions.filter((v) => v?.storage).length !== 1) {
    causes.push({ reason: "FieldValueInvalid", message: `Invalid value: ${JSON.stringify(versions)}: must have exactly one version marked as storage version`, field: "spec.versions" })
  }
  if (old && old.spec?.scope !== spec.scope) causes.push({ reason: "FieldValueInvalid", message: `Invalid value: ${JSON.stringify(spec.scope)}: field is immutable`, field: "spec.scope" })
  return causes
}

/**
 * Custom resources: prune, default and validate against the version's
 * structural schema; with a status subresource, generation follows every
 * change outside metadata and status, and /status writes only status.
 */
class CustomResourceStrategy extends BuiltinStrategy {
  override readonly strategicMerge = false
  protected override statusTakesAnnotations = false

  constructor(type: ResourceType) {
    super(type, true)
  }

  private schema(version: string) {
    return this.type.crd!.schemas[version]
  }

  override default(obj: any, version: string): any {
    const schema = this.schema(version)
    return schema ? applyDefaults(pruneUnknownFields(obj, schema), schema) : obj
  }

  override unknownFields(obj: any, version: string): string[] {
    const schema = this.schema(version)
    // Sorted, as the real server's pruning reports them.
    return schema ? droppedPaths(obj, pruneUnknownFields(obj, schema), "").sort() : []
  }

  override validate(obj: any, _old: any | undefined, version: string): StatusCause[] {
    const schema = this.schema(version)
    const causes: StatusCause[] = schema ? validateAgainstSchema(obj, schema) : []
    const scale = this.type.scale
    if (scale) causes.push(...scaleReplicasCauses(obj, scale.specReplicasPath))
    return withRulesNotChecked(causes, schema)
  }

  override admitStatus(next: any, version: string): any {
    const schema = this.schema(version)
    if (!schema) return next
    const out: any = applyDefaults(pruneUnknownFields(next, schema), schema)
    const causes: StatusCause[] = validateAgainstSchema(out, schema)
    if (this.type.scale) causes.push(...scaleReplicasCauses(out, this.type.scale.statusReplicasPath))
    if (causes.length) throw Errors.invalid(this.type.group, this.type.kind, out.metadata?.name ?? "", withRulesNotChecked(causes, schema))
    return out
  }

  override scaleSelector(obj: any): string | undefined {
    const path = this.type.scale?.labelSelectorPath
    const s = path ? getPath(obj, path) : undefined
    return typeof s === "string" ? s : undefined
  }
}

/** Go's %T of a JSON value as unstructured content holds it. */
function goType(v: unknown): string {
  if (typeof v === "string") return "string"
  if (typeof v === "boolean") return "bool"
  if (typeof v === "number") return Number.isInteger(v) ? "int64" : "float64"
  if (Array.isArray(v)) return "[]interface {}"
  return "map[string]interface {}"
}

/**
 * The scale subresource's own check of a custom resource's replicas path
 * (apiextensions' ValidateScaleSpec/Status): besides the schema's answer, a
 * value that is no integer gets the accessor error, and a negative one its own.
 */
function scaleReplicasCauses(obj: any, path: string): StatusCause[] {
  const v = getPath(obj, path.replace(/^\./, ""))
  if (v === undefined || v === null) return []
  if (typeof v !== "number" || !Number.isInteger(v)) {
    return [{ reason: "FieldValueInvalid", message: `Invalid value: 0: ${path} accessor error: ${typeof v === "object" ? JSON.stringify(v) : String(v)} is of the type ${goType(v)}, expected int64`, field: path }]
  }
  if (v < 0) return [{ reason: "FieldValueInvalid", message: `Invalid value: ${v}: should be a non-negative integer`, field: path }]
  if (v > 2147483647) return [{ reason: "FieldValueInvalid", message: `Invalid value: ${v}: should be less than or equal to 2147483647`, field: path }]
  return []
}

/** The fields of `before` that `after` lacks (nulls aside: pruning drops those too, and they are no unknown field). */
function droppedPaths(before: unknown, after: unknown, at: string): string[] {
  const out: string[] = []
  if (Array.isArray(before) && Array.isArray(after)) {
    before.forEach((v, i) => out.push(...droppedPaths(v, after[i], `${at}[${i}]`)))
  } else if (isObject(before) && isObject(after)) {
    for (const [k, v] of Object.entries(before)) {
      if (v === null || v === undefined) continue
      const p = at ? `${at}.${k}` : k
      if (!Object.prototype.hasOwnProperty.call(after, k)) out.push(p)
      else out.push(...droppedPaths(v, after[k], p))
    }
  }
  return out
}

const cache = new WeakMap<ResourceType, Strategy>()

/** The strategy of a served kind (custom resources get theirs from the CRD's schema). */
export function strategyFor(type: ResourceType): Strategy {
  let s = cache.get(type)
  if (s) return s
  if (type.crd) s = new CustomResourceStrategy(type)
  else {
    switch (`${type.group}/${type.resource}`) {
      case "/namespaces":
        s = new NamespaceStrategy(type)
        break
      case "/events":
      case "events.k8s.io/events":
        s = new EventStrategy(type)
        break
      case "/services":
      case "apps/replicasets":
        s = new BuiltinStrategy(type, true)
        break
      case "apps/deployments":
        s = new DeploymentStrategy(type)
        break
      case "apiextensions.k8s.io/customresourcedefinitions":
        s = new CRDStrategy(type)
        break
      default:
        s = new BuiltinStrategy(type)
    }
  }
  cache.set(type, s)
  return s
}
