import { describe, expect, test } from "bun:test"
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { parse } from "yaml"
import { applyDefaults, formatCauses, goFloat, isDate, pruneUnknownFields, validateAgainstSchema, type JSONSchemaProps } from "./structural.ts"

/** What the server stores from a create: pruned, defaulted; plus what validation says about it. */
const admit = (obj: unknown, schema: JSONSchemaProps) => {
  const stored = applyDefaults(pruneUnknownFields(obj, schema), schema) as any
  return { stored, causes: validateAgainstSchema(stored, schema) }
}

describe("pruning", () => {
  const schema: JSONSchemaProps = {
    type: "object",
    properties: {
      spec: {
        type: "object",
        properties: {
          a: { type: "string" },
          list: { type: "array", items: { type: "object", properties: { k: { type: "string" } } } },
          map: { type: "object", additionalProperties: { type: "object", properties: { v: { type: "integer" } } } },
          free: { type: "object", "x-kubernetes-preserve-unknown-fields": true, properties: { typed: { type: "object", properties: { x: { type: "string" } } } } },
          bare: { type: "object" },
          embedded: { type: "object", "x-kubernetes-embedded-resource": true, properties: { spec: { type: "object", properties: { y: { type: "string" } } } } },
        },
      },
    },
  }

  test("unknown fields are dropped at every level; apiVersion/kind/metadata survive at the root", () => {
    const out = pruneUnknownFields(
      {
        apiVersion: "g/v1",
        kind: "K",
        metadata: { name: "x", anything: { goes: 1 } },
        top: 1,
        spec: {
          a: "x",
          b: "gone",
          list: [{ k: "1", z: 2 }],
          map: { one: { v: 1, w: 2 } },
          free: { anything: { deep: true }, typed: { x: "1", dropped: 2 } },
          bare: { everything: "goes" },
          embedded: { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { y: "1", z: "2" }, other: 1 },
        },
      },
      schema,
    )
    expect(out).toEqual({
      apiVersion: "g/v1",
      kind: "K",
      metadata: { name: "x", anything: { goes: 1 } },
      spec: {
        a: "x",
        list: [{ k: "1" }],
        map: { one: { v: 1 } },
        free: { anything: { deep: true }, typed: { x: "1" } },
        bare: {},
        embedded: { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: { y: "1" } },
      },
    })
  })

  test("fields named only inside anyOf are not part of the structure and are pruned", () => {
    const s: JSONSchemaProps = { type: "object", properties: { spec: { type: "object", properties: { a: { type: "string" } }, anyOf: [{ properties: { b: {} } as any }] } } }
    expect(pruneUnknownFields({ spec: { a: "1", b: "2" } }, s)).toEqual({ spec: { a: "1" } })
  })

  test("a null in a non-nullable field without a default is dropped; nullable or defaulted nulls stay", () => {
    const s: JSONSchemaProps = {
      type: "object",
      properties: {
        spec: {
          type: "object",
          properties: { plain: { type: "string" }, canBeNull: { type: "string", nullable: true }, withDefault: { type: "string", default: "d" } },
        },
      },
    }
    const pruned = pruneUnknownFields({ spec: { plain: null, canBeNull: null, withDefault: null } }, s)
    expect(pruned).toEqual({ spec: { canBeNull: null, withDefault: null } })
    expect(applyDefaults(pruned, s)).toEqual({ spec: { canBeNull: null, withDefault: "d" } })
  })

  test("a root with x-kubernetes-preserve-unknown-fields keeps everything", () => {
    const s: JSONSchemaProps = { type: "object", "x-kubernetes-preserve-unknown-fields": true }
    expect(pruneUnknownFields({ spec: { any: [1] } }, s)).toEqual({ spec: { any: [1] } })
  })

  test("never mutates its argument", () => {
    const obj = { spec: { a: "x", b: "y" } }
    pruneUnknownFields(obj, schema)
    expect(obj).toEqual({ spec: { a: "x", b: "y" } })
  })
})

