/**
 * OpenAPI v3 structural schemas of CustomResourceDefinitions: pruning,
 * defaulting and validation, as kube-apiserver applies them (pure functions).
 *
 * The server's order on every write (and on every read from storage) is:
 * prune unknown fields, drop nulls of non-nullable fields that have no
 * default (both in pruneUnknownFields here), apply defaults, then validate.
 *
 * - Pruning follows apiextensions-apiserver schema/pruning/algorithm.go: at the
 *   root (and in x-kubernetes-embedded-resource objects) apiVersion, kind and
 *   metadata are skipped (metadata is treated as opaque here: the real server
 *   coerces it through ObjectMeta separately); only the structural part of a
 *   schema (properties, items, additionalProperties) decides what survives —
 *   fields named only inside anyOf/allOf/oneOf/not are pruned, as there.
 * - Defaulting follows schema/defaulting/algorithm.go: a default is deep-copied
 *   where a property is absent or null-but-not-nullable, then the walk
 *   continues into the value (so defaults inside a default apply too), into
 *   array items and additionalProperties values.
 * - Validation follows k8s.io/kube-openapi pkg/validation/validate and the
 *   apiserver's conversion of its errors to field errors
 *   (kubeOpenAPIResultToFieldErrors): validator order type → anyOf/oneOf/
 *   allOf/not → string → format → number → array → enum → object (properties
 *   in schema order, then required); message texts as in kube-openapi
 *   errors/schema.go with `in body`; composite errors (anyOf/oneOf/allOf/not)
 *   are reported on the field `<nil>` with value "" exactly as the real server
 *   does, followed by the errors of the best-matching branch (the first one on
 *   a tie). Formats: date, date-time, byte, uuid(3/4/5), ipv4, ipv6, cidr,
 *   mac, hostname, email, uri, duration, password; unknown formats pass.
 *   Not modelled: CEL rules (x-kubernetes-validations), list-type/map-type
 *   uniqueness, validation ratcheting on update.
 */

import { deepCopy } from "./patch.ts"

export interface JSONSchemaProps {
  type?: string
  format?: string
  description?: string
  properties?: Record<string, JSONSchemaProps>
  additionalProperties?: boolean | JSONSchemaProps
  items?: JSONSchemaProps
  required?: string[]
  enum?: unknown[]
  pattern?: string
  default?: unknown
  nullable?: boolean
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  anyOf?: JSONSchemaProps[]
  oneOf?: JSONSchemaProps[]
  allOf?: JSONSchemaProps[]
  not?: JSONSchemaProps
  "x-kubernetes-preserve-unknown-fields"?: boolean
  "x-kubernetes-int-or-string"?: boolean
  "x-kubernetes-embedded-resource"?: boolean
  [key: string]: unknown
}

/** One cause of a 422 Invalid, as in Status.details.causes. */
export interface FieldCause {
  /** FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, FieldValueTypeInvalid … */
  readonly reason: string
  readonly message: string
  /** e.g. `spec.replicas` */
  readonly field: string
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)
const has = (o: Obj, k: string) => Object.prototype.hasOwnProperty.call(o, k)


const META_FIELDS = new Set(["apiVersion", "kind", "metadata"])

/** The schema of additionalProperties; `null` for `additionalProperties: true` (a nil structural schema in Go). */
function additional(s: JSONSchemaProps): JSONSchemaProps | null | undefined {
  const a = s.additionalProperties
  if (a === undefined || a === false) return undefined
  if (a === true) return null
  return a
}

const props = (s: JSONSchemaProps): Record<string, JSONSchemaProps> => (isObj(s.properties) ? s.properties : {})

// ---------------------------------------------------------------------------
// Pruning
// ---------------------------------------------------------------------------

function prune(x: unknown, s: JSONSchemaProps | null | undefined): void {
  if (s && s["x-kubernetes-preserve-unknown-fields"]) {
    skipPrune(x, s)
    return
  }
  if (isObj(x)) {
    if (!s) {
      for (const k of Object.keys(x)) delete x[k]
      return
    }
    const p = props(s)
    const addl = additional(s)
    for (const k of Object.keys(x)) {
      if (s["x-kubernetes-embedded-resource"] && META_FIELDS.has(k)) continue
      if (has(p, k)) prune(x[k], p[k])
      else if (addl !== undefined) prune(x[k], addl)
      else delete x[k]
    }
  } else if (Array.isArray(x)) {
    for (const v of x) prune(v, s ? s.items : undefined)
  }
}

