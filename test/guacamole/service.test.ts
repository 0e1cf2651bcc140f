import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test"
import { randomUUID } from "node:crypto"
import { createServer } from "node:net"
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { GuacamoleDb, layer, make, requiredTables } from "../../src/guacamole/db.ts"
import { isTransient } from "../../src/guacamole/errors.ts"
import { openPool } from "../../src/guacamole/pool.ts"
import { createTestDatabase, type TestDatabase, testWithRealPostgres } from "../support/postgres.ts"
import { access, fail, run, VNC_PASSWORD } from "./support.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const opened: Array<TestDatabase> = []
const open = async (schema: "project" | "none" = "project") => {
  const db = await createTestDatabase({ schema })
  opened.push(db)
  return db
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close()))
})

/** A TCP port on which nothing listens (bound, then released). */
const closedPort = async (): Promise<number> => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe("the GuacamoleDb layer", () => {
  test("ping and checkSchema through the layer; the pool is ended when the layer is released", async () => {
    const db = await open()
    const scope = await Effect.runPromise(Scope.make())
    const context = await Effect.runPromise(Layer.buildWithScope(layer(db.settings), scope))
    const service = Context.get(context, GuacamoleDb)
    await run(service.ping)
    expect(await run(service.checkSchema)).toEqual({ missing: [] })
    expect(await run(service.ensure(access()))).not.toEqual([])
    await Effect.runPromise(Scope.close(scope, Exit.void))
    const after = await fail(service.ping)
    expect(after._tag).toBe("GuacamoleUnavailable")
    expect(after.message).toContain("CONNECTION_ENDED")
  })

  test("checkSchema names the missing tables; ensure on such a database is a schema error", async () => {
    const db = await open("none")
    const pool = openPool(db.settings)
    try {
      const service = make(pool)
      expect(await run(service.checkSchema)).toEqual({ missing: [...requiredTables] })
      const e = await fail(service.ensure(access()))
      expect(e._tag).toBe("GuacamoleSchemaError")
      expect(isTransient(e)).toBe(false)
      expect(e.message).toContain("42P01")
      expect(e.message).not.toContain(VNC_PASSWORD)
    } finally {
      await pool.end({ timeout: 5 })
    }
  })

  test("an unreachable server is a transient failure whose message holds no password", async () => {
    const port = await closedPort()
    const pool = openPool({
      host: "127.0.0.1",
      port,
      database: "guacamole",
      username: "guacamole@server",
      password: Redacted.make("db-password-123"),
      sslmode: "disable",
      maxConnections: 1,
    })
    try {
      const service = make(pool)
      for (const effect of [service.ping, service.ensure(access())]) {
        const e = await fail(effect)
        expect(e._tag).toBe("GuacamoleUnavailable")
        expect(isTransient(e)).toBe(true)
        expect(e.message).toContain("ECONNREFUSED")
        expect(`${e.message} ${JSON.stringify(e)}`).not.toMatch(/db-password-123|s3cret-VNC-pw/)
      }
    } finally {
      await pool.end({ timeout: 1 })
    }
  })

  testWithRealPostgres("a user name like guacamole@servername with a password full of URL characters signs in", async () => {
    const db = await open()
    const role = `guacamole_${randomUUID().slice(0, 8)}@servername`
    const password = `p@ss/w:rd%?#${randomUUID()}`
    await db.sql.unsafe(`CREATE ROLE "${role}" LOGIN PASSWORD '${password}'`)
    try {
      await db.sql.unsafe(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "${role}";
                           GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "${role}"`)
      const pool = openPool({ ...db.settings, username: role, password: Redacted.make(password), maxConnections: 1 })
      try {
        const [who] = await pool`SELECT current_user AS name`
        expect(who!.name).toBe(role)
        expect((await run(make(pool).ensure(access()))).length).toBe(12)
      } finally {
        await pool.end({ timeout: 5 })
      }
    } finally {
      await db.sql.unsafe(`DROP OWNED BY "${role}"`)
      await db.sql.unsafe(`DROP ROLE "${role}"`)
    }
  })
})
