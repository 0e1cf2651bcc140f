/**
 * The operator's indexes on Guacamole's tables: additive, named `awms_…`,
 * opt-out (DB_CREATE_INDEXES=false), reported by `check`.
 *
 * Guacamole's schema indexes every lookup the operator makes but two, which
 * without an index read the whole table on every reconcile (at 10,000 users
 * the case-variant lookup alone takes ~6 ms of database CPU):
 *   - the case-insensitive user-name check, `lower(name)` on guacamole_entity;
 *   - the rows a binding holds, found by the value of their ownership mark
 *     (`xlscsde.nhs.uk/binding`) on guacamole_user_attribute and
 *     guacamole_connection_attribute: partial indexes on that attribute only,
 *     so Guacamole's own (possibly long) attribute values are not indexed.
 * Nothing else is changed, and the statements are correct without them.
 *
 * They are created with CREATE INDEX CONCURRENTLY IF NOT EXISTS, outside any
 * transaction, so Guacamole's reads and writes go on meanwhile. An index a
 * build left INVALID (interrupted, say) is dropped, concurrently, and built
 * again. PostgreSQL lets only a table's owner create an index on it: when the
 * operator's user may not, the operator says so once, with the statement for
 * the owner to run, and carries on without.
 */
import { Effect } from "effect"
import type postgres from "postgres"
import { classifyError, type GuacamoleError } from "./errors.ts"

export interface OperatorIndex {
  readonly name: string
  readonly table: string
  /** What it serves, for messages. */
  readonly serves: string
  /** The statement that creates it (without CONCURRENTLY / IF NOT EXISTS). */
  readonly definition: string
}

export const operatorIndexes: ReadonlyArray<OperatorIndex> = [
  {
    name: "awms_guacamole_entity_lower_name",
    table: "guacamole_entity",
    serves: "the case-insensitive user-name check",
    definition: "ON guacamole_entity (lower(name))",
  },
  {
    name: "awms_guacamole_user_attribute_binding",
    table: "guacamole_user_attribute",
    serves: "finding the Guacamole users a binding holds",
    definition:
      `ON guacamole_user_attribute (attribute_value COLLATE "C") WHERE attribute_name = 'xlscsde.nhs.uk/binding'`,
  },
  {
    name: "awms_guacamole_connection_attribute_binding",
    table: "guacamole_connection_attribute",
    serves: "finding the connections a binding holds",
    definition:
      `ON guacamole_connection_attribute (attribute_value COLLATE "C") WHERE attribute_name = 'xlscsde.nhs.uk/binding'`,
  },
]

export const createStatement = (i: OperatorIndex): string => `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${i.name} ${i.definition}`

export type IndexState = "present" | "invalid" | "missing"

export interface IndexStatus {
  readonly index: OperatorIndex
  readonly state: IndexState
}

/** One statement: each index's state (found through the search_path, as the tables are). */
export const indexStatus = (sql: postgres.Sql): Effect.Effect<ReadonlyArray<IndexStatus>, GuacamoleError> =>
  Effect.tryPromise({
    try: async () => {
      const rows = await sql<{ name: string; valid: boolean | null }[]>`
        SELECT t.name, i.indisvalid AS valid
          FROM unnest(string_to_array(${operatorIndexes.map((i) => i.name).join(",")}::text, ',')) AS t(name)
          LEFT JOIN pg_index i ON i.indexrelid = to_regclass(t.name)`
      return operatorIndexes.map((index) => {
        const valid = rows.find((r) => r.name === index.name)?.valid
        return { index, state: valid === true ? "present" : valid === false ? "invalid" : "missing" } as const
      })
    },
    catch: (e) => classifyError(e, "read the operator's indexes"),
  })

export type IndexOutcome =
  | { readonly index: OperatorIndex; readonly result: "present" | "created" }
  | { readonly index: OperatorIndex; readonly result: "failed"; readonly message: string }

/** What the table's owner can run instead, for messages. */
export const remedyFor = (i: OperatorIndex): string =>
  `have the owner of ${i.table} run \`${createStatement(i)};\` (outside a transaction)`

export const OPT_OUT = "or set DB_CREATE_INDEXES=false to leave Guacamole's schema as it is (and reconciles reading whole tables)"

/**
 * Creates the missing indexes, one at a time, on one connection of the pool
 * with no statement timeout (a build on a large table may take a while; it
 * blocks nobody). Never fails: each index's outcome is returned, and a
 * failure is logged as a warning saying what it costs and how to fix it.
 */
export const ensureIndexes = (sql: postgres.Sql): Effect.Effect<ReadonlyArray<IndexOutcome>> =>
  Effect.gen(function* () {
    const status = yield* indexStatus(sql).pipe(Effect.either)
    if (status._tag === "Left") {
      yield* Effect.logWarning(`could not read the operator's indexes: ${status.left.message}; not creating them now`)
      return []
    }
    const outcomes: Array<IndexOutcome> = []
    for (const { index, state } of status.right) {
      if (state === "present") {
        outcomes.push({ index, result: "present" })
        continue
      }
      const built = yield* Effect.tryPromise({
        try: (signal) =>
          sql.reserve().then(async (conn) => {
            // Interrupted (the operator stopping): cancel the build; the INVALID index it leaves is rebuilt next time.
            const running: Array<{ cancel(): unknown }> = []
            signal.addEventListener("abort", () => running.forEach((q) => q.cancel()), { once: true })
            const step = <Q extends { cancel(): unknown }>(q: Q): Q => (running.push(q), q)
            try {
              await step(conn`SET statement_timeout = 0`)
              if (state === "invalid") await step(conn.unsafe(`DROP INDEX CONCURRENTLY IF EXISTS ${index.name}`))
              await step(conn.unsafe(createStatement(index)))
            } finally {
              await conn`RESET statement_timeout`.catch(() => undefined)
              conn.release()
            }
          }),
        catch: (e) => classifyError(e, `create index ${index.name} on ${index.table}`),
      }).pipe(Effect.either)
      if (built._tag === "Right") {
        outcomes.push({ index, result: "created" })
        yield* Effect.logInfo(`created index ${index.name} on ${index.table} (${index.serves})`)
        continue
      }
      const e = built.left
      const forbidden = "code" in e && e.code === "42501"
      const message =
        `index ${index.name} on ${index.table} not created: ` +
        (forbidden ? `the database user may not create it (only the table's owner may)` : e.message) +
        `; until it exists, ${index.serves} reads the whole table on every reconcile: ${remedyFor(index)}, ${OPT_OUT}`
      outcomes.push({ index, result: "failed", message })
      yield* Effect.logWarning(message)
    }
    return outcomes
  })