describe("defaulting", () => {
  test("absent fields get a deep copy of the default, inside arrays and map values too", () => {
    const shared = { nested: { n: 1 } }
    const s: JSONSchemaProps = {
      type: "object",
      properties: {
        spec: {
          type: "object",
          default: {},
          properties: {
            replicas: { type: "integer", default: 0 },
            obj: { type: "object", default: shared, properties: { nested: { type: "object", properties: { n: { type: "integer" }, m: { type: "string", default: "inner" } } } } },
            items: { type: "array", items: { type: "object", properties: { p: { type: "string", default: "tcp" } } } },
            byName: { type: "object", additionalProperties: { type: "object", properties: { on: { type: "boolean", default: true } } } },
            explicit: { type: "string", default: "d" },
          },
        },
      },
    }
    const out = applyDefaults({ spec: { items: [{}, { p: "udp" }], byName: { a: {}, b: { on: false } }, explicit: "mine" } }, s) as any
    expect(out.spec).toEqual({
      replicas: 0,
      obj: { nested: { n: 1, m: "inner" } },
      items: [{ p: "tcp" }, { p: "udp" }],
      byName: { a: { on: true }, b: { on: false } },
      explicit: "mine",
    })
    out.spec.obj.nested.n = 99
    expect(shared.nested.n).toBe(1)
    // A default object is itself defaulted: an absent spec becomes {} and then gets its own defaults.
    expect((applyDefaults({}, s) as any).spec.replicas).toBe(0)
  })

  test("a null array item is replaced by the items default when not nullable", () => {
    const s: JSONSchemaProps = { type: "object", properties: { l: { type: "array", items: { type: "string", default: "x" } } } }
    expect(applyDefaults({ l: [null, "y"] }, s)).toEqual({ l: ["x", "y"] })
  })
})

describe("validation messages", () => {
  const s: JSONSchemaProps = {
    type: "object",
    properties: {
      spec: {
        type: "object",
        required: ["name"],
        properties: {
          name: { type: "string", minLength: 2, maxLength: 5 },
          replicas: { type: "integer", minimum: 0, maximum: 10 },
          ratio: { type: "number", maximum: 1.5 },
          mode: { type: "string", enum: ["Fast", "Slow"] },
          port: { "x-kubernetes-int-or-string": true },
          maybe: { type: "string", nullable: true },
          tags: { type: "array", maxItems: 2, minItems: 1, items: { type: "string", pattern: "^[a-z]+$" } },
          when: { type: "string", format: "date" },
          at: { type: "string", format: "date-time" },
          pick: { type: "object", oneOf: [{ required: ["a"] }, { required: ["b"] }], properties: { a: { type: "string" }, b: { type: "string" } } },
          labels: { type: "object", additionalProperties: { type: "string" } },
        },
      },
    },
  }
  const causes = (spec: unknown) => validateAgainstSchema({ spec }, s)

  test("a valid object has no causes; integers need no fraction, numbers accept integers", () => {
    expect(causes({ name: "ok", replicas: 3, ratio: 1, mode: "Fast", port: "http", maybe: null, tags: ["a"], when: "2024-02-29", at: "2024-01-01T10:00:00Z", pick: { a: "x" }, labels: { x: "y" } })).toEqual([])
    expect(causes({ name: "ok", port: 8080 })).toEqual([])
  })

  test("Required value", () => {
    expect(causes({})).toEqual([{ reason: "FieldValueRequired", message: "Required value", field: "spec.name" }])
  })

  test("type errors name the expected type and the received one", () => {
    expect(causes({ name: "ok", replicas: "3" })).toEqual([
      { reason: "FieldValueTypeInvalid", message: 'Invalid value: "string": spec.replicas in body must be of type integer: "string"', field: "spec.replicas" },
    ])
    expect(causes({ name: "ok", replicas: 1.5 })[0]!.message).toBe('Invalid value: "number": spec.replicas in body must be of type integer: "number"')
    expect(causes({ name: "ok", port: true })[0]!.message).toBe('Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"')
    expect(causes({ name: "ok", labels: { x: 1 } })[0]).toEqual({
      reason: "FieldValueTypeInvalid",
      message: 'Invalid value: "integer": spec.labels.x in body must be of type string: "integer"',
      field: "spec.labels.x",
    })
    expect(validateAgainstSchema({ spec: "x" }, s)[0]!.message).toBe('Invalid value: "string": spec in body must be of type object: "string"')
  })

  test("minimum/maximum, string lengths, enum", () => {
    expect(causes({ name: "ok", replicas: -1 })).toEqual([
      { reason: "FieldValueInvalid", message: "Invalid value: -1: spec.replicas in body should be greater than or equal to 0", field: "spec.replicas" },
    ])
    expect(causes({ name: "ok", replicas: 11 })[0]!.message).toBe("Invalid value: 11: spec.replicas in body should be less than or equal to 10")
    expect(causes({ name: "ok", ratio: 2.5 })[0]!.message).toBe("Invalid value: 2.5: spec.ratio in body should be less than or equal to 1.5")
    expect(causes({ name: "a" })[0]!.message).toBe('Invalid value: "a": spec.name in body should be at least 2 chars long')
    expect(causes({ name: "toolong" })[0]).toEqual({ reason: "FieldValueTooLong", message: "Too long: may not be longer than 5", field: "spec.name" })
    expect(causes({ name: "ok", mode: "Medium" })).toEqual([
      { reason: "FieldValueNotSupported", message: 'Unsupported value: "Medium": supported values: "Fast", "Slow"', field: "spec.mode" },
    ])
  })

  test("array items carry [i] in their path; item counts", () => {
    expect(causes({ name: "ok", tags: ["ok", "NO"] })).toEqual([
      { reason: "FieldValueInvalid", message: `Invalid value: "NO": spec.tags[1] in body should match '^[a-z]+$'`, field: "spec.tags[1]" },
    ])
    expect(causes({ name: "ok", tags: [] })[0]!.message).toBe("Invalid value: 0: spec.tags in body should have at least 1 items")
    expect(causes({ name: "ok", tags: ["a", "b", "c"] })[0]).toEqual({ reason: "FieldValueTooMany", message: "Too many: 3: must have at most 2 items", field: "spec.tags" })
  })

  test("null is refused where not nullable", () => {
    expect(causes({ name: null })[0]).toEqual({
      reason: "FieldValueTypeInvalid",
      message: 'Invalid value: "null": spec.name in body must be of type string: "null"',
      field: "spec.name",
    })
  })

  test("format date is time.Parse(\"2006-01-02\"); date-time is RFC 3339", () => {
    expect(isDate("2026-12-31")).toBe(true)
    expect(isDate("2024-02-29")).toBe(true)
    for (const bad of ["31/12/2026", "2023-02-29", "2026-13-01", "2026-1-01", "26-01-01", "2026-01-01T00:00:00Z", " 2026-01-01"]) expect(isDate(bad)).toBe(false)
    expect(causes({ name: "ok", when: "2026-02-30" })[0]).toEqual({
      reason: "FieldValueTypeInvalid",
      message: 'Invalid value: "2026-02-30": spec.when in body must be of type date: "2026-02-30"',
      field: "spec.when",
    })
    expect(causes({ name: "ok", at: "yesterday" })[0]!.message).toBe('Invalid value: "yesterday": spec.at in body must be of type date-time: "yesterday"')
  })

  test("oneOf: none or several valid is reported on <nil> as the real server does", () => {
    expect(causes({ name: "ok", pick: {} })).toEqual([
      { reason: "FieldValueInvalid", message: 'Invalid value: "": "spec.pick" must validate one and only one schema (oneOf). Found none valid', field: "<nil>" },
      { reason: "FieldValueRequired", message: "Required value", field: "spec.pick.a" },
    ])
    expect(causes({ name: "ok", pick: { a: "1", b: "2" } })[0]!.message).toBe(
      'Invalid value: "": "spec.pick" must validate one and only one schema (oneOf). Found 2 valid alternatives',
    )
  })

  test("causes render as the server's aggregate message", () => {
    expect(formatCauses(causes({ replicas: -1 }))).toBe(
      "[spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0, spec.name: Required value]",
    )
  })

  test("floats print as Go's %v", () => {
    expect([goFloat(1.5), goFloat(1e6), goFloat(123456.5), goFloat(0.00001), goFloat(0.0001)]).toEqual(["1.5", "1e+06", "123456.5", "1e-05", "0.0001"])
  })
})

