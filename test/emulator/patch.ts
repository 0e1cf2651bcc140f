/**
 * Patch formats the emulated API server accepts (pure functions, no I/O).
 *
 * - RFC 7386 JSON merge patch (`application/merge-patch+json`)
 * - RFC 6902 JSON patch (`application/json-patch+json`), including `test`
 * - an approximation of strategic merge patch for kubectl's sake
 *
 * Status codes follow k8s.io/apiserver pkg/endpoints/handlers/patch.go:
 * - a JSON patch document that does not decode as a list of operation objects
 *   is a 400 BadRequest; more than 10000 operations a 413;
 * - a JSON patch that decodes but cannot be applied (failed `test`, missing
 *   path, bad index, unknown op) is a 422 whose reason is "Invalid" and whose
 *   message is the generic "the server rejected our request due to an error
 *   in our request" (errors.NewGenericServerResponse drops the detail); the
 *   detail is kept in `PatchError.detail` for debugging;
 * - a merge patch that is not a JSON object or array (null, a number…) is a
 *   400 "Invalid JSON Patch" (jsonpatch.ErrBadJSONPatch); a top-level array
 *   replaces the document as RFC 7386 says (the server then fails to decode it).
 * Like the json-patch library the server uses, operations on the root path ""
 * are refused and array indices may be negative (counted from the end).
 *
 * Strategic merge patch is approximated, not derived from Go struct tags:
 * - lists merge by key where the built-in types declare patchMergeKey:
 *   containers/initContainers/ephemeralContainers/volumes/env/imagePullSecrets/
 *   resourceClaims by `name`, volumeMounts by `mountPath`, volumeDevices by
 *   `devicePath`, container ports by `containerPort`, Service ports by `port`,
 *   hostAliases by `ip`, topologySpreadConstraints by `topologyKey`,
 *   conditions by `type`, ownerReferences by `uid`; `finalizers` merges as a
 *   set of strings; every other list is replaced;
 * - `$patch: delete` (in a map or a list item), `$patch: replace` (in a map, or
 *   as a list element meaning "replace the whole list"), `$patch: merge` and
 *   `$deleteFromPrimitiveList/<field>` are honoured;
 * - `$retainKeys` and `$setElementOrder/<field>` are accepted and ignored
 *   (merged lists keep the original order, new items appended);
 * - everything else behaves as a merge patch (null deletes a field).
 * The real server refuses strategic merge patch for custom resources with
 * 415; that check belongs to the caller.
 */

/** A patch that cannot be applied; `code` is the HTTP status the real apiserver answers with. */
export class PatchError extends Error {
  /** What actually went wrong, when the real server hides it behind a generic message. */
  detail?: string
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}

export const MAX_JSON_PATCH_OPERATIONS = 10000
const GENERIC_422 = "the server rejected our request due to an error in our request"

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)

/** Deep copy of a JSON value. */
export function deepCopy<T>(v: T): T {
  if (Array.isArray(v)) return v.map(deepCopy) as T
  if (isObj(v)) {
    const out: Obj = {}
    for (const [k, x] of Object.entries(v)) out[k] = deepCopy(x)
    return out as T
  }
  return v
}

/** Structural equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]))
  if (isObj(a)) {
    if (!isObj(b)) return false
    const ka = Object.keys(a)
    if (ka.length !== Object.keys(b).length) return false
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]))
  }
  return false
}

// ---------------------------------------------------------------------------
// RFC 7386
// ---------------------------------------------------------------------------

function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return deepCopy(patch)
  const out: Obj = isObj(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

/** RFC 7386. Returns a new value; never mutates its arguments. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch) && !Array.isArray(patch)) throw new PatchError(400, "BadRequest", "Invalid JSON Patch")
  return deepCopy(mergePatch(target, patch))
}

// ---------------------------------------------------------------------------
// RFC 6902
// ---------------------------------------------------------------------------

function invalid(detail: string): PatchError {
  const e = new PatchError(422, "Invalid", GENERIC_422)
  e.detail = detail
  return e
}

function decodePointer(path: string): string[] {
  if (path === "") throw invalid("operation on the document root is not supported")
  if (!path.startsWith("/")) throw invalid(`invalid JSON pointer: ${path}`)
  return path
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"))
}

function parseIndex(token: string, length: number, op: string, allowEnd: boolean): number {
  if (token === "-" && allowEnd) return length
  if (!/^-?\d+$/.test(token)) throw invalid(`${op} operation does not apply: invalid array index: ${token}`)
  let i = Number(token)
  if (i < 0) {
    if (i < -length) throw invalid(`Unable to access invalid index: ${i}`)
    i += length
  }
  if (i > length || (!allowEnd && i === length)) throw invalid(`Unable to access invalid index: ${i}`)
  return i
}

/** The container holding the last token of `tokens`; throws when the path to it is missing. */
function parent(doc: unknown, tokens: string[], op: string, path: string): unknown {
  let cur = doc
  for (const t of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) {
      if (!/^-?\d+$/.test(t)) throw invalid(`${op} operation does not apply: doc is missing path: ${path}`)
      let i = Number(t)
      if (i < 0) i += cur.length
      cur = cur[i]
    } else if (isObj(cur)) {
      cur = Object.prototype.hasOwnProperty.call(cur, t) ? cur[t] : undefined
    } else cur = undefined
    if (cur === undefined || cur === null || typeof cur !== "object") {
      throw invalid(`${op} operation does not apply: doc is missing path: ${path}`)
    }
  }
  return cur
}

