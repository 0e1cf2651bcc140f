import { describe, expect, test } from "bun:test"
import { Either } from "effect"
import {
  type Binding,
  bindingKey,
  decodeBinding,
  expiryInstant,
  InvalidBinding,
  isExpired,
  MAX_ENTITY_NAME_LENGTH
} from "../../src/domain/binding.ts"

/** A binding as the API server returns it (server-set metadata included). */
const raw = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  apiVersion: "xlscsde.nhs.uk/v1",
  kind: "AnalyticsWorkspaceBinding",
  metadata: {
    name: "alice-ws1",
    namespace: "jupyterhub",
    uid: "0b0f6b4e-1111-2222-3333-444455556666",
    resourceVersion: "12345",
    generation: 3,
    creationTimestamp: "2026-01-01T00:00:00Z",
    managedFields: [{ manager: "kubectl" }],
    labels: { team: "a" },
    annotations: { note: "x" }
  },
  spec: { workspace: "ws1", username: "alice", replicas: 1, expires: "2030-12-31", ...spec },
  ...extra
})

const ok = (u: unknown): Binding => {
  const r = decodeBinding(u)
  if (Either.isLeft(r)) throw new Error(`expected a valid binding, got: ${r.left.message}`)
  return r.right
}

const fails = (u: unknown): string => {
  const r = decodeBinding(u)
  if (Either.isRight(r)) throw new Error("expected the binding to be rejected")
  expect(r.left).toBeInstanceOf(InvalidBinding)
  expect(r.left._tag).toBe("InvalidBinding")
  return r.left.message
}

describe("decodeBinding accepts what the API server serves", () => {
  test("a full binding keeps its fields; unknown fields are ignored", () => {
    const b = ok(
      raw(
        { comments: "c", claims: [{ name: "group", operator: "IN", value: "x" }], future: true },
        { status: { statusText: "READY", deploymentName: "cee3c61f22f5523cab33ca6ab9cfc699", replicas: 1 } }
      )
    )
    expect(b.metadata).toEqual({
      name: "alice-ws1",
      namespace: "jupyterhub",
      uid: "0b0f6b4e-1111-2222-3333-444455556666",
      resourceVersion: "12345",
      generation: 3,
      labels: { team: "a" },
      annotations: { note: "x" }
    })
    expect(b.spec).toEqual({
      workspace: "ws1",
      username: "alice",
      replicas: 1,
      expires: "2030-12-31",
      comments: "c",
      claims: [{ name: "group", operator: "IN", value: "x" }]
    })
    expect(b.status?.deploymentName).toBe("cee3c61f22f5523cab33ca6ab9cfc699")
    expect(b.status?.statusText).toBe("READY")
    expect(b.status?.replicas).toBe(1)
  })

  test("replicas absent means 0 (a new binding's browser is not started)", () => {
    const { replicas: _, ...spec } = raw({}).spec
    const r = raw({})
    expect(ok({ ...r, spec }).spec.replicas).toBe(0)
  })

  test("deletionTimestamp and finalizers are kept", () => {
    const r = raw({})
    const b = ok({ ...r, metadata: { ...r.metadata, deletionTimestamp: "2026-02-02T00:00:00Z", finalizers: ["f/1"] } })
    expect(b.metadata.deletionTimestamp).toBe("2026-02-02T00:00:00Z")
    expect(b.metadata.finalizers).toEqual(["f/1"])
  })

  test("a status field of the wrong type is dropped, not fatal; other status fields are kept", () => {
    const b = ok(raw({}, { status: { statusText: 7, replicas: "one", deploymentName: "d", extra: { a: 1 } } }))
    expect(b.status).toEqual({ deploymentName: "d", extra: { a: 1 } })
  })

  test("usernames with @, inner spaces and non-ASCII characters are fine", () => {
    expect(ok(raw({ workspace: "ws1", username: "café ws" })).spec.username).toBe("café ws")
    expect(ok(raw({ workspace: "example-workspace", username: "shaun.turner@example.co.uk" })).spec.username).toBe(
      "shaun.turner@example.co.uk"
    )
  })

  test("an entity name of exactly 128 characters (counted in code points) is accepted", () => {
    const workspace = "w".repeat(60)
    const username = "😀".repeat(MAX_ENTITY_NAME_LENGTH - 61) // 67 code points, 134 UTF-16 units
    expect(ok(raw({ workspace, username })).spec.workspace).toBe(workspace)
  })
})

