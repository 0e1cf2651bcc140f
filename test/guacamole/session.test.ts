/**
 * The operator's database sessions carry their settings from the first statement on (startup
 * parameters, no extra round trip): the lock and statement timeouts that keep a stuck row from
 * stalling it, and no JIT compilation, which the batched read-back would otherwise pay for at
 * every interval.
 */
import { afterAll, beforeAll, expect, test } from "bun:test"
import postgres from "postgres"
import { poolOptions } from "../../src/guacamole/pool.ts"
import { createTestDatabase, type TestDatabase, usingRealPostgres } from "../support/postgres.ts"

const realOnly = "needs a real PostgreSQL server (set DATABASE_URL): PGlite's socket server does not apply startup parameters"
const testReal: typeof test = usingRealPostgres
  ? test
  : (((name: string, fn: never) => test.skip(`${name} [skipped: ${realOnly}]`, fn)) as unknown as typeof test)

let db: TestDatabase
beforeAll(async () => {
  if (usingRealPostgres) db = await createTestDatabase()
})
afterAll(async () => {
  await db?.close()
})

testReal("a session of the operator's pool has jit off, its lock and statement timeouts and its name", async () => {
  const pool = postgres(poolOptions({ ...db.settings, lockTimeoutMs: 4_000, statementTimeoutMs: 12_000 }))
  try {
    const [row] = await pool<{ jit: string; lock_timeout: string; statement_timeout: string; application_name: string }[]>`
      SELECT current_setting('jit') AS jit, current_setting('lock_timeout') AS lock_timeout,
             current_setting('statement_timeout') AS statement_timeout, current_setting('application_name') AS application_name`
    expect(row).toEqual({ jit: "off", lock_timeout: "4s", statement_timeout: "12s", application_name: "awms-guacamole-operator" })
  } finally {
    await pool.end({ timeout: 5 })
  }
})
