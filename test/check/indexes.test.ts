/**
 * The operator's indexes on Guacamole's tables: `check` says whether they
 * exist and, when not, what to run; the operator creates them when its user
 * may, rebuilds one a build left INVALID, and carries on with a clear warning
 * when its user may not (only a table's owner may create an index on it).
 */
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test"
import { randomUUID } from "node:crypto"
import { Effect, Layer, Logger, LogLevel, Redacted } from "effect"
import postgres from "postgres"
import { checkSchema } from "../../src/check.ts"
import { probeLayer } from "../../src/check/database.ts"
import { make } from "../../src/guacamole/db.ts"
import { ensureIndexes, indexStatus, operatorIndexes } from "../../src/guacamole/indexes.ts"
import { poolOptions } from "../../src/guacamole/pool.ts"
import type { DbSettings } from "../../src/guacamole/settings.ts"
import { createTestDatabase, type TestDatabase, testWithRealPostgres } from "../support/postgres.ts"
import { access } from "../guacamole/support.ts"

setDefaultTimeout(60_000)

let db: TestDatabase
let pool: postgres.Sql

beforeEach(async () => {
  db = await createTestDatabase()
  pool = postgres(poolOptions(db.settings))
})
afterEach(async () => {
  await pool?.end({ timeout: 5 })
  await db?.close()
})

const schemaCheck = (settings: DbSettings) =>
  Effect.runPromise(Effect.scoped(Layer.build(probeLayer(settings)).pipe(Effect.flatMap((ctx) => Effect.provide(checkSchema(settings), ctx)))))

/** Captures the warnings an effect logs. */
const warningsOf = async <A>(e: Effect.Effect<A>): Promise<{ value: A; warnings: string[] }> => {
  const warnings: string[] = []
  const logger = Logger.make(({ logLevel, message }) => {
    if (logLevel === LogLevel.Warning) warnings.push(String(Array.isArray(message) ? message.join(" ") : message))
  })
  const value = await Effect.runPromise(e.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
  return { value, warnings }
}

describe("the operator's indexes", () => {
  test("check reports them missing with the statement to run, then present once created", async () => {
    const before = await schemaCheck(db.settings)
    expect(before.status).toBe("ok")
    for (const index of operatorIndexes) {
      expect(before.detail).toContain(index.name)
      expect(before.detail).toContain(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${index.name} ${index.definition}`)
    }
    expect(before.detail).toContain("the operator's indexes are missing")
    expect(before.detail).toContain("DB_CREATE_INDEXES=false")

    const optedOut = await schemaCheck({ ...db.settings, createIndexes: false })
    expect(optedOut.detail).toContain("DB_CREATE_INDEXES=false, so the operator will not create them")

    const { value, warnings } = await warningsOf(ensureIndexes(pool))
    expect(value.map((o) => o.result)).toEqual(operatorIndexes.map(() => "created"))
    expect(warnings).toEqual([])
    const after = await schemaCheck(db.settings)
    expect(after.status).toBe("ok")
    expect(after.detail).toContain(`the operator's indexes are present (${operatorIndexes.map((i) => i.name).join(", ")})`)
  })

  testWithRealPostgres("an index a build left INVALID is reported so, dropped and built again", async () => {
    // Two user names equal but for case: a UNIQUE build of the same name fails half-way and leaves it INVALID.
    await db.sql`INSERT INTO guacamole_entity (name, type) VALUES ('ws@Ann', 'USER'), ('ws@ann', 'USER')`
    await db.sql
      .unsafe(`CREATE UNIQUE INDEX CONCURRENTLY awms_guacamole_entity_lower_name ON guacamole_entity (lower(name))`)
      .catch(() => undefined)
    expect((await Effect.runPromise(indexStatus(pool)))[0]!.state).toBe("invalid")
    expect((await schemaCheck(db.settings)).detail).toContain("awms_guacamole_entity_lower_name (INVALID, a build was interrupted)")
    await Effect.runPromise(ensureIndexes(pool))
    expect((await Effect.runPromise(indexStatus(pool))).map((s) => s.state)).toEqual(operatorIndexes.map(() => "present"))
  })

  testWithRealPostgres("a user that does not own the tables: a warning per index with the remedy, nothing fails, the operator's work goes on", async () => {
    const role = `awms_t_${randomUUID().replaceAll("-", "").slice(0, 12)}`
    const password = `pw-${randomUUID()}`
    await db.sql.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`)
    await db.sql.unsafe(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`)
    await db.sql.unsafe(`GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${role}`)
    const settings = { ...db.settings, username: role, password: Redacted.make(password) }
    const limited = postgres(poolOptions(settings))
    try {
      const { value, warnings } = await warningsOf(ensureIndexes(limited))
      expect(value.map((o) => o.result)).toEqual(operatorIndexes.map(() => "failed"))
      expect(warnings.length).toBe(operatorIndexes.length)
      for (const [k, index] of operatorIndexes.entries()) {
        expect(warnings[k]).toContain(`index ${index.name} on ${index.table} not created: the database user may not create it (only the table's owner may)`)
        expect(warnings[k]).toContain(`have the owner of ${index.table} run \`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${index.name}`)
        expect(warnings[k]).not.toContain(password)
      }
      expect((await Effect.runPromise(indexStatus(limited))).map((s) => s.state)).toEqual(operatorIndexes.map(() => "missing"))
      // The same user's check says what is missing and who can fix it.
      const report = await schemaCheck(settings)
      expect(report.status).toBe("ok")
      expect(report.detail).toContain("the operator's indexes are missing")
      // And the operator works without them.
      const service = make(limited)
      expect((await Effect.runPromise(service.ensure(access()))).length).toBeGreaterThan(0)
      expect(await Effect.runPromise(service.inspect(access()))).toEqual({ changes: [], holdsOthers: false })
    } finally {
      await limited.end({ timeout: 5 })
      await db.sql.unsafe(`DROP OWNED BY ${role}`)
      await db.sql.unsafe(`DROP ROLE ${role}`)
    }
  })
})