describe("decodeBinding rejects with one sentence naming the field", () => {
  test("username missing (claims-only binding)", () => {
    const { username: _, ...spec } = raw({}).spec
    expect(fails({ ...raw({}), spec: { ...spec, claims: [{ name: "g", operator: "EQUALS", value: "v" }] } })).toBe(
      "spec.username is required: bindings matched by claims only are not supported by this operator"
    )
  })

  test("workspace missing", () => {
    const { workspace: _, ...spec } = raw({}).spec
    expect(fails({ ...raw({}), spec })).toBe("spec.workspace is required")
  })

  test("expires missing", () => {
    const { expires: _, ...spec } = raw({}).spec
    expect(fails({ ...raw({}), spec })).toBe("spec.expires is required")
  })

  test("spec missing or not an object", () => {
    const { spec: _, ...rest } = raw({})
    expect(fails(rest)).toBe(
      "spec is required: a binding needs spec.workspace, spec.username and spec.expires"
    )
    expect(fails({ ...rest, spec: null })).toBe("spec must be an object (got null)")
    expect(fails({ ...rest, spec: [] })).toBe("spec must be an object (got a list)")
  })

  test("empty, blank or non-string workspace and username", () => {
    expect(fails(raw({ workspace: "" }))).toBe("spec.workspace must not be empty")
    expect(fails(raw({ username: "   " }))).toBe("spec.username must not be empty")
    expect(fails(raw({ workspace: 42 }))).toBe("spec.workspace must be a string (got 42)")
    expect(fails(raw({ username: null }))).toBe("spec.username must be a string (got null)")
  })

  test("control characters", () => {
    expect(fails(raw({ username: "alice\n" }))).toBe(
      'spec.username must not contain control characters (got "alice\\n")'
    )
    expect(fails(raw({ username: "w\u0000s" }))).toStartWith("spec.username must not contain control characters")
    expect(fails(raw({ username: "w\u007Fs" }))).toStartWith("spec.username must not contain control characters")
    expect(fails(raw({ workspace: "w\u0000s" }))).toStartWith("spec.workspace must be the name of an AnalyticsWorkspace")
  })

  test("a lone surrogate (not encodable as UTF-8, so not storable in PostgreSQL)", () => {
    expect(fails(raw({ username: "a\uD800" }))).toBe(
      "spec.username must be valid Unicode text (it contains a lone UTF-16 surrogate)"
    )
  })

  test("replicas negative, fractional, too large or not a number", () => {
    expect(fails(raw({ replicas: -1 }))).toBe("spec.replicas must be an integer between 0 and 2147483647 (got -1)")
    expect(fails(raw({ replicas: 1.5 }))).toBe("spec.replicas must be an integer between 0 and 2147483647 (got 1.5)")
    expect(fails(raw({ replicas: 2 ** 31 }))).toStartWith("spec.replicas must be an integer between 0 and 2147483647")
    expect(fails(raw({ replicas: "1" }))).toBe('spec.replicas must be an integer of at least 0 (got "1")')
  })

  test("expires not YYYY-MM-DD or not a real date", () => {
    expect(fails(raw({ expires: "31/12/2030" }))).toBe('spec.expires must be a date written YYYY-MM-DD (got "31/12/2030")')
    expect(fails(raw({ expires: "2030-12-31T00:00:00Z" }))).toStartWith("spec.expires must be a date written YYYY-MM-DD")
    expect(fails(raw({ expires: "2030-02-29" }))).toBe('spec.expires must be a real calendar date (got "2030-02-29")')
    expect(fails(raw({ expires: "2030-13-01" }))).toBe('spec.expires must be a real calendar date (got "2030-13-01")')
    expect(fails(raw({ expires: "2030-04-31" }))).toBe('spec.expires must be a real calendar date (got "2030-04-31")')
    expect(ok(raw({ expires: "2028-02-29" })).spec.expires).toBe("2028-02-29")
  })

  test("the Guacamole name limit (varchar(128)) is named", () => {
    const message = fails(raw({ workspace: "w".repeat(64), username: "u".repeat(64) }))
    expect(message).toBe(
      'spec.workspace and spec.username together are too long: the Guacamole user name "<workspace>@<username>" ' +
        "would be 129 characters, and Guacamole's entity, connection and connection group names (varchar(128)) " +
        "hold at most 128"
    )
  })

  test("a long bad value is shortened in the message", () => {
    const message = fails(raw({ expires: "x".repeat(500) }))
    expect(message.length).toBeLessThan(120)
  })

  test("metadata problems name the metadata field", () => {
    const r = raw({})
    const { uid: _, ...noUid } = r.metadata
    expect(fails({ ...r, metadata: noUid })).toBe("metadata.uid is required")
    expect(fails({ ...r, metadata: { ...r.metadata, labels: { a: 1 } } })).toBe("metadata.labels.a must be a string (got 1)")
    expect(fails({ ...r, metadata: { ...r.metadata, finalizers: ["a", 2] } })).toBe(
      "metadata.finalizers[1] must be a string (got 2)"
    )
  })

  test("not an object at all", () => {
    expect(fails(null)).toBe("the binding must be a JSON object (got null)")
    expect(fails("binding")).toBe('the binding must be a JSON object (got "binding")')
  })

  test("claims of the wrong shape", () => {
    expect(fails(raw({ claims: [{ name: 1 }] }))).toBe("spec.claims[0].name must be a string (got 1)")
    expect(fails(raw({ claims: "x" }))).toBe('spec.claims must be a list (got "x")')
  })
})

