/**
 * Typed failures of the Guacamole database layer.
 *
 * Messages are built only from our own words, SQLSTATE codes and identifiers
 * (table, constraint and user names): never from a driver error's message,
 * query text or parameters, because PostgreSQL echoes input values in some
 * messages (e.g. `invalid input syntax for type integer: "…"`) and a parameter
 * may be a VNC password.
 */
import { Data } from "effect"

/** Transient: the database is unreachable, restarting, overloaded, or asked us to retry. Retry with backoff. */
export class GuacamoleUnavailable extends Data.TaggedError("GuacamoleUnavailable")<{
  readonly message: string
  readonly operation: string
  readonly code: string | undefined
}> {}

/** Permanent until a person acts: the database holds something that contradicts the request. */
export class GuacamoleConflictError extends Data.TaggedError("GuacamoleConflictError")<{
  readonly message: string
  readonly operation: string
  readonly requested: string
  readonly existing: string
}> {}

/**
 * The rows this binding would use are held by another binding (recorded in
 * Guacamole's attribute tables). Whether that binding still lives is for the
 * caller to find out from the API server; `holder` is `namespace/name/uid`.
 */
export class GuacamoleHeldError extends Data.TaggedError("GuacamoleHeldError")<{
  readonly message: string
  readonly operation: string
  readonly holder: string
}> {}

/** The Guacamole tables are missing (schema not installed, wrong database or search_path). */
export class GuacamoleSchemaError extends Data.TaggedError("GuacamoleSchemaError")<{
  readonly message: string
  readonly operation: string
  readonly missing: ReadonlyArray<string>
}> {}

/** Anything else the database refused (permissions, authentication, constraint violations, bugs). */
export class GuacamoleQueryError extends Data.TaggedError("GuacamoleQueryError")<{
  readonly message: string
  readonly operation: string
  readonly code: string | undefined
}> {}

export type GuacamoleError =
  | GuacamoleUnavailable
  | GuacamoleConflictError
  | GuacamoleHeldError
  | GuacamoleSchemaError
  | GuacamoleQueryError

export const isGuacamoleError = (e: unknown): e is GuacamoleError =>
  e instanceof GuacamoleUnavailable ||
  e instanceof GuacamoleConflictError ||
  e instanceof GuacamoleHeldError ||
  e instanceof GuacamoleSchemaError ||
  e instanceof GuacamoleQueryError

/** True for failures worth retrying with backoff. */
export const isTransient = (e: GuacamoleError): e is GuacamoleUnavailable => e._tag === "GuacamoleUnavailable"

/** Socket-level and driver-level codes meaning "the connection did not work". */
const connectionCodes = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
])

/** SQLSTATEs after which the same request may well succeed. */
const transientSqlStates: Record<string, string> = {
  "40001": "serialization failure",
  // Within the operator's locked transaction, a row another writer committed since the read.
  "23505": "a row of the same name was written meanwhile",
  "40P01": "deadlock detected",
  "55P03": "lock not available",
  "57014": "statement cancelled or timed out",
  "57P01": "the server is shutting down (admin shutdown)",
  "57P02": "the server crashed (crash shutdown)",
  "57P03": "the server is not accepting connections yet",
  "53000": "insufficient resources",
  "53100": "disk full",
  "53200": "out of memory",
  "53300": "too many connections",
  "25P03": "idle-in-transaction timeout",
  "58000": "system error",
  "58030": "I/O error",
}

/** Descriptions for the permanent SQLSTATEs we are likely to meet; others are reported by code. */
const knownSqlStates: Record<string, string> = {
  "28000": "invalid authorization specification (check DB_USER and pg_hba)",
  "28P01": "authentication failed (check DB_USER / DB_PASS)",
  "3D000": "the database does not exist",
  "42501": "permission denied",
  "42P01": "a table does not exist",
  "42703": "a column does not exist",
  "42704": "an object (e.g. an enum type) does not exist",
  "23503": "foreign key constraint violated",
  "23502": "not-null constraint violated",
  "23514": "check constraint violated",
  "22001": "a value is too long for its column",
  "22007": "invalid date or time",
  "22008": "date or time out of range",
  "22P02": "invalid value for a column type",
  "25P02": "the transaction was already aborted",
}

const field = (e: unknown, name: string): string | undefined => {
  if (typeof e !== "object" || e === null) return undefined
  const v = (e as Record<string, unknown>)[name]
  return typeof v === "string" && v !== "" ? v : undefined
}

/** Identifiers PostgreSQL attaches to an error: safe to show (no values). */
const objectInfo = (e: unknown): string => {
  const parts = [
    ["table", field(e, "table_name")],
    ["column", field(e, "column_name")],
    ["constraint", field(e, "constraint_name")],
  ]
    .filter((p): p is [string, string] => p[1] !== undefined)
    .map(([k, v]) => `${k} ${v}`)
  return parts.length === 0 ? "" : ` [${parts.join(", ")}]`
}

/**
 * Turns whatever postgres.js (or the socket underneath) threw into one of our
 * errors. `operation` says what we were doing ("ensure ws@alice", "ping", …).
 */
export const classifyError = (e: unknown, operation: string): GuacamoleError => {
  if (isGuacamoleError(e)) return e
  const code = field(e, "code")
  const isPostgres = typeof e === "object" && e !== null && (e as { name?: unknown }).name === "PostgresError"
  if (code !== undefined && isPostgres) {
    const transient = transientSqlStates[code] ?? (code.startsWith("08") ? "connection failure" : undefined)
    if (transient !== undefined) {
      return new GuacamoleUnavailable({
        message: `${operation}: ${transient} (SQLSTATE ${code})`,
        operation,
        code,
      })
    }
    if (code === "42P01") {
      return new GuacamoleSchemaError({
        message: `${operation}: a Guacamole table is missing (SQLSTATE 42P01); is the Guacamole schema installed in this database?`,
        operation,
        missing: [],
      })
    }
    return new GuacamoleQueryError({
      message: `${operation}: ${knownSqlStates[code] ?? "the database refused the request"} (SQLSTATE ${code})${objectInfo(e)}`,
      operation,
      code,
    })
  }
  if (code !== undefined && connectionCodes.has(code)) {
    return new GuacamoleUnavailable({
      message: `${operation}: cannot reach the Guacamole database (${code})`,
      operation,
      code,
    })
  }
  if (code === "SASL_SIGNATURE_MISMATCH" || code === "AUTH_TYPE_NOT_IMPLEMENTED") {
    return new GuacamoleQueryError({ message: `${operation}: authentication failed (${code})`, operation, code })
  }
  // Errors without a code we know: TLS failures and the like. Keep only the class name.
  const kind = e instanceof Error ? e.name : typeof e
  if (/ssl|tls|certificate/i.test(e instanceof Error ? e.message : "")) {
    // Certificate and TLS negotiation failures are configuration problems: not transient.
    return new GuacamoleQueryError({
      message: `${operation}: TLS connection to the Guacamole database failed (${code ?? kind})`,
      operation,
      code,
    })
  }
  return new GuacamoleQueryError({
    message: `${operation}: unexpected database client failure (${code ?? kind})`,
    operation,
    code,
  })
}
