/**
 * The cache's writer: the operator's own writes are in the cache at once and their echo on the
 * watch is not news, whichever arrives first; other writers' changes are; a deletion the watch
 * shows while the operator's last write of the object is on its way is not undone by its answer.
 */
import { expect, test } from "bun:test"
import type { KubeObject } from "../../src/runtime/client.ts"
import { ConfigMaps } from "../../src/runtime/resources.ts"
import { makeWriter, type ChangeType } from "../../src/runtime/store.ts"

const cm = (rv: string, data: Record<string, string> = {}): KubeObject => ({
  metadata: { name: "c", namespace: "ns", resourceVersion: rv },
  data,
})

const writer = () => {
  const seen: Array<[ChangeType, string | undefined]> = []
  const w = makeWriter({ resource: ConfigMaps }, (type, o) => void seen.push([type, o.metadata.resourceVersion]), {
    byValue: (o) => Object.values((o.data ?? {}) as Record<string, string>),
  })
  return { w, seen }
}

test("an own write is cached at once and its echo on the watch is not reported", () => {
  const { w, seen } = writer()
  w.apply("ADDED", cm("1"))
  w.writing("ns", "c")(cm("2", { k: "mine" }))
  expect(w.store.get("ns", "c")?.metadata.resourceVersion).toBe("2")
  w.apply("MODIFIED", cm("2", { k: "mine" }))
  expect(seen).toEqual([["ADDED", "1"]])
})

test("the echo arriving before the write's answer is not reported either; a change by someone else is", () => {
  const { w, seen } = writer()
  const end = w.writing("ns", "c")
  w.apply("ADDED", cm("5"))
  end(cm("5"))
  expect(seen).toEqual([])
  w.apply("MODIFIED", cm("6", { k: "theirs" }))
  expect(seen).toEqual([["MODIFIED", "6"]])
  expect(w.store.byIndex("byValue", "theirs").map((o) => o.metadata.resourceVersion)).toEqual(["6"])
})

test("a deletion seen while the last write is in flight stays a deletion", () => {
  const { w, seen } = writer()
  w.apply("ADDED", cm("1"))
  const end = w.writing("ns", "c")
  w.apply("DELETED", cm("3"))
  end(cm("2"))
  expect(w.store.get("ns", "c")).toBeUndefined()
  expect(seen).toEqual([["ADDED", "1"], ["DELETED", "3"]])
})

test("an event older than the cached object is dropped", () => {
  const { w, seen } = writer()
  w.apply("ADDED", cm("1"))
  w.writing("ns", "c")(cm("4"))
  w.apply("MODIFIED", cm("3"))
  expect(w.store.get("ns", "c")?.metadata.resourceVersion).toBe("4")
  expect(seen).toEqual([["ADDED", "1"]])
})

test("objects are cached without the server's managedFields, from the watch and from own writes alike", () => {
  const { w } = writer()
  const withFields = (rv: string): KubeObject => ({
    metadata: { name: "c", namespace: "ns", resourceVersion: rv, managedFields: [{ manager: "kubectl", operation: "Update" }] },
    data: { k: "v" },
  })
  w.apply("ADDED", withFields("1"))
  expect(w.store.get("ns", "c")?.metadata.managedFields).toBeUndefined()
  expect(w.store.get("ns", "c")?.data).toEqual({ k: "v" })
  w.writing("ns", "c")(withFields("2"))
  expect(w.store.get("ns", "c")?.metadata.resourceVersion).toBe("2")
  expect(w.store.get("ns", "c")?.metadata.managedFields).toBeUndefined()
  w.replace([withFields("3")])
  expect(w.store.list().map((o) => o.metadata.managedFields)).toEqual([undefined])
})

test("an index value shared by several objects finds each of them, and none once they are gone", () => {
  const { w } = writer()
  const named = (name: string, rv: string, value: string): KubeObject => ({
    metadata: { name, namespace: "ns", resourceVersion: rv },
    data: { k: value },
  })
  w.apply("ADDED", named("a", "1", "shared"))
  w.apply("ADDED", named("b", "2", "shared"))
  w.apply("ADDED", named("c", "3", "shared"))
  const names = (value: string) => w.store.byIndex("byValue", value).map((o) => o.metadata.name).sort()
  expect(names("shared")).toEqual(["a", "b", "c"])
  w.apply("DELETED", named("b", "4", "shared"))
  expect(names("shared")).toEqual(["a", "c"])
  // An object whose value changes leaves the old value's entry.
  w.apply("MODIFIED", named("a", "5", "own"))
  expect(names("shared")).toEqual(["c"])
  expect(names("own")).toEqual(["a"])
  w.apply("DELETED", named("c", "6", "shared"))
  expect(names("shared")).toEqual([])
  w.replace([])
  expect(names("own")).toEqual([])
})
