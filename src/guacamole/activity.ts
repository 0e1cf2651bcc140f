/**
 * Which browsers are in use, as Guacamole records it: while a user is
 * connected, Guacamole holds a `guacamole_connection_history` row for the
 * connection with `end_date` NULL, and sets `end_date` when the connection
 * closes.
 *
 * One statement for every browser at once (never one per binding): the
 * connections with an open history row, named by their `hostname` parameter
 * — the browser's Service, which names its Deployment — so the answer does
 * not depend on how connections are grouped or named. It reads the open
 * rows through the history table's `end_date` index and each one's hostname
 * through the parameter table's primary key.
 */
import { Effect } from "effect"
import type postgres from "postgres"
import { classifyError, type GuacamoleError } from "./errors.ts"

/** The `hostname` parameters of the connections someone is connected to now. */
export const activeHostnames = (sql: postgres.Sql): Effect.Effect<ReadonlySet<string>, GuacamoleError> =>
  Effect.tryPromise({
    try: async () => {
      const rows = await sql<{ hostname: string }[]>`
        SELECT DISTINCT p.parameter_value AS hostname
          FROM guacamole_connection_history h
          JOIN guacamole_connection_parameter p
            ON p.connection_id = h.connection_id AND p.parameter_name = 'hostname'
         WHERE h.end_date IS NULL`
      return new Set(rows.map((r) => r.hostname))
    },
    catch: (e) => classifyError(e, "read active connections"),
  })
