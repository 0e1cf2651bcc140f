import { describe, expect, test } from "bun:test"
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from "./patch.ts"

const patchError = (f: () => unknown): PatchError => {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(PatchError)
    return e as PatchError
  }
  throw new Error("expected a PatchError")
}

describe("JSON merge patch (RFC 7386)", () => {
  test("the RFC's appendix examples", () => {
    const cases: [unknown, unknown, unknown][] = [
      [{ a: "b" }, { a: "c" }, { a: "c" }],
      [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
      [{ a: "b" }, { a: null }, {}],
      [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
      [{ a: ["b"] }, { a: "c" }, { a: "c" }],
      [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
      [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
      [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
      [{ e: null }, { a: 1 }, { e: null, a: 1 }],
      [[1, 2], { a: "b", c: null }, { a: "b" }],
      [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ]
    for (const [target, patch, want] of cases) expect(applyMergePatch(target, patch)).toEqual(want)
  })

  test("a top-level array replaces the document", () => {
    expect(applyMergePatch({ a: 1 }, [1, 2])).toEqual([1, 2])
  })

  test("a null or scalar patch document is a 400, as jsonpatch.ErrBadJSONPatch", () => {
    for (const p of [null, 5, "x", true]) {
      const e = patchError(() => applyMergePatch({ a: 1 }, p))
      expect([e.code, e.reason, e.message]).toEqual([400, "BadRequest", "Invalid JSON Patch"])
    }
  })

  test("never mutates its arguments", () => {
    const target = { spec: { replicas: 1, template: { labels: { a: "b" } } } }
    const patch = { spec: { replicas: 2, template: { labels: { c: "d" } } } }
    const snapshot = structuredClone([target, patch])
    const out = applyMergePatch(target, patch) as any
    expect([target, patch]).toEqual(snapshot)
    out.spec.template.labels.x = "y"
    expect(target.spec.template.labels).toEqual({ a: "b" })
  })
})

describe("JSON patch (RFC 6902)", () => {
  const doc = { metadata: { name: "x", labels: { "a/b": "1", "c~d": "2" } }, spec: { list: [1, 2, 3] } }

  test("add, remove, replace, move, copy, test", () => {
    const out = applyJsonPatch(doc, [
      { op: "test", path: "/metadata/name", value: "x" },
      { op: "add", path: "/metadata/annotations", value: { k: "v" } },
      { op: "replace", path: "/spec/list/0", value: 10 },
      { op: "add", path: "/spec/list/1", value: 15 },
      { op: "add", path: "/spec/list/-", value: 99 },
      { op: "remove", path: "/spec/list/2" },
      { op: "copy", from: "/metadata/name", path: "/spec/name" },
      { op: "move", from: "/metadata/annotations/k", path: "/spec/moved" },
    ])
    expect(out).toEqual({
      metadata: { name: "x", labels: { "a/b": "1", "c~d": "2" }, annotations: {} },
      spec: { list: [10, 15, 3, 99], name: "x", moved: "v" },
    })
    expect(doc.spec.list).toEqual([1, 2, 3])
  })

  test("JSON pointer escapes ~1 and ~0", () => {
    const out = applyJsonPatch(doc, [
      { op: "replace", path: "/metadata/labels/a~1b", value: "one" },
      { op: "remove", path: "/metadata/labels/c~0d" },
    ]) as any
    expect(out.metadata.labels).toEqual({ "a/b": "one" })
  })

  test("add replaces an existing member; test compares structurally", () => {
    expect(applyJsonPatch({ a: { x: 1, y: [1, { z: 2 }] } }, [
      { op: "test", path: "/a", value: { y: [1, { z: 2 }], x: 1 } },
      { op: "add", path: "/a", value: 3 },
    ])).toEqual({ a: 3 })
  })

  test("a failed test is a 422 Invalid with the server's generic message", () => {
    const e = patchError(() => applyJsonPatch(doc, [{ op: "test", path: "/metadata/name", value: "y" }]))
    expect([e.code, e.reason, e.message]).toEqual([422, "Invalid", "the server rejected our request due to an error in our request"])
    expect(e.detail).toContain("/metadata/name")
  })

  test("missing paths, bad indices, root and unknown ops are 422", () => {
    const bad: unknown[][] = [
      [{ op: "replace", path: "/metadata/missing", value: 1 }],
      [{ op: "remove", path: "/metadata/missing" }],
      [{ op: "add", path: "/nope/deeper", value: 1 }],
      [{ op: "add", path: "/spec/list/5", value: 1 }],
      [{ op: "replace", path: "/spec/list/-", value: 1 }],
      [{ op: "remove", path: "/spec/list/x" }],
      [{ op: "move", from: "/missing", path: "/x" }],
      [{ op: "copy", from: "/missing", path: "/x" }],
      [{ op: "add", path: "", value: {} }],
      [{ op: "add", path: "/x" }],
      [{ op: "frobnicate", path: "/x" }],
      [{ path: "/x" }],
    ]
    for (const ops of bad) expect(patchError(() => applyJsonPatch(doc, ops)).code).toBe(422)
  })

  test("negative indices count from the end, as the server's library allows", () => {
    expect(applyJsonPatch({ l: [1, 2, 3] }, [{ op: "remove", path: "/l/-1" }])).toEqual({ l: [1, 2] })
  })

  test("testing an absent member against null succeeds", () => {
    expect(applyJsonPatch({ a: 1 }, [{ op: "test", path: "/b", value: null }])).toEqual({ a: 1 })
  })

  test("a document that is not a list of operation objects is a 400", () => {
    const e = patchError(() => applyJsonPatch(doc, { op: "add" }))
    expect([e.code, e.reason]).toEqual([400, "BadRequest"])
    expect(e.message).toBe("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    expect(patchError(() => applyJsonPatch(doc, [1])).message).toBe(
      "json: cannot unmarshal number into Go value of type jsonpatch.Operation",
    )
  })

  test("more than 10000 operations is a 413", () => {
    const ops = Array.from({ length: 10001 }, () => ({ op: "test", path: "/metadata/name", value: "x" }))
    expect(patchError(() => applyJsonPatch(doc, ops)).code).toBe(413)
  })

  test("operations apply in order and the whole patch fails atomically", () => {
    const e = patchError(() =>
      applyJsonPatch(doc, [
        { op: "add", path: "/metadata/labels/new", value: "1" },
        { op: "test", path: "/metadata/name", value: "other" },
      ]),
    )
    expect(e.code).toBe(422)
    expect((doc.metadata.labels as any).new).toBeUndefined()
  })
})

describe("strategic merge patch (approximation)", () => {
  const deploy = {
    metadata: { name: "d", finalizers: ["a"], labels: { app: "x" } },
    spec: {
      replicas: 1,
      template: {
        spec: {
          containers: [
            {
              name: "main",
              image: "img:1",
              env: [
                { name: "A", value: "1" },
                { name: "B", value: "2" },
              ],
              ports: [{ containerPort: 80, name: "http" }],
              volumeMounts: [{ mountPath: "/data", name: "data" }],
            },
            { name: "side", image: "side:1" },
          ],
          volumes: [{ name: "data", emptyDir: {} }],
          tolerations: [{ key: "a" }],
        },
      },
    },
  }

  test("containers merge by name, env by name, ports by containerPort", () => {
    const out = applyStrategicMergePatch(
      deploy,
      {
        spec: {
          template: {
            spec: {
              containers: [
                {
                  name: "main",
                  image: "img:2",
                  env: [{ name: "B", value: "two" }, { name: "C", value: "3" }],
                  ports: [{ containerPort: 80, protocol: "TCP" }, { containerPort: 443 }],
                },
              ],
            },
          },
        },
      },
      "Deployment",
    ) as any
    const [main, side] = out.spec.template.spec.containers
    expect(main.image).toBe("img:2")
    expect(main.env).toEqual([
      { name: "A", value: "1" },
      { name: "B", value: "two" },
      { name: "C", value: "3" },
    ])
    expect(main.ports).toEqual([{ containerPort: 80, name: "http", protocol: "TCP" }, { containerPort: 443 }])
    expect(main.volumeMounts).toEqual([{ mountPath: "/data", name: "data" }])
    expect(side).toEqual({ name: "side", image: "side:1" })
  })

  test("$patch: delete removes a list item; $patch: replace replaces a list or a map", () => {
    const out = applyStrategicMergePatch(
      deploy,
      {
        metadata: { labels: { $patch: "replace", only: "this" } },
        spec: {
          template: {
            spec: {
              containers: [{ name: "side", $patch: "delete" }],
              volumes: [{ $patch: "replace" }, { name: "other", emptyDir: {} }],
            },
          },
        },
      },
      "Deployment",
    ) as any
    expect(out.metadata.labels).toEqual({ only: "this" })
    expect(out.spec.template.spec.containers.map((c: any) => c.name)).toEqual(["main"])
    expect(out.spec.template.spec.volumes).toEqual([{ name: "other", emptyDir: {} }])
  })

  test("lists without a merge key are replaced; null deletes; $patch: delete removes a map", () => {
    const out = applyStrategicMergePatch(
      deploy,
      { spec: { replicas: null, template: { spec: { tolerations: [{ key: "b" }], volumes: null } } }, metadata: { labels: { $patch: "delete" } } },
      "Deployment",
    ) as any
    expect(out.spec.template.spec.tolerations).toEqual([{ key: "b" }])
    expect(out.spec.replicas).toBeUndefined()
    expect(out.spec.template.spec.volumes).toBeUndefined()
    expect(out.metadata.labels).toBeUndefined()
  })

  test("finalizers merge as a set; $deleteFromPrimitiveList removes entries", () => {
    expect((applyStrategicMergePatch(deploy, { metadata: { finalizers: ["b", "a"] } }, "Deployment") as any).metadata.finalizers).toEqual(["a", "b"])
    expect(
      (applyStrategicMergePatch(deploy, { metadata: { "$deleteFromPrimitiveList/finalizers": ["a"] } }, "Deployment") as any).metadata.finalizers,
    ).toEqual([])
  })

  test("Service ports merge by port; directives never leak into the result", () => {
    const svc = { spec: { ports: [{ port: 80, targetPort: 8080 }, { port: 443 }] } }
    const out = applyStrategicMergePatch(
      svc,
      { $retainKeys: ["spec"], spec: { "$setElementOrder/ports": [{ port: 80 }], ports: [{ port: 80, name: "http" }] } },
      "Service",
    )
    expect(out).toEqual({ spec: { ports: [{ port: 80, targetPort: 8080, name: "http" }, { port: 443 }] } })
  })

  test("a non-object patch is a 400; arguments are never mutated", () => {
    expect(patchError(() => applyStrategicMergePatch(deploy, [1], "Deployment")).code).toBe(400)
    const before = structuredClone(deploy)
    applyStrategicMergePatch(deploy, { spec: { template: { spec: { containers: [{ name: "main", image: "z" }] } } } }, "Deployment")
    expect(deploy).toEqual(before)
  })
})
