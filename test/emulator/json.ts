/** JSON value helpers shared by the emulator's modules. */

export function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z")
}

export function isObject(v: unknown): v is Record<string, any> {
  return typeof v === "object" && v !== null && !Array.isArray(v)
}

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]))
  }
  const ak = Object.keys(a as object).filter((k) => (a as any)[k] !== undefined)
  const bk = Object.keys(b as object).filter((k) => (b as any)[k] !== undefined)
  if (ak.length !== bk.length) return false
  return ak.every((k) => jsonEqual((a as any)[k], (b as any)[k]))
}

function pathParts(path: string): string[] {
  return path.split(".").filter((p) => p !== "")
}

export function getPath(obj: any, path: string): any {
  let cur = obj
  for (const p of pathParts(path)) {
    if (!isObject(cur)) return undefined
    cur = cur[p]
  }
  return cur
}

export function setPath(obj: any, path: string, value: unknown): void {
  const parts = pathParts(path)
  let cur = obj
  for (const p of parts.slice(0, -1)) {
    if (!isObject(cur[p])) cur[p] = {}
    cur = cur[p]
  }
  cur[parts[parts.length - 1]!] = value
}
