/** Shared pieces of the Guacamole database tests. */
import { Effect, Either, Redacted } from "effect"
import postgres from "postgres"
import { type GuacamoleAccess, type GuacamoleDbService, make } from "../../src/guacamole/db.ts"
import type { GuacamoleError } from "../../src/guacamole/errors.ts"
import { poolOptions } from "../../src/guacamole/pool.ts"
import type { TestDatabase } from "../support/postgres.ts"

export const VNC_PASSWORD = "s3cret-VNC-pw"

export const access = (over: Partial<GuacamoleAccess> = {}): GuacamoleAccess => {
  const workspace = over.workspace ?? "ws1"
  const username = over.username ?? "alice"
  return {
    workspace,
    username,
    entityName: `${workspace}@${username}`,
    hostname: `client-${username}.guacamole.svc.cluster.local`,
    port: 5900,
    password: Redacted.make(VNC_PASSWORD),
    validUntil: "2031-12-31",
    disabled: false,
    holder: { namespace: "jupyterhub", name: `${workspace}-${username}`, uid: `uid-${workspace}-${username}` },
    ...over,
  }
}

/** The operator's service on its own pool, counting the statements it sends. */
export interface CountingService {
  readonly service: GuacamoleDbService
  readonly statements: Array<string>
  readonly pool: postgres.Sql
  end(): Promise<void>
}

export const serviceFor = (db: TestDatabase, maxConnections = db.settings.maxConnections): CountingService => {
  const statements: Array<string> = []
  const pool = postgres({
    ...poolOptions({ ...db.settings, maxConnections }),
    debug: (_connection, query) => {
      statements.push(query.replace(/\s+/g, " ").trim())
    },
  })
  return { service: make(pool), statements, pool, end: () => pool.end({ timeout: 5 }) }
}

export const run = <A>(e: Effect.Effect<A, GuacamoleError>): Promise<A> => Effect.runPromise(e)

export const fail = async <A>(e: Effect.Effect<A, GuacamoleError>): Promise<GuacamoleError> => {
  const r = await Effect.runPromise(Effect.either(e))
  if (Either.isRight(r)) throw new Error("expected a failure, got success")
  return r.left
}

const tables = [
  ["guacamole_connection_group", "connection_group_id"],
  ["guacamole_connection", "connection_id"],
  ["guacamole_connection_parameter", "connection_id, parameter_name"],
  ["guacamole_entity", "entity_id"],
  ["guacamole_user", "user_id"],
  ["guacamole_user_permission", "entity_id, affected_user_id, permission"],
  ["guacamole_connection_group_permission", "entity_id, connection_group_id, permission"],
  ["guacamole_connection_permission", "entity_id, connection_id, permission"],
] as const

/** Every row the operator may touch, with its xmin (the id of the transaction that last wrote it). */
export const rowsWithXmin = async (sql: postgres.Sql): Promise<Record<string, Array<Record<string, unknown>>>> => {
  const out: Record<string, Array<Record<string, unknown>>> = {}
  for (const [table, order] of tables) {
    const rows = await sql.unsafe(`SELECT xmin::text AS xmin, * FROM ${table} ORDER BY ${order}`)
    out[table] = rows.map((r) => ({ ...r }))
  }
  return out
}

export const counts = async (sql: postgres.Sql): Promise<Record<string, number>> => {
  const out: Record<string, number> = {}
  for (const [table] of tables) {
    const [row] = await sql.unsafe(`SELECT count(*)::int AS n FROM ${table}`)
    out[table] = Number(row?.n)
  }
  return out
}
