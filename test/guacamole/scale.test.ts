/**
 * At the size of a real installation (10,000 bindings over 1,000 workspaces):
 * every statement a reconcile sends is served by an index (EXPLAIN, in the
 * generic plans postgres.js's prepared statements end up with and in custom
 * ones), the batched read agrees with the seeded rows, and the operator's
 * indexes are what makes the difference.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Effect } from "effect"
import postgres from "postgres"
import { CONVERGED_CHUNK, type GuacamoleAccess, make } from "../../src/guacamole/db.ts"
import { ensureIndexes, indexStatus, operatorIndexes } from "../../src/guacamole/indexes.ts"
import { poolOptions } from "../../src/guacamole/pool.ts"
import { createTestDatabase, type TestDatabase, usingRealPostgres } from "../support/postgres.ts"
import { seedBindings } from "./seed.ts"
import { access, type CountingService, run, serviceFor } from "./support.ts"

setDefaultTimeout(120_000)

const realOnly = "needs a real PostgreSQL server (set DATABASE_URL): the plans that matter are the real server's, over 10,000 rows"
const testAtScale: typeof test = usingRealPostgres
  ? test
  : (((name: string, fn: never) => test.skip(`${name} [skipped: ${realOnly}]`, fn)) as unknown as typeof test)

const BINDINGS = 10_000
const WORKSPACES = 1_000

interface Sent {
  readonly query: string
  readonly parameters: ReadonlyArray<unknown>
}

/** The operator's service on a pool of one connection, keeping every statement it sends with its parameters. */
const recording = (db: TestDatabase) => {
  const sent: Array<Sent> = []
  const pool = postgres({
    ...poolOptions({ ...db.settings, maxConnections: 1 }),
    debug: (_connection, query, parameters) => void sent.push({ query, parameters: [...parameters] }),
  })
  return { pool, sent }
}

/** A parameter's value as an SQL literal. */
const literal = (v: unknown): string => {
  if (v === null || v === undefined) return "NULL"
  if (typeof v === "number" || typeof v === "boolean") return String(v)
  if (v instanceof Uint8Array) return `'\\x${Buffer.from(v).toString("hex")}'`
  if (Array.isArray(v)) return `ARRAY[${v.map(literal).join(", ")}]::text[]`
  return `'${String(v).replaceAll("'", "''")}'`
}

interface ScanFinding {
  readonly statement: string
  readonly mode: string
  readonly relation: string
}

const nodes = function* (plan: Record<string, unknown>): Generator<Record<string, unknown>> {
  yield plan
  for (const child of (plan.Plans as Array<Record<string, unknown>> | undefined) ?? []) yield* nodes(child)
}

/**
 * EXPLAINs each statement as the server would run it from a prepared
 * statement, in `mode` (force_generic_plan: the plan a statement executed
 * more than five times keeps; force_custom_plan: planned for its values), and
 * returns the sequential scans of Guacamole's tables it finds.
 */