function skipPrune(x: unknown, s: JSONSchemaProps): void {
  if (isObj(x)) {
    const p = props(s)
    const addl = additional(s)
    for (const k of Object.keys(x)) {
      if (s["x-kubernetes-embedded-resource"] && META_FIELDS.has(k)) continue
      if (has(p, k)) prune(x[k], p[k])
      else if (addl !== undefined) prune(x[k], addl)
    }
  } else if (Array.isArray(x) && s.items) {
    for (const v of x) skipPrune(v, s.items)
  }
}

function schemaForField(k: string, s: JSONSchemaProps | null | undefined): JSONSchemaProps | null | undefined {
  if (!s) return undefined
  const p = props(s)
  if (has(p, k)) return p[k]
  return additional(s) ?? undefined
}

const hasDefault = (s: JSONSchemaProps | null | undefined): boolean => !!s && s.default !== undefined && s.default !== null

/** PruneNonNullableNullsWithoutDefaults. */
function pruneNulls(x: unknown, s: JSONSchemaProps | null | undefined): void {
  if (isObj(x)) {
    for (const k of Object.keys(x)) {
      const sub = schemaForField(k, s)
      if (x[k] === null && sub && !sub.nullable && !hasDefault(sub)) delete x[k]
      else pruneNulls(x[k], sub)
    }
  } else if (Array.isArray(x)) {
    for (const v of x) pruneNulls(v, s ? s.items : undefined)
  }
}

/**
 * Drops every field the schema does not declare (unless preserved by
 * x-kubernetes-preserve-unknown-fields). At the root, apiVersion, kind and
 * metadata are always kept. Returns a new value.
 *
 * Also drops null values of non-nullable fields without a default, as the
 * server does in the same step (nulls with a default are left for applyDefaults).
 */
export function pruneUnknownFields(obj: unknown, schema: JSONSchemaProps): unknown {
  const out = deepCopy(obj)
  const root: JSONSchemaProps = { ...schema, "x-kubernetes-embedded-resource": true }
  prune(out, root)
  pruneNulls(out, schema)
  return out
}

// ---------------------------------------------------------------------------
// Defaulting
// ---------------------------------------------------------------------------

function isNonNullableNull(x: unknown, s: JSONSchemaProps | null | undefined): boolean {
  return x === null && !!s && !s.nullable
}

function defaultValue(s: JSONSchemaProps | null | undefined): unknown {
  return s && s.default !== undefined ? deepCopy(s.default) : null
}

function applyDefaultsIn(x: unknown, s: JSONSchemaProps | null | undefined): void {
  if (!s) return
  if (isObj(x)) {
    const p = props(s)
    for (const [k, prop] of Object.entries(p)) {
      if (!hasDefault(prop)) continue
      if (!has(x, k) || isNonNullableNull(x[k], prop)) x[k] = deepCopy(prop.default)
    }
    const addl = additional(s)
    for (const k of Object.keys(x)) {
      if (has(p, k)) applyDefaultsIn(x[k], p[k])
      else if (addl) {
        if (isNonNullableNull(x[k], addl)) x[k] = defaultValue(addl)
        applyDefaultsIn(x[k], addl)
      }
    }
  } else if (Array.isArray(x)) {
    const items = s.items
    for (let i = 0; i < x.length; i++) {
      if (isNonNullableNull(x[i], items)) x[i] = defaultValue(items)
      applyDefaultsIn(x[i], items)
    }
  }
}

/** Applies `default` values where a field is absent (or null and not nullable). Returns a new value. */
export function applyDefaults(obj: unknown, schema: JSONSchemaProps): unknown {
  const out = deepCopy(obj)
  applyDefaultsIn(out, schema)
  return out
}

// ---------------------------------------------------------------------------
// Validation (kube-openapi semantics)
// ---------------------------------------------------------------------------