describe("expiry", () => {
  test("valid through the whole expiry date (UTC), expired from the next day 00:00:00Z", () => {
    expect(isExpired("2030-12-31", new Date("2030-12-31T00:00:00Z"))).toBe(false)
    expect(isExpired("2030-12-31", new Date("2030-12-31T23:59:59.999Z"))).toBe(false)
    expect(isExpired("2030-12-31", new Date("2031-01-01T00:00:00Z"))).toBe(true)
    expect(isExpired("2030-12-31", new Date("2029-06-01T12:00:00Z"))).toBe(false)
    expect(isExpired("2030-12-31", new Date("2040-06-01T12:00:00Z"))).toBe(true)
  })

  test("expiryInstant is the next day's midnight UTC, across month, year and leap-day boundaries", () => {
    expect(expiryInstant("2030-12-31").toISOString()).toBe("2031-01-01T00:00:00.000Z")
    expect(expiryInstant("2030-04-30").toISOString()).toBe("2030-05-01T00:00:00.000Z")
    expect(expiryInstant("2028-02-28").toISOString()).toBe("2028-02-29T00:00:00.000Z")
    expect(expiryInstant("2028-02-29").toISOString()).toBe("2028-03-01T00:00:00.000Z")
    expect(expiryInstant("0099-01-01").getUTCFullYear()).toBe(99)
  })

  test("expiryInstant refuses what is not a calendar date", () => {
    expect(() => expiryInstant("2030-02-30")).toThrow(RangeError)
    expect(() => expiryInstant("soon")).toThrow(RangeError)
  })
})

test("bindingKey is namespace/name", () => {
  expect(bindingKey({ metadata: { namespace: "jupyterhub", name: "alice-ws1" } })).toBe("jupyterhub/alice-ws1")
  expect(bindingKey(ok(raw({})))).toBe("jupyterhub/alice-ws1")
})
