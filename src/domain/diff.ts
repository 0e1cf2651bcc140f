/**
 * Comparing what we want with what the API server holds, after it has
 * defaulted the object (added protocol: TCP, imagePullPolicy, defaultMode,
 * strategy, clusterIPs, ...) and after others (controllers, admission
 * webhooks, people) have added their own fields. Only what we want is
 * compared; the result is the smallest RFC 7386 JSON merge patch that puts it
 * right, so an unchanged object costs no write at all.
 */

type Json = unknown

const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const isAbsent = (u: unknown): boolean => u === undefined || u === null

/**
 * Whether `observed` already carries everything of `desired`:
 * - objects: every key of desired (values `undefined` skipped) matches; extra observed keys are fine;
 * - `null` in desired means "absent": matches an absent or null observed value;
 * - arrays: same length and each element matches (objects as subsets, recursively); an absent
 *   observed value matches an empty desired array, as the API server omits empty lists;
 * - scalars: strict equality.
 */
const matches = (desired: Json, observed: Json): boolean => {
  if (desired === undefined) return true
  if (desired === null) return isAbsent(observed)
  if (Array.isArray(desired)) {
    if (isAbsent(observed)) return desired.length === 0
    return (
      Array.isArray(observed) &&
      observed.length === desired.length &&
      desired.every((d, i) => matches(d, observed[i]))
    )
  }
  if (isPlainObject(desired)) {
    if (!isPlainObject(observed)) return false
    return Object.keys(desired).every((k) => matches(desired[k], observed[k]))
  }
  return desired === observed
}

const NO_CHANGE: unique symbol = Symbol("no change")

const patchValue = (desired: Json, observed: Json): Json | typeof NO_CHANGE => {
  if (desired === undefined) return NO_CHANGE
  if (isPlainObject(desired)) {
    // A merge patch object applied to a non-object replaces it with the patch applied to {}.
    const base = isPlainObject(observed) ? observed : {}
    const patch: Record<string, unknown> = {}
    for (const key of Object.keys(desired)) {
      const value = patchValue(desired[key], base[key])
      if (value !== NO_CHANGE) patch[key] = value
    }
    if (Object.keys(patch).length > 0) return patch
    // Nothing inside differs, but the object itself may be missing (desired {} vs absent).
    return isPlainObject(observed) ? NO_CHANGE : patch
  }
  if (matches(desired, observed)) return NO_CHANGE
  // Arrays cannot be merged by RFC 7386: the whole desired array replaces the observed one.
  return desired
}

/**
 * The RFC 7386 merge patch that makes `observed` carry every field of
 * `desired`, or undefined when it already does.
 *
 * Objects: only desired keys are compared (fields the server added by
 * defaulting, or others own, are left alone); a desired value of `null`
 * removes the field, `undefined` is ignored. Arrays: equal when same length
 * and each element matches (objects as subsets, recursively); otherwise the
 * whole desired array is in the patch. Scalars: strict equality.
 *
 * `desired` must be a JSON object. `apiVersion` and `kind` are compared like
 * any other field: objects from a LIST may lack them, so compare with
 * `withoutTypeMeta(desired)`.
 */
export const mergePatchFor = (desired: unknown, observed: unknown): object | undefined => {
  if (!isPlainObject(desired)) throw new TypeError("mergePatchFor: the desired state must be a JSON object")
  // Most objects already match (every converged binding's three, at each restart and resync): saying
  // so allocates nothing, where building the patch allocates an empty one at each level.
  if (matches(desired, observed)) return undefined
  const patch = patchValue(desired, observed)
  return patch === NO_CHANGE ? undefined : (patch as object)
}

/** The object without `apiVersion` and `kind`, which list items from the API server do not carry. */
export const withoutTypeMeta = <T extends { readonly apiVersion?: unknown; readonly kind?: unknown }>(
  obj: T
): Omit<T, "apiVersion" | "kind"> => {
  const { apiVersion: _a, kind: _k, ...rest } = obj
  return rest
}