type VErr =
  | { readonly composite: false; readonly code: ErrCode; readonly name: string; readonly value: unknown; readonly message: string; readonly values?: readonly unknown[]; readonly valid?: number }
  | { readonly composite: true; readonly message: string }

type ErrCode = "type" | "required" | "tooLong" | "tooShort" | "pattern" | "enum" | "multipleOf" | "max" | "min" | "maxItems" | "minItems" | "maxProperties" | "minProperties"

interface Result {
  errors: VErr[]
  matchCount: number
}

const IN = "body"

/** Go's %v of a float64: strconv 'g' with the shortest digits, %e when the exponent is < -4 or >= 6. */
export function goFloat(f: number): string {
  if (!Number.isFinite(f)) return f > 0 ? "+Inf" : f < 0 ? "-Inf" : "NaN"
  if (f === 0) return Object.is(f, -0) ? "-0" : "0"
  const [mant, e] = f.toExponential().split("e") as [string, string]
  const exp = Number(e)
  if (exp < -4 || exp >= 6) {
    const digits = String(Math.abs(exp))
    return `${mant}e${exp < 0 ? "-" : "+"}${digits.length < 2 ? "0" + digits : digits}`
  }
  return String(f)
}

/** Go's %v for a value printed by kube-openapi (integers are int64, the rest float64). */
function goV(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : goFloat(v)
  return String(v)
}

