/**
 * Patch formats the emulated API server accepts (pure functions, no I/O).
 *
 * - RFC 7386 JSON merge patch (`application/merge-patch+json`)
 * - RFC 6902 JSON patch (`application/json-patch+json`), including `test`
 * - an approximation of strategic merge patch for kubectl's sake
 */

/** A patch that cannot be applied; `code` is the HTTP status the real apiserver answers with. */
export class PatchError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}

/** RFC 7386. Returns a new value; never mutates its arguments. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  throw new Error("not implemented")
}

/** RFC 6902. Returns a new value; never mutates its arguments. Throws PatchError. */
export function applyJsonPatch(target: unknown, operations: unknown): unknown {
  throw new Error("not implemented")
}

/**
 * Strategic merge patch, approximated: lists of containers/ports/env/volumes/volumeMounts
 * merge by their key (name, containerPort, mountPath…), `$patch: delete|replace` honoured;
 * everything else behaves as a merge patch. `kind` is the object's kind.
 */
export function applyStrategicMergePatch(target: unknown, patch: unknown, kind: string): unknown {
  throw new Error("not implemented")
}
