import { describe, expect, test } from "bun:test"
import { Redacted } from "effect"
import { classifyError, isTransient } from "../../src/guacamole/errors.ts"
import { poolOptions } from "../../src/guacamole/pool.ts"
import { type DbSettings, dbSettingsFromUrl, dbSettingsToUrl, describeDbSettings } from "../../src/guacamole/settings.ts"

const postgresError = (code: string, message: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(message), { name: "PostgresError", code, ...extra })

describe("classifyError", () => {
  test.each([
    ["40001", "GuacamoleUnavailable"],
    ["40P01", "GuacamoleUnavailable"],
    ["57P01", "GuacamoleUnavailable"],
    ["53300", "GuacamoleUnavailable"],
    ["08006", "GuacamoleUnavailable"],
    ["42P01", "GuacamoleSchemaError"],
    ["28P01", "GuacamoleQueryError"],
    // A unique violation in the locked transaction: a row written meanwhile by someone else; the retry reads it.
    ["23505", "GuacamoleUnavailable"],
    ["23503", "GuacamoleQueryError"],
    ["P0001", "GuacamoleQueryError"],
  ])("SQLSTATE %s → %s", (code, tag) => {
    const e = classifyError(postgresError(code, "whatever"), "ensure ws@u")
    expect(e._tag as string).toBe(tag)
    expect(isTransient(e)).toBe(tag === "GuacamoleUnavailable")
    expect(e.message).toContain(code)
    expect(e.message).toStartWith("ensure ws@u: ")
  })

  test.each(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "CONNECT_TIMEOUT", "CONNECTION_CLOSED", "EAI_AGAIN"])(
    "socket failure %s is transient",
    (code) => {
      const e = classifyError(Object.assign(new Error(`connect ${code} 10.0.0.1:5432`), { code }), "ping")
      expect(e._tag).toBe("GuacamoleUnavailable")
      expect(isTransient(e)).toBe(true)
    },
  )

  test("never copies the server's message, the query or its parameters", () => {
    const raw = postgresError("22P02", 'invalid input syntax for type integer: "hunter2"', {
      table_name: "guacamole_connection_parameter",
      column_name: "parameter_value",
    })
    Object.defineProperties(raw, {
      query: { value: "INSERT … VALUES ($1)", enumerable: true },
      parameters: { value: ["hunter2"], enumerable: true },
    })
    const e = classifyError(raw, "ensure ws@u")
    expect(e.message).not.toContain("hunter2")
    expect(JSON.stringify(e)).not.toContain("hunter2")
    expect(String(e)).not.toContain("hunter2")
    expect(e.message).toContain("table guacamole_connection_parameter")
  })

  test("an error that is already ours passes through", () => {
    const ours = classifyError(postgresError("40001", "x"), "a")
    expect(classifyError(ours, "b")).toBe(ours)
  })
})

describe("settings", () => {
  test("an Azure-style user name and a password with URL characters survive a URL round trip", () => {
    const s = dbSettingsFromUrl("postgres://guacamole%40myserver:p%40ss%2Fw%3Ard%25@db.example.org:6432/guac?sslmode=require")
    expect(s.username).toBe("guacamole@myserver")
    expect(Redacted.value(s.password)).toBe("p@ss/w:rd%")
    expect(s).toMatchObject({ host: "db.example.org", port: 6432, database: "guac", sslmode: "require" })
    expect(dbSettingsFromUrl(dbSettingsToUrl(s))).toMatchObject({ username: s.username, host: s.host, port: 6432 })
    expect(Redacted.value(dbSettingsFromUrl(dbSettingsToUrl(s)).password)).toBe("p@ss/w:rd%")
  })

  test("descriptions and errors never show the password", () => {
    const s = dbSettingsFromUrl("postgres://u:topsecret@h/d")
    expect(describeDbSettings(s)).not.toContain("topsecret")
    expect(String(s.password)).not.toContain("topsecret")
    expect(() => dbSettingsFromUrl("postgres://u:topsecret@h/d?sslmode=allow")).toThrow(/sslmode/)
    try {
      dbSettingsFromUrl("postgres://u:topsecret@h/d?sslmode=bogus")
    } catch (e) {
      expect(String(e)).not.toContain("topsecret")
    }
  })

  test("the pool gets the fields separately, the password only through a function, TLS per sslmode", () => {
    const base: DbSettings = {
      host: "guac.postgres.database.azure.com",
      port: 5432,
      database: "guacamole",
      username: "guacamole@guac",
      password: Redacted.make("pw@/:%"),
      sslmode: "disable",
      maxConnections: 3,
    }
    const o = poolOptions(base)
    expect(o).toMatchObject({ host: base.host, port: 5432, database: "guacamole", username: "guacamole@guac", max: 3 })
    expect(o.connect_timeout).toBe(10)
    expect(typeof o.password).toBe("function")
    expect((o.password as () => string)()).toBe("pw@/:%")
    expect(JSON.stringify(o)).not.toContain("pw@/:%")
    expect(o.ssl).toBe(false)
    expect(poolOptions({ ...base, sslmode: "prefer" }).ssl).toBe("prefer")
    expect(poolOptions({ ...base, sslmode: "require" }).ssl).toBe("require")
    expect(poolOptions({ ...base, sslmode: "verify-full" }).ssl).toBe("verify-full")
  })
})