/** Go's %#v of an unstructured JSON value. */
function goSharpV(v: unknown): string {
  if (v === null || v === undefined) return "interface {}(nil)"
  if (typeof v === "string") return JSON.stringify(v)
  if (typeof v === "number") return goV(v)
  if (typeof v === "boolean") return String(v)
  if (Array.isArray(v)) return `[]interface {}{${v.map(goSharpV).join(", ")}}`
  const o = v as Obj
  return `map[string]interface {}{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${goSharpV(o[k])}`)
    .join(", ")}}`
}

/** field.Error.ErrorBody's rendering of a bad value. */
function errorBodyValue(v: unknown): string {
  if (v === null || v === undefined) return '"null"'
  if (typeof v === "string") return JSON.stringify(v)
  if (typeof v === "number") return goV(v)
  if (typeof v === "boolean") return String(v)
  return goSharpV(v)
}

function schemaTypes(s: JSONSchemaProps): string[] {
  if (s["x-kubernetes-int-or-string"]) return ["integer", "string"]
  return typeof s.type === "string" && s.type !== "" ? [s.type] : []
}

function dataType(v: unknown): string {
  if (typeof v === "string") return "string"
  if (typeof v === "boolean") return "boolean"
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number"
  if (Array.isArray(v)) return "array"
  return "object"
}

function invalidType(path: string, typeName: string, value: unknown): VErr {
  const message =
    typeof value === "string"
      ? `${path} in ${IN} must be of type ${typeName}: ${JSON.stringify(value)}`
      : `${path} in ${IN} must be of type ${typeName}`
  return { composite: false, code: "type", name: path, value, message }
}

function validateType(data: unknown, s: JSONSchemaProps, path: string): VErr | undefined {
  const types = schemaTypes(s)
  const format = typeof s.format === "string" ? s.format : ""
  if (data === null || data === undefined) {
    if (types.length > 0 && !types.includes("null") && !s.nullable) return invalidType(path, types.join(","), "null")
    return undefined
  }
  const schType = dataType(data)
  // JSON numbers decode to int64 or float64, never the narrower Go types.
  const dataFormat: string = schType === "integer" ? "int64" : schType === "number" ? "float64" : ""
  const isString = typeof data === "string"
  const isSlice = Array.isArray(data)
  const isFloatInt = false // JS numbers with no fraction already read as integers
  const isIntFloat = schType === "integer" && types.includes("number")
  const isLowerInt = format === "int64" && dataFormat === "int32"
  const isLowerFloat = format === "double" && dataFormat === "float32"
  if (!isString && !isSlice && format !== "" && !(types.includes(schType) || dataFormat === format || isFloatInt || isIntFloat || isLowerInt || isLowerFloat)) {
    return invalidType(path, format, dataFormat)
  }
  if (!(types.includes("number") || types.includes("integer")) && format !== "" && (isString || isSlice)) return undefined
  if (types.length === 0) return undefined
  if (!(types.includes(schType) || isFloatInt || isIntFloat)) return invalidType(path, types.join(","), schType)
  return undefined
}

// --- formats (kube-openapi strfmt.Default) ---------------------------------

function daysIn(month: number, year: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return [4, 6, 9, 11].includes(month) ? 30 : 31
}

/** time.Parse("2006-01-02", s) succeeds. */
export function isDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s)
  if (!m) return false
  const y = Number(m[1])
  const mo = Number(m[2])
  const d = Number(m[3])
  return mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(mo, y)
}

function isDateTime(s: string): boolean {
  const m = /^(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$/.exec(s)
  if (!m || !isDate(m[1]!)) return false
  return Number(m[2]) < 24 && Number(m[3]) < 60 && (m[4] === undefined || Number(m[4]) < 60)
}

function isIPv4(s: string): boolean {
  const parts = s.split(".")
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)
}

function isIPv6(s: string): boolean {
  if (!s.includes(":")) return false
  let rest = s
  const lastColon = s.lastIndexOf(":")
  const tail = s.slice(lastColon + 1)
  let groups = 8
  if (tail.includes(".")) {
    if (!isIPv4(tail)) return false
    rest = s.slice(0, lastColon + 1) + "0"
    groups = 7
  }
  const dbl = rest.split("::")
  if (dbl.length > 2) return false
  const hex = (p: string) => /^[0-9a-fA-F]{1,4}$/.test(p)
  if (dbl.length === 2) {
    const a = dbl[0] === "" ? [] : dbl[0]!.split(":")
    const b = dbl[1] === "" ? [] : dbl[1]!.split(":")
    return a.every(hex) && b.every(hex) && a.length + b.length < groups
  }
  const g = rest.split(":")
  return g.length === groups && g.every(hex)
}

const FORMATS: Record<string, (s: string) => boolean> = {
  date: isDate,
  "date-time": isDateTime,
  datetime: isDateTime,
  byte: (s) => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s),
  uuid: (s) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(s),
  uuid3: (s) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(s),
  uuid4: (s) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i.test(s),
  uuid5: (s) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$/i.test(s),
  ipv4: isIPv4,
  ipv6: isIPv6,
  cidr: (s) => {
    const [ip, bits, ...rest] = s.split("/")
    if (rest.length || bits === undefined || !/^\d+$/.test(bits)) return false
    if (isIPv4(ip!)) return Number(bits) <= 32
    return isIPv6(ip!) && Number(bits) <= 128
  },
  mac: (s) => /^[0-9a-fA-F]{2}([:-])(?:[0-9a-fA-F]{2}\1){4}[0-9a-fA-F]{2}$/.test(s) || /^(?:[0-9a-fA-F]{4}\.){2}[0-9a-fA-F]{4}$/.test(s),
  hostname: (s) =>
    s.length <= 255 && /^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$/u.test(s),
  email: (s) => /^[^@\s]+@[^@\s]+$/.test(s),
  uri: (s) => {
    try {
      new URL(s)
      return true
    } catch {
      return s.startsWith("/")
    }
  },
  duration: (s) => /^[-+]?(\d+(\.\d*)?\s*(ns|us|µs|ms|s|m|h|d|w|seconds?|minutes?|hours?|days?|weeks?)\s*)+$/.test(s) || s === "0",
  password: () => true,
}

// --- regular expressions (Go RE2 → JS) --------------------------------------

const patternCache = new Map<string, RegExp | null>()
function compilePattern(p: string): RegExp | null {
  let re = patternCache.get(p)
  if (re !== undefined) return re
  let src = p
  let flags = ""
  const m = /^\(\?([imsU]+)\)/.exec(src)
  if (m) {
    src = src.slice(m[0].length)
    if (m[1]!.includes("i")) flags += "i"
    if (m[1]!.includes("s")) flags += "s"
    if (m[1]!.includes("m")) flags += "m"
  }
  src = src.replace(/\(\?P</g, "(?<").replace(/\\z/g, "$").replace(/\\A/g, "^")
  try {
    re = new RegExp(src, flags)
  } catch {
    try {
      re = new RegExp(src, flags + "u")
    } catch {
      re = null
    }
  }
  patternCache.set(p, re)
  return re
}

// --- the validator -----------------------------------------------------------

function enumAllows(data: unknown, values: readonly unknown[]): boolean {
  return values.some((e) => jsonEqual(e, data))
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]))
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a)
    return ka.length === Object.keys(b).length && ka.every((k) => has(b, k) && jsonEqual(a[k], b[k]))
  }
  return false
}

function verr(code: ErrCode, name: string, value: unknown, message: string, extra?: { values?: readonly unknown[]; valid?: number }): VErr {
  return { composite: false, code, name, value, message, ...extra }
}

const childPath = (path: string, name: string) => (path === "" ? name : `${path}.${name}`)

function validate(data: unknown, s: JSONSchemaProps, path: string): Result {
  const res: Result = { errors: [], matchCount: 0 }
  const merge = (r: Result) => {
    res.errors.push(...r.errors)
    res.matchCount += r.matchCount
  }
  const types = schemaTypes(s)
  const format = typeof s.format === "string" ? s.format : ""

  if (data === null || data === undefined) {
    const te = validateType(data, s, path)
    if (te) res.errors.push(te)
    else res.matchCount++
    if (Array.isArray(s.enum) && s.enum.length && !enumAllows(null, s.enum)) res.errors.push(enumFail(path, null, s.enum))
    return res
  }

  // 1. type
  if (types.length > 0 || format !== "") {
    const te = validateType(data, s, path)
    if (te) res.errors.push(te)
    else res.matchCount++
    res.matchCount++
  }

  // 2. anyOf / oneOf / allOf / not
  merge(validateSchemaProps(data, s, path))
  res.matchCount++

  // 3. string
  if (typeof data === "string" && (s.maxLength !== undefined || s.minLength !== undefined || s.pattern !== undefined)) {
    const len = [...data].length
    if (typeof s.maxLength === "number" && len > s.maxLength) {
      res.errors.push(verr("tooLong", path, data, `${path} in ${IN} should be at most ${s.maxLength} chars long`, { valid: s.maxLength }))
    } else if (typeof s.minLength === "number" && len < s.minLength) {
      res.errors.push(verr("tooShort", path, data, `${path} in ${IN} should be at least ${s.minLength} chars long`))
    } else if (typeof s.pattern === "string" && s.pattern !== "") {
      const re = compilePattern(s.pattern)
      if (re && !re.test(data)) res.errors.push(verr("pattern", path, data, `${path} in ${IN} should match '${s.pattern}'`))
    }
    res.matchCount++
  }

  // 4. format
  if (typeof data === "string" && format !== "" && FORMATS[format]) {
    if (!FORMATS[format]!(data)) res.errors.push(invalidType(path, format, data))
    res.matchCount++
  }

  // 5. number
  if (typeof data === "number" && (s.maximum !== undefined || s.minimum !== undefined || s.multipleOf !== undefined)) {
    const isInt = Number.isInteger(data)
    const bound = (b: number) => (isInt ? String(Math.trunc(b)) : goFloat(b))
    if (typeof s.multipleOf === "number" && s.multipleOf > 0) {
      const q = data / s.multipleOf
      if (Math.abs(q - Math.round(q)) > 1e-9) {
        res.errors.push(verr("multipleOf", path, data, `${path} in ${IN} should be a multiple of ${goV(s.multipleOf)}`))
      }
    }
    if (typeof s.maximum === "number") {
      const max = isInt ? Math.trunc(s.maximum) : s.maximum
      const excl = s.exclusiveMaximum === true
      if (excl ? data >= max : data > max) {
        res.errors.push(verr("max", path, data, `${path} in ${IN} should be less than ${excl ? "" : "or equal to "}${bound(s.maximum)}`))
      }
    }
    if (typeof s.minimum === "number") {
      const min = isInt ? Math.trunc(s.minimum) : s.minimum
      const excl = s.exclusiveMinimum === true
      if (excl ? data <= min : data < min) {
        res.errors.push(verr("min", path, data, `${path} in ${IN} should be greater than ${excl ? "" : "or equal to "}${bound(s.minimum)}`))
      }
    }
    res.matchCount++
  }

  // 6. array
  if (Array.isArray(data)) {
    if (isObj(s.items)) {
      data.forEach((v, i) => merge(validate(v, s.items!, `${path}[${i}]`)))
    }
    if (typeof s.minItems === "number" && data.length < s.minItems) {
      res.errors.push(verr("minItems", path, data.length, `${path} in ${IN} should have at least ${s.minItems} items`))
    }
    if (typeof s.maxItems === "number" && data.length > s.maxItems) {
      res.errors.push(verr("maxItems", path, data.length, `${path} in ${IN} should have at most ${s.maxItems} items`, { valid: s.maxItems }))
    }
    res.matchCount += 2
  }

  // 7. enum
  if (Array.isArray(s.enum) && s.enum.length > 0 && !enumAllows(data, s.enum)) res.errors.push(enumFail(path, data, s.enum))
  res.matchCount++

  // 8. object
  if (isObj(data)) {
    merge(validateObject(data, s, path))
    res.matchCount++
  }
  res.matchCount++
  return res
}

function enumFail(path: string, data: unknown, values: readonly unknown[]): VErr {
  const list = values.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(" ")
  return verr("enum", path, data, `${path} in ${IN} should be one of [${list}]`, { values })
}

function validateObject(data: Obj, s: JSONSchemaProps, path: string): Result {
  const res: Result = { errors: [], matchCount: 0 }
  const keys = Object.keys(data)
  const minP = s.minProperties
  const maxP = s.maxProperties
  if (typeof minP === "number" && keys.length < minP) {
    res.errors.push(verr("minProperties", path, minP, `${path} in ${IN} should have at least ${minP} properties`))
    return res
  }
  if (typeof maxP === "number" && keys.length > maxP) {
    res.errors.push(verr("maxProperties", path, keys.length, `${path} in ${IN} should have at most ${maxP} properties`, { valid: maxP }))
    return res
  }
  const p = props(s)
  const addl = s.additionalProperties
  if (isObj(addl)) {
    for (const k of keys) {
      if (has(p, k)) continue
      const r = validate(data[k], addl as JSONSchemaProps, `${path}.${k}`)
      res.errors.push(...r.errors)
      res.matchCount += r.matchCount
    }
  }
  for (const [name, sub] of Object.entries(p)) {
    if (!has(data, name) || !isObj(sub)) continue
    const r = validate(data[name], sub, childPath(path, name))
    res.errors.push(...r.errors)
    res.matchCount += r.matchCount
  }
  for (const k of Array.isArray(s.required) ? s.required : []) {
    if (!has(data, k)) res.errors.push(verr("required", `${path}.${k}`, undefined, `${path}.${k} in ${IN} is required`))
  }
  return res
}

function validateSchemaProps(data: unknown, s: JSONSchemaProps, path: string): Result {
  const res: Result = { errors: [], matchCount: 0 }
  const merge = (r: Result) => {
    res.errors.push(...r.errors)
    res.matchCount += r.matchCount
  }
  const composite = (message: string): VErr => ({ composite: true, message })
  const q = JSON.stringify(path)

  const anyOf = Array.isArray(s.anyOf) ? s.anyOf.filter(isObj) : []
  if (anyOf.length) {
    let best: Result | undefined
    let first: Result | undefined
    for (const sub of anyOf) {
      const r = validate(data, sub, path)
      if (r.errors.length === 0) {
        best = undefined
        first = r
        break
      }
      if (!best || r.matchCount > best.matchCount) best = r
    }
    if (!first) res.errors.push(composite(`${q} must validate at least one schema (anyOf)`))
    if (best) merge(best)
    else if (first) merge(first)
  }

  const oneOf = Array.isArray(s.oneOf) ? s.oneOf.filter(isObj) : []
  if (oneOf.length) {
    let best: Result | undefined
    let first: Result | undefined
    let validated = 0
    for (const sub of oneOf) {
      const r = validate(data, sub, path)
      if (r.errors.length === 0) {
        validated++
        best = undefined
        first ??= r
        continue
      }
      if (validated === 0 && (!best || r.matchCount > best.matchCount)) best = r
    }
    if (validated !== 1) {
      const more = validated === 0 ? "Found none valid" : `Found ${validated} valid alternatives`
      res.errors.push(composite(`${q} must validate one and only one schema (oneOf). ${more}`))
      if (best) merge(best)
    } else if (first) merge(first)
  }

  const allOf = Array.isArray(s.allOf) ? s.allOf.filter(isObj) : []
  if (allOf.length) {
    let validated = 0
    for (const sub of allOf) {
      const r = validate(data, sub, path)
      if (r.errors.length === 0) validated++
      merge(r)
    }
    if (validated !== allOf.length) {
      res.errors.push(composite(`${q} must validate all the schemas (allOf)${validated === 0 ? ". None validated" : ""}`))
    }
  }

  if (isObj(s.not)) {
    const r = validate(data, s.not, path)
    if (r.errors.length === 0) res.errors.push(composite(`${q} must not validate the schema (not)`))
  }
  res.matchCount++
  return res
}

/** kubeOpenAPIResultToFieldErrors, with each field.Error rendered as a Status cause. */
function toCause(e: VErr): FieldCause {
  if (e.composite) return { reason: "FieldValueInvalid", message: `Invalid value: "": ${e.message}`, field: "<nil>" }
  const name = e.name.startsWith(".") ? e.name.slice(1) : e.name
  const field = name === "" ? "<nil>" : name
  switch (e.code) {
    case "required":
      return { reason: "FieldValueRequired", message: "Required value", field }
    case "enum": {
      const values = (e.values ?? []).map((v) => JSON.stringify(typeof v === "string" ? v : JSON.stringify(v)))
      const detail = values.length ? `: supported values: ${values.join(", ")}` : ""
      return { reason: "FieldValueNotSupported", message: `Unsupported value: ${errorBodyValue(e.value)}${detail}`, field }
    }
    case "tooLong":
      return { reason: "FieldValueTooLong", message: `Too long: may not be longer than ${e.valid ?? -1}`, field }
    case "maxItems":
    case "maxProperties": {
      const max = e.valid ?? -1
      return { reason: "FieldValueTooMany", message: `Too many: ${goV(e.value)}: must have at most ${max} ${max === 1 ? "item" : "items"}`, field }
    }
    case "type":
      return { reason: "FieldValueTypeInvalid", message: `Invalid value: ${errorBodyValue(e.value ?? "")}: ${e.message}`, field }
    default:
      return { reason: "FieldValueInvalid", message: `Invalid value: ${errorBodyValue(e.value ?? "")}: ${e.message}`, field }
  }
}

/** Validates against the schema; an empty array means valid. */
export function validateAgainstSchema(obj: unknown, schema: JSONSchemaProps): FieldCause[] {
  return validate(obj, schema, "").errors.map(toCause)
}

/**
 * kube-apiserver runs a CRD's CEL rules only on an object that passed every other check, and when it did
 * not, ends the causes with this one (CEL itself is not modelled here).
 */
export function withRulesNotChecked<C extends { readonly reason?: string }>(causes: C[], schema: JSONSchemaProps | undefined): (C | FieldCause)[] {
  if (causes.length === 0 || !hasValidationRules(schema)) return causes
  return [
    ...causes,
    {
      reason: "FieldValueInvalid",
      message:
        "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
      field: "<nil>",
    },
  ]
}

/** Whether a schema has x-kubernetes-validations (CEL rules) anywhere in it. */
const hasValidationRules = (schema: unknown): boolean => {
  if (!schema || typeof schema !== "object") return false
  if (Array.isArray(schema)) return schema.some(hasValidationRules)
  const record = schema as Record<string, unknown>
  if (Array.isArray(record["x-kubernetes-validations"]) && (record["x-kubernetes-validations"] as unknown[]).length > 0) return true
  return Object.values(record).some(hasValidationRules)
}

/** `<field>: <message>` joined as the server's aggregate, for a Status message. */
export function formatCauses(causes: readonly FieldCause[]): string {
  const parts = causes.map((c) => `${c.field}: ${c.message}`)
  return parts.length === 1 ? parts[0]! : `[${parts.join(", ")}]`
}