const sequentialScans = async (sql: postgres.Sql, statements: ReadonlyArray<Sent>): Promise<ScanFinding[]> => {
  const found: ScanFinding[] = []
  const conn = await sql.reserve()
  try {
    for (const mode of ["force_generic_plan", "force_custom_plan"]) {
      await conn.unsafe(`SET plan_cache_mode = ${mode}`)
      for (const { query, parameters } of statements) {
        await conn.unsafe(`PREPARE awms_explained AS ${query}`)
        try {
          const [row] = await conn<{ types: string[] }[]>`
            SELECT parameter_types::text[] AS types FROM pg_prepared_statements WHERE name = 'awms_explained'`
          const types = row?.types ?? []
          // EXECUTE's arguments are expressions planned with the statement: literals, not parameters.
          const args = types.map((t, k) => `${literal(parameters[k])}::${t}`).join(", ")
          const [plan] = await conn.unsafe(`EXPLAIN (FORMAT JSON) EXECUTE awms_explained${types.length > 0 ? `(${args})` : ""}`)
          const root = (plan?.["QUERY PLAN"] as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan
          for (const node of nodes(root)) {
            const relation = node["Relation Name"]
            if (node["Node Type"] === "Seq Scan" && typeof relation === "string" && relation.startsWith("guacamole_")) {
              found.push({ statement: query.replace(/\s+/g, " ").trim().slice(0, 120), mode, relation })
            }
          }
        } finally {
          await conn.unsafe("DEALLOCATE awms_explained")
        }
      }
    }
  } finally {
    conn.release()
  }
  return found
}

/** The statements that touch Guacamole's tables (not BEGIN, COMMIT or the advisory lock). */
const ofTables = (sent: ReadonlyArray<Sent>) => sent.filter((s) => /guacamole_/.test(s.query))

let db: TestDatabase
let seeded: GuacamoleAccess[]
let op: CountingService

beforeAll(async () => {
  if (!usingRealPostgres) return
  db = await createTestDatabase()
  seeded = await seedBindings(db.sql, BINDINGS, WORKSPACES)
  op = serviceFor(db, 1)
})
afterAll(async () => {
  await op?.end()
  await db?.close()
})

/** The statements of one reconcile as src/reconciler/access.ts makes them: inspect, then ensure only when it found changes. */
const reconcileStatements = async (a: GuacamoleAccess): Promise<Sent[]> => {
  const { pool, sent } = recording(db)
  try {
    const service = make(pool)
    const seen = await run(service.inspect(a))
    if (seen.holdsOthers) await run(service.revoke({ holder: a.holder, keep: { workspace: a.workspace, username: a.username } }))
    if (seen.changes.length > 0) await run(service.ensure(a, { inspected: true }))
    // And what a deleted binding's reconcile sends, for completeness.
    await run(service.holdsOthers({ holder: a.holder }))
    return ofTables(sent)
  } finally {
    await pool.end({ timeout: 5 })
  }
}

/**
 * A database of `n` converged bindings (and the operator's indexes) whose statistics say what the
 * planner believes right after a burst of new bindings the autovacuum has not analysed yet: tiny
 * tables, no column statistics.
 */
const staleDatabase = async (n: number) => {
  const stale = await createTestDatabase()
  const accesses = await seedBindings(stale.sql, n, n / 10)
  await Effect.runPromise(ensureIndexes(stale.sql))
  for (const { relname } of await stale.sql<{ relname: string }[]>`
    SELECT relname FROM pg_class WHERE relname LIKE 'guacamole%' AND relkind = 'r'`) {
    await stale.sql.unsafe(`ALTER TABLE ${relname} SET (autovacuum_enabled = false)`)
  }
  await stale.sql.unsafe(`
    UPDATE pg_class SET reltuples = 10, relpages = 1 WHERE relname LIKE 'guacamole%' AND relkind IN ('r', 'i');
    DELETE FROM pg_statistic WHERE starelid IN (SELECT oid FROM pg_class WHERE relname LIKE 'guacamole%');`)
  return { stale, accesses }
}

/** The most rows of `fields` (summed) any node of a plan (EXPLAIN ANALYZE, JSON) counted, over all its loops. */
const mostRows = (plan: Record<string, unknown> | undefined, fields: ReadonlyArray<string>): number => {
  const root = (plan?.["QUERY PLAN"] as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan
  let most = 0
  for (const node of nodes(root)) {
    const rows = fields.reduce((sum, field) => sum + Number(node[field] ?? 0), 0)
    most = Math.max(most, rows * Number(node["Actual Loops"]))
  }
  return most
}

/** The most rows any node produced. */
const largestNode = (plan: Record<string, unknown> | undefined) => mostRows(plan, ["Actual Rows"])

/**
 * The most rows any node read: those it produced and those its filters threw away (a scan that
 * reads every row to keep one per loop is the costly one, and produces little).
 */
const mostRowsRead = (plan: Record<string, unknown> | undefined) =>
  mostRows(plan, ["Actual Rows", "Rows Removed by Filter", "Rows Removed by Join Filter", "Rows Removed by Index Recheck"])

describe(`${BINDINGS.toLocaleString("en")} bindings over ${WORKSPACES.toLocaleString("en")} workspaces`, () => {
  testAtScale("the operator's indexes are created concurrently, once; a second start finds them present", async () => {
    const first = await Effect.runPromise(ensureIndexes(op.pool))
    expect(first.map((o) => o.result)).toEqual(operatorIndexes.map(() => "created"))
    const second = await Effect.runPromise(ensureIndexes(op.pool))
    expect(second.map((o) => o.result)).toEqual(operatorIndexes.map(() => "present"))
    expect((await Effect.runPromise(indexStatus(op.pool))).map((s) => s.state)).toEqual(operatorIndexes.map(() => "present"))
  })

  testAtScale("no statement of a reconcile (new binding, new workspace, converged binding) scans a Guacamole table", async () => {
    await Effect.runPromise(ensureIndexes(op.pool))
    const statements = [
      // a new binding in a workspace of 10 users
      ...(await reconcileStatements(access({ workspace: "ws7", username: "newcomer" }))),
      // a new binding in a new workspace
      ...(await reconcileStatements(access({ workspace: "ws-new", username: "first" }))),
      // a converged binding: one statement
      ...(await reconcileStatements(seeded[4_321]!)),
    ]
    // inspect + 9 writes, inspect + 9 writes (one more: the group), inspect; and three holdsOthers.
    expect(statements.length).toBeGreaterThanOrEqual(20)
    expect(await sequentialScans(db.sql, statements)).toEqual([])
  })

  testAtScale("without the operator's indexes the same statements do scan (the case-variant lookup, the holder's marks); converged() still answers", async () => {
    await Effect.runPromise(ensureIndexes(op.pool))
    const statements = await reconcileStatements(seeded[1_234]!)
    for (const index of operatorIndexes) await db.sql.unsafe(`DROP INDEX ${index.name}`)
    try {
      const scanned = new Set((await sequentialScans(db.sql, statements)).map((f) => f.relation))
      expect([...scanned].sort()).toEqual(["guacamole_connection_attribute", "guacamole_entity", "guacamole_user_attribute"])
      // The batched read needs them not: it reads each table once per chunk, within the statement timeout.
      expect((await run(op.service.converged(seeded))).size).toBe(BINDINGS)
    } finally {
      await Effect.runPromise(ensureIndexes(op.pool))
    }
  })

  testAtScale(`converged() over all of them: every one, in one statement per ${CONVERGED_CHUNK}`, async () => {
    await Effect.runPromise(ensureIndexes(op.pool))
    op.statements.length = 0
    const converged = await run(op.service.converged(seeded))
    expect(converged.size).toBe(BINDINGS)
    const reads = op.statements.filter((s) => !s.includes("pg_catalog.pg_type"))
    const batched = reads.filter((s) => s.includes("unnest("))
    expect(batched.length).toBe(Math.ceil(BINDINGS / CONVERGED_CHUNK))
    expect(batched.every((s) => s.startsWith("WITH"))).toBe(true)
  })

  testAtScale("with stale statistics (a burst of bindings the autovacuum has not analysed yet), the batched read still reads each table about once, not every binding against every user", async () => {
    const N = 2_000
    const { stale, accesses } = await staleDatabase(N)
    try {
      const { pool, sent } = recording(stale)
      try {
        expect((await run(make(pool).converged(accesses))).size).toBe(N)
      } finally {
        await pool.end({ timeout: 5 })
      }
      // The statements of the read replayed as the service sent them, in one transaction, the read EXPLAINed.
      const conn = await stale.sql.reserve()
      let work = 0
      try {
        await conn.unsafe("BEGIN")
        for (const { query, parameters } of sent) {
          if (/^\s*SET\b/i.test(query)) await conn.unsafe(query, parameters as never[])
          if (!query.includes("unnest(")) continue
          const [plan] = await conn.unsafe(`EXPLAIN (ANALYZE, FORMAT JSON) ${query}`, parameters as never[])
          work = Math.max(work, mostRowsRead(plan))
        }
      } finally {
        await conn.unsafe("ROLLBACK")
        conn.release()
      }
      // The rows the busiest node read: each table's rows a few times over (five parameters per
      // connection), never those of a loop over the bindings that reads a table each time (a
      // nested loop of bindings against users, 4,000,000 rows; an index scanned whole per binding
      // for its one mark, as stale statistics made the planner choose, 4,000,000 too).
      expect(work).toBeGreaterThan(0)
      expect(work).toBeLessThan(10 * N)
    } finally {
      await stale.close()
    }
  })

  testAtScale("with stale statistics, a new binding's state read, in the generic plan a prepared statement keeps, reads a handful of rows, not every user", async () => {
    const { stale } = await staleDatabase(5_000)
    try {
      const { pool, sent } = recording(stale)
      try {
        await run(make(pool).inspect(access({ workspace: "ws7", username: "newcomer" })))
      } finally {
        await pool.end({ timeout: 5 })
      }
      const read = ofTables(sent).find((x) => x.query.includes("guacamole_entity"))!
      const conn = await stale.sql.reserve()
      try {
        await conn.unsafe("SET plan_cache_mode = force_generic_plan")
        await conn.unsafe(`PREPARE awms_state AS ${read.query}`)
        const [row] = await conn<{ types: string[] }[]>`
          SELECT parameter_types::text[] AS types FROM pg_prepared_statements WHERE name = 'awms_state'`
        const args = (row?.types ?? []).map((t, k) => `${literal(read.parameters[k])}::${t}`).join(", ")
        const [plan] = await conn.unsafe(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE awms_state(${args})`)
        // Before: every USER entity (5,000) read through the (type, name) index for the case-variant check.
        expect(largestNode(plan)).toBeLessThan(50)
      } finally {
        await conn.unsafe("DEALLOCATE ALL")
        conn.release()
      }
    } finally {
      await stale.close()
    }
  })
})
