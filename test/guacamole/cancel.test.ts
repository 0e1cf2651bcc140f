/**
 * Interrupting an operation cancels its SQL (issue 12): a query blocked on
 * a lock another session holds is cancelled on the server, a transaction is
 * rolled back and its connection goes back to the pool, before the
 * interruption completes. Real PostgreSQL only: PGlite has one backend, so
 * nothing blocks.
 */
import { afterEach, beforeEach, describe, expect, setDefaultTimeout } from "bun:test"
import { Effect, Exit, Fiber } from "effect"
import postgres from "postgres"
import { ADVISORY_LOCK_CLASS, type GuacamoleDbService, make, workspaceLockKey } from "../../src/guacamole/db.ts"
import { poolOptions } from "../../src/guacamole/pool.ts"
import { createTestDatabase, type TestDatabase, testWithRealPostgres } from "../support/postgres.ts"
import { waitFor } from "../support/wait.ts"
import { access, run } from "./support.ts"

setDefaultTimeout(60_000)

// Far longer than the test: what ends the wait must be the interruption, never a timeout.
const LONG_MS = 120_000

let db: TestDatabase
let pool: postgres.Sql
let service: GuacamoleDbService
let otherPool: postgres.Sql
let other: postgres.ReservedSql

beforeEach(async () => {
  db = await createTestDatabase()
  // ONE connection: if the interrupted operation kept it, nothing after it could run.
  const settings = { ...db.settings, maxConnections: 1, lockTimeoutMs: LONG_MS, statementTimeoutMs: LONG_MS }
  pool = postgres({ ...poolOptions(settings), connection: { ...poolOptions(settings).connection, application_name: `cancel-${db.settings.database}` } })
  service = make(pool, settings)
  // Another session, as a Guacamole server or an administrator's psql would be.
  otherPool = postgres({ ...poolOptions({ ...db.settings, maxConnections: 1 }) })
  other = await otherPool.reserve()
})
afterEach(async () => {
  await other?.unsafe("ROLLBACK").catch(() => undefined)
  other?.release()
  await otherPool?.end({ timeout: 5 })
  await pool?.end({ timeout: 5 })
  await db?.close()
})

/** The operator's backends, as the server sees them. */
const backends = (sql: postgres.Sql, app: string) =>
  sql<{ state: string | null; wait_event_type: string | null; query: string }[]>`
    SELECT state, wait_event_type, query FROM pg_stat_activity WHERE application_name = ${app}`

describe("interruption", () => {
  testWithRealPostgres("an ensure waiting on the workspace's lock: its query is cancelled, its transaction rolled back, the pool usable", async () => {
    const app = `cancel-${db.settings.database}`
    const a = access()
    await other.unsafe("BEGIN")
    await other.unsafe(`SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_CLASS}, ${workspaceLockKey(a.workspace)})`)

    const fiber = Effect.runFork(service.ensure(a))
    await waitFor(
      async () => (await backends(db.sql, app)).some((b) => b.wait_event_type === "Lock" && b.query.includes("pg_advisory_xact_lock")),
      { message: "the ensure to wait on the workspace's lock" },
    )
    const exit = await Effect.runPromise(Fiber.interrupt(fiber))
    expect(Exit.isInterrupted(exit)).toBe(true)

    // Settled when the interruption returned: no query waiting, no transaction left open.
    const after = await backends(db.sql, app)
    expect(after.filter((b) => b.state !== "idle")).toEqual([])
    // The other session still holds the lock: it was the cancellation that ended the wait.
    const [held] = await db.sql<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = ${(await other`SELECT pg_backend_pid() AS pid`)[0]!.pid}`
    expect(held!.n).toBe(1)
    // Nothing was written, and the one pooled connection serves the next operation.
    expect((await db.sql`SELECT count(*)::int AS n FROM guacamole_connection_group`)[0]!.n).toBe(0)
    await run(service.ping)
    await other.unsafe("ROLLBACK")
    expect((await run(service.ensure(a))).length).toBeGreaterThan(0)
  })

  testWithRealPostgres("a read blocked by a table lock: the query is cancelled on the server and the pool usable", async () => {
    const app = `cancel-${db.settings.database}`
    await other.unsafe("BEGIN")
    await other.unsafe("LOCK TABLE guacamole_entity IN ACCESS EXCLUSIVE MODE")

    const fiber = Effect.runFork(service.inspect(access()))
    await waitFor(async () => (await backends(db.sql, app)).some((b) => b.wait_event_type === "Lock"), {
      message: "the read to wait on the table lock",
    })
    const exit = await Effect.runPromise(Fiber.interrupt(fiber))
    expect(Exit.isInterrupted(exit)).toBe(true)
    expect((await backends(db.sql, app)).filter((b) => b.state !== "idle")).toEqual([])
    await other.unsafe("ROLLBACK")
    expect((await run(service.inspect(access()))).changes.length).toBeGreaterThan(0)
  })
})
