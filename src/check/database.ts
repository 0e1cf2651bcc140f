/**
 * What the `check` command asks Guacamole's database beyond the operator's
 * own `ping` and `checkSchema`: whether the connection is TLS, and whether
 * the columns and enum values the operator's statements use exist (a schema
 * of a supported Guacamole version), and whether the operator's indexes
 * exist.
 */
import { Context, Effect, Layer } from "effect"
import type postgres from "postgres"
import * as GuacamoleDbModule from "../guacamole/db.ts"
import { classifyError, type GuacamoleError } from "../guacamole/errors.ts"
import { indexStatus, type IndexStatus } from "../guacamole/indexes.ts"
import { openPool } from "../guacamole/pool.ts"
import type { DbSettings } from "../guacamole/settings.ts"

/** The columns the operator's statements read or write, per table (src/guacamole/db.ts). */
export const requiredColumns: Readonly<Record<string, ReadonlyArray<string>>> = {
  guacamole_connection_group: [
    "connection_group_id",
    "parent_id",
    "connection_group_name",
    "type",
    "max_connections",
    "max_connections_per_user",
    "enable_session_affinity",
  ],
  guacamole_connection: ["connection_id", "connection_name", "parent_id", "protocol", "failover_only"],
  guacamole_connection_parameter: ["connection_id", "parameter_name", "parameter_value"],
  guacamole_entity: ["entity_id", "name", "type"],
  guacamole_user: ["user_id", "entity_id", "password_hash", "password_salt", "password_date", "disabled", "expired", "valid_until"],
  guacamole_user_permission: ["entity_id", "affected_user_id", "permission"],
  guacamole_connection_group_permission: ["entity_id", "connection_group_id", "permission"],
  guacamole_connection_permission: ["entity_id", "connection_id", "permission"],
}

/** The enum values the operator writes. */
export const requiredEnumValues: Readonly<Record<string, ReadonlyArray<string>>> = {
  guacamole_object_permission_type: ["READ"],
  guacamole_entity_type: ["USER"],
  guacamole_connection_group_type: ["ORGANIZATIONAL"],
}

export interface ConnectionInfo {
  /** From pg_stat_ssl; undefined when the server does not report it. */
  readonly tls: boolean | undefined
  readonly serverVersion: string
}

export interface SchemaInfo {
  readonly missingTables: ReadonlyArray<string>
  /** `table.column` */
  readonly missingColumns: ReadonlyArray<string>
  /** `type 'VALUE'` (or `type` when the type itself is missing) */
  readonly missingEnumValues: ReadonlyArray<string>
}

export interface DatabaseProbeService {
  readonly connection: Effect.Effect<ConnectionInfo, GuacamoleError>
  readonly schema: Effect.Effect<SchemaInfo, GuacamoleError>
  /** The operator's indexes on Guacamole's tables (src/guacamole/indexes.ts): present, invalid or missing. */
  readonly indexes: Effect.Effect<ReadonlyArray<IndexStatus>, GuacamoleError>
}

export class DatabaseProbe extends Context.Tag("DatabaseProbe")<DatabaseProbe, DatabaseProbeService>() {}

const run = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, GuacamoleError> =>
  Effect.tryPromise({ try: f, catch: (e) => classifyError(e, operation) })

export const makeProbe = (sql: postgres.Sql, db: GuacamoleDbModule.GuacamoleDbService): DatabaseProbeService => {
  const connection = db.ping.pipe(
    Effect.zipRight(
      run("connection details", async () => {
        const [version] = await sql<{ v: string }[]>`SELECT current_setting('server_version') AS v`
        // pg_stat_ssl has a row per backend on a real server (ssl true/false).
        const ssl = await sql<{ ssl: boolean }[]>`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`.catch(
          () => [] as { ssl: boolean }[],
        )
        return { tls: ssl[0]?.ssl, serverVersion: version?.v ?? "unknown" }
      }),
    ),
  )

  const schema = db.checkSchema.pipe(
    Effect.flatMap(({ missing }) =>
      run("check columns", async () => {
        const tables = Object.keys(requiredColumns)
        const rows = await sql<{ table: string; column: string }[]>`
          SELECT t.name AS table, a.attname::text AS column
            FROM unnest(string_to_array(${tables.join(",")}::text, ',')) AS t(name)
            JOIN pg_attribute a ON a.attrelid = to_regclass(t.name) AND a.attnum > 0 AND NOT a.attisdropped`
        const present = new Set(rows.map((r) => `${r.table}.${r.column}`))
        const missingColumns = tables
          .filter((t) => !missing.includes(t))
          .flatMap((t) => requiredColumns[t]!.map((c) => `${t}.${c}`))
          .filter((tc) => !present.has(tc))
        const types = Object.keys(requiredEnumValues)
        const labels = await sql<{ type: string; label: string | null }[]>`
          SELECT t.name AS type, e.enumlabel::text AS label
            FROM unnest(string_to_array(${types.join(",")}::text, ',')) AS t(name)
            LEFT JOIN pg_enum e ON e.enumtypid = to_regtype(t.name)`
        const missingEnumValues = types.flatMap((type) => {
          const have = labels.filter((l) => l.type === type && l.label !== null).map((l) => l.label)
          if (have.length === 0) return [type]
          return requiredEnumValues[type]!.filter((v) => !have.includes(v)).map((v) => `${type} '${v}'`)
        })
        return { missingTables: missing, missingColumns, missingEnumValues }
      }),
    ),
  )
  return { connection, schema, indexes: indexStatus(sql) }
}

/**
 * A one-connection pool for the checks, ended with the scope, providing both
 * the operator's GuacamoleDb (ping, checkSchema) and the probe.
 */
export const probeLayer = (settings: DbSettings): Layer.Layer<DatabaseProbe | GuacamoleDbModule.GuacamoleDb> =>
  Layer.scopedContext(
    Effect.acquireRelease(
      Effect.sync(() => openPool({ ...settings, maxConnections: 1 })),
      (sql) => Effect.promise(() => sql.end({ timeout: 0.5 }).catch(() => undefined)),
    ).pipe(
      Effect.map((sql) => {
        const db = GuacamoleDbModule.make(sql)
        return Context.make(GuacamoleDbModule.GuacamoleDb, db).pipe(Context.add(DatabaseProbe, makeProbe(sql, db)))
      }),
    ),
  )