function getAt(doc: unknown, path: string, op: string): unknown {
  const tokens = decodePointer(path)
  const con = parent(doc, tokens, op, path)
  const key = tokens[tokens.length - 1]!
  if (Array.isArray(con)) return con[parseIndex(key, con.length, op, false)]
  const c = con as Obj
  if (!Object.prototype.hasOwnProperty.call(c, key)) throw invalid(`${op} operation does not apply: doc is missing key: ${path}`)
  return c[key]
}

function addAt(doc: unknown, path: string, value: unknown, op: string): void {
  const tokens = decodePointer(path)
  const con = parent(doc, tokens, op, path)
  const key = tokens[tokens.length - 1]!
  if (Array.isArray(con)) con.splice(parseIndex(key, con.length, op, true), 0, value)
  else (con as Obj)[key] = value
}

function removeAt(doc: unknown, path: string, op: string): unknown {
  const tokens = decodePointer(path)
  const con = parent(doc, tokens, op, path)
  const key = tokens[tokens.length - 1]!
  if (Array.isArray(con)) return con.splice(parseIndex(key, con.length, op, false), 1)[0]
  const c = con as Obj
  if (!Object.prototype.hasOwnProperty.call(c, key)) throw invalid(`Unable to remove nonexistent key: ${key}: missing value`)
  const v = c[key]
  delete c[key]
  return v
}

function replaceAt(doc: unknown, path: string, value: unknown, op: string): void {
  const tokens = decodePointer(path)
  const con = parent(doc, tokens, op, path)
  const key = tokens[tokens.length - 1]!
  if (Array.isArray(con)) con[parseIndex(key, con.length, op, false)] = value
  else {
    const c = con as Obj
    if (!Object.prototype.hasOwnProperty.call(c, key)) throw invalid(`${op} operation does not apply: doc is missing key: ${path}`)
    c[key] = value
  }
}

const goType = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "object" ? "object" : typeof v)

/** RFC 6902. Returns a new value; never mutates its arguments. Throws PatchError. */
export function applyJsonPatch(target: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) {
    throw new PatchError(400, "BadRequest", `json: cannot unmarshal ${goType(operations)} into Go value of type jsonpatch.Patch`)
  }
  for (const op of operations) {
    if (!isObj(op)) throw new PatchError(400, "BadRequest", `json: cannot unmarshal ${goType(op)} into Go value of type jsonpatch.Operation`)
  }
  if (operations.length > MAX_JSON_PATCH_OPERATIONS) {
    throw new PatchError(
      413,
      "RequestEntityTooLarge",
      `Request entity too large: The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${operations.length}`,
    )
  }
  const doc = deepCopy(target)
  for (const o of operations as Obj[]) {
    const kind = typeof o.op === "string" ? o.op : "unknown"
    const str = (k: string) => {
      const v = o[k]
      if (typeof v !== "string") throw invalid(`${kind} operation, missing ${k} field`)
      return v
    }
    const value = () => {
      if (!Object.prototype.hasOwnProperty.call(o, "value")) throw invalid(`${kind} operation, missing value field`)
      return deepCopy(o.value)
    }
    switch (kind) {
      case "add":
        addAt(doc, str("path"), value(), kind)
        break
      case "remove":
        removeAt(doc, str("path"), kind)
        break
      case "replace":
        replaceAt(doc, str("path"), value(), kind)
        break
      case "move": {
        const from = str("from")
        const path = str("path")
        if (path === from) break
        if (path.startsWith(from + "/")) throw invalid(`move operation: cannot move ${from} into its own child ${path}`)
        const v = removeAt(doc, from, kind)
        addAt(doc, path, v, kind)
        break
      }
      case "copy": {
        const v = deepCopy(getAt(doc, str("from"), kind))
        addAt(doc, str("path"), v, kind)
        break
      }
      case "test": {
        const path = str("path")
        const expected = value()
        let actual: unknown
        try {
          actual = getAt(doc, path, kind)
        } catch (e) {
          // Testing an absent member against null succeeds in the server's library.
          if (expected === null && e instanceof PatchError && /missing key/.test(e.detail ?? "")) break
          throw e
        }
        if (!jsonEqual(actual, expected)) throw invalid(`testing value ${path} failed: test failed`)
        break
      }
      default:
        throw invalid(`Unexpected kind: ${kind}`)
    }
  }
  return doc
}

// ---------------------------------------------------------------------------
// Strategic merge patch (approximation; see the top comment)
// ---------------------------------------------------------------------------

const CONTAINER_LISTS = new Set(["containers", "initContainers", "ephemeralContainers"])