const crdDir = fileURLToPath(new URL("../../../shared/fixtures/crds/", import.meta.url))
const haveFixtures = existsSync(crdDir)
const schemaOf = (file: string): JSONSchemaProps => parse(readFileSync(crdDir + file, "utf8")).spec.versions[0].schema.openAPIV3Schema

describe.skipIf(!haveFixtures)(`fixture CRDs (skipped when ${crdDir} is absent)`, () => {
  const binding = (spec: Record<string, unknown>, status?: Record<string, unknown>) => ({
    apiVersion: "xlscsde.nhs.uk/v1",
    kind: "AnalyticsWorkspaceBinding",
    metadata: { name: "b", namespace: "ns" },
    spec,
    ...(status ? { status } : {}),
  })

  test("a valid binding passes and gets replicas 0 by default", () => {
    const s = schemaOf("analyticsworkspacebindings.xlscsde.nhs.uk.yaml")
    const { stored, causes } = admit(binding({ workspace: "ws", expires: "2026-12-31", username: "alice@example.com" }), s)
    expect(causes).toEqual([])
    expect(stored.spec.replicas).toBe(0)
    const withClaims = admit(binding({ workspace: "ws", expires: "2026-12-31", claims: [{ name: "group", operator: "EQUALS", value: "x" }], replicas: 1 }), s)
    expect(withClaims.causes).toEqual([])
    expect(withClaims.stored.spec.replicas).toBe(1)
  })

  test("missing workspace and expires are Required", () => {
    const { causes } = admit(binding({ username: "alice" }), schemaOf("analyticsworkspacebindings.xlscsde.nhs.uk.yaml"))
    expect(causes).toEqual([
      { reason: "FieldValueRequired", message: "Required value", field: "spec.workspace" },
      { reason: "FieldValueRequired", message: "Required value", field: "spec.expires" },
    ])
  })

  test("neither username nor claims fails the anyOf, reporting the first branch's miss", () => {
    const { causes } = admit(binding({ workspace: "ws", expires: "2026-12-31" }), schemaOf("analyticsworkspacebindings.xlscsde.nhs.uk.yaml"))
    expect(causes).toEqual([
      { reason: "FieldValueInvalid", message: 'Invalid value: "": "spec" must validate at least one schema (anyOf)', field: "<nil>" },
      { reason: "FieldValueRequired", message: "Required value", field: "spec.username" },
    ])
  })

  test("expires 31/12/2026 is not a date", () => {
    const { causes } = admit(binding({ workspace: "ws", expires: "31/12/2026", username: "a" }), schemaOf("analyticsworkspacebindings.xlscsde.nhs.uk.yaml"))
    expect(causes).toEqual([
      { reason: "FieldValueTypeInvalid", message: 'Invalid value: "31/12/2026": spec.expires in body must be of type date: "31/12/2026"', field: "spec.expires" },
    ])
  })

  test("unknown spec fields and undeclared status fields are pruned", () => {
    const { stored, causes } = admit(
      binding({ workspace: "ws", expires: "2026-12-31", username: "a", colour: "blue" }, { statusText: "Running", message: "gone", replicas: 1 }),
      schemaOf("analyticsworkspacebindings.xlscsde.nhs.uk.yaml"),
    )
    expect(causes).toEqual([])
    expect(stored.spec.colour).toBeUndefined()
    expect(stored.status).toEqual({ statusText: "Running", replicas: 1 })
    expect(stored.metadata).toEqual({ name: "b", namespace: "ns" })
  })

  test("the claim operator pattern is enforced (unanchored, as Go's regexp.MatchString)", () => {
    const s = schemaOf("analyticsworkspacebindings.xlscsde.nhs.uk.yaml")
    const claims = (operator: string) => admit(binding({ workspace: "ws", expires: "2026-12-31", claims: [{ name: "g", operator, value: "v" }] }), s).causes
    expect(claims("NOT IN")).toEqual([])
    expect(claims("LIKE")).toEqual([
      { reason: "FieldValueInvalid", message: `Invalid value: "LIKE": spec.claims[0].operator in body should match 'EQUALS|NOT EQUALS|IN|NOT IN'`, field: "spec.claims[0].operator" },
    ])
    expect(claims("CONTAINS")).toEqual([]) // contains "IN": the pattern is not anchored
  })

  test("workspace: status default, int-or-string maxHosts, extraLabels map, anyOf over workspace kinds", () => {
    const s = schemaOf("analyticsworkspaces.xlscsde.nhs.uk.yaml")
    const ws = (spec: Record<string, unknown>, status?: Record<string, unknown>) => ({ apiVersion: "xlscsde.nhs.uk/v1", kind: "AnalyticsWorkspace", metadata: { name: "w" }, spec, ...(status ? { status } : {}) })
    const base = { displayName: "W", description: "d", validity: { availableFrom: "2026-01-01", expires: "2026-12-31" } }
    const ok = admit(ws({ ...base, jupyterWorkspace: { image: "repo/img:1.0", extraLabels: { a: "b" }, nodeSelector: { any: "thing" } } }, { statusText: null, other: 1 }), s)
    expect(ok.causes).toEqual([])
    expect(ok.stored.status).toEqual({ statusText: "Waiting" }) // null in a non-nullable defaulted field is defaulted
    expect(ok.stored.spec.jupyterWorkspace.nodeSelector).toEqual({ any: "thing" })
    expect(admit(ws({ ...base, virtualMachineWorkspace: { maxHosts: "3" } }), s).causes).toEqual([])
    expect(admit(ws({ ...base, virtualMachineWorkspace: { maxHosts: 3 } }), s).causes).toEqual([])
    const bad = admit(ws({ ...base, virtualMachineWorkspace: { maxHosts: true } }), s).causes
    expect(bad.map((c) => c.field)).toEqual(["spec.virtualMachineWorkspace.maxHosts", "<nil>", "spec.virtualMachineWorkspace.maxHosts"])
    expect(bad[0]!.message).toBe('Invalid value: "boolean": spec.virtualMachineWorkspace.maxHosts in body must be of type integer,string: "boolean"')
    const none = admit(ws({ ...base, validity: { availableFrom: "2026-01-01" } }), s).causes
    expect(none).toEqual([
      { reason: "FieldValueInvalid", message: 'Invalid value: "": "spec" must validate at least one schema (anyOf)', field: "<nil>" },
      { reason: "FieldValueRequired", message: "Required value", field: "spec.jupyterWorkspace" },
      { reason: "FieldValueRequired", message: "Required value", field: "spec.validity.expires" },
    ])
  })
})