/** The merge key of the list at `field` whose parent path is `path`, "" for a set of primitives, undefined to replace. */
function mergeKeyFor(field: string, path: readonly string[], kind: string): string | undefined {
  switch (field) {
    case "containers":
    case "initContainers":
    case "ephemeralContainers":
    case "volumes":
    case "env":
    case "imagePullSecrets":
    case "resourceClaims":
      return "name"
    case "volumeMounts":
      return "mountPath"
    case "volumeDevices":
      return "devicePath"
    case "hostAliases":
      return "ip"
    case "topologySpreadConstraints":
      return "topologyKey"
    case "conditions":
      return "type"
    case "ownerReferences":
      return path[path.length - 1] === "metadata" ? "uid" : undefined
    case "finalizers":
      return path[path.length - 1] === "metadata" ? "" : undefined
    case "ports": {
      // Inside a container list the path ends with "<list>", index omitted.
      if (path.some((p) => CONTAINER_LISTS.has(p))) return "containerPort"
      if (kind === "Service" && path.length === 1 && path[0] === "spec") return "port"
      return undefined
    }
    default:
      return undefined
  }
}

function smpMap(target: Obj, patch: Obj, path: string[], kind: string): Obj | undefined {
  const directive = patch["$patch"]
  if (directive === "delete") return undefined
  if (directive === "replace") {
    const out: Obj = {}
    for (const [k, v] of Object.entries(patch)) if (k !== "$patch") out[k] = stripDirectives(v)
    return out
  }
  const out: Obj = { ...target }
  // Primitive-list deletions first, so a same-patch merge of that list still applies.
  for (const [k, v] of Object.entries(patch)) {
    if (!k.startsWith("$deleteFromPrimitiveList/")) continue
    const field = k.slice("$deleteFromPrimitiveList/".length)
    if (Array.isArray(out[field]) && Array.isArray(v)) {
      const drop = v
      out[field] = (out[field] as unknown[]).filter((x) => !drop.some((d) => jsonEqual(d, x)))
    }
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k === "$retainKeys" || k.startsWith("$setElementOrder/") || k.startsWith("$deleteFromPrimitiveList/")) continue
    if (v === null) {
      delete out[k]
      continue
    }
    const cur = out[k]
    if (isObj(v)) {
      const merged = smpMap(isObj(cur) ? cur : {}, v, [...path, k], kind)
      if (merged === undefined) delete out[k]
      else out[k] = merged
    } else if (Array.isArray(v)) {
      out[k] = smpList(Array.isArray(cur) ? cur : [], v, k, path, kind)
    } else {
      out[k] = v
    }
  }
  return out
}

function smpList(target: unknown[], patch: unknown[], field: string, path: string[], kind: string): unknown[] {
  // A `{$patch: replace}` element replaces the whole list with the other elements.
  if (patch.some((x) => isObj(x) && x["$patch"] === "replace")) {
    return patch.filter((x) => !(isObj(x) && x["$patch"] === "replace")).map(stripDirectives)
  }
  const key = mergeKeyFor(field, path, kind)
  if (key === undefined) return patch.map(stripDirectives)
  if (key === "") {
    const out = [...target]
    for (const x of patch) if (!out.some((y) => jsonEqual(x, y))) out.push(x)
    return out
  }
  const out: unknown[] = [...target]
  const childPath = [...path, field]
  for (const item of patch) {
    if (!isObj(item)) {
      out.push(item)
      continue
    }
    const idx = Object.prototype.hasOwnProperty.call(item, key)
      ? out.findIndex((x) => isObj(x) && jsonEqual(x[key], item[key]))
      : -1
    if (item["$patch"] === "delete") {
      if (idx >= 0) out.splice(idx, 1)
      continue
    }
    if (idx >= 0) {
      const merged = smpMap(out[idx] as Obj, item, childPath, kind)
      if (merged === undefined) out.splice(idx, 1)
      else out[idx] = merged
    } else {
      const created = smpMap({}, item, childPath, kind)
      if (created !== undefined) out.push(created)
    }
  }
  return out
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.filter((x) => !(isObj(x) && x["$patch"] === "delete")).map(stripDirectives)
  if (isObj(v)) {
    const out: Obj = {}
    for (const [k, x] of Object.entries(v)) {
      if (k === "$patch" || k === "$retainKeys" || k.startsWith("$setElementOrder/") || k.startsWith("$deleteFromPrimitiveList/")) continue
      if (x === null) continue
      out[k] = stripDirectives(x)
    }
    return out
  }
  return v
}

/**
 * Strategic merge patch, approximated: lists of containers/ports/env/volumes/volumeMounts
 * merge by their key (name, containerPort, mountPath…), `$patch: delete|replace` honoured;
 * everything else behaves as a merge patch. `kind` is the object's kind.
 */
export function applyStrategicMergePatch(target: unknown, patch: unknown, kind: string): unknown {
  if (!isObj(patch)) throw new PatchError(400, "BadRequest", "the body of the strategic merge patch is not a JSON object")
  const base = isObj(target) ? target : {}
  const out = smpMap(base, patch, [], kind)
  return deepCopy(out ?? {})
}
