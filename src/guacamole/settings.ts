/**
 * How the operator reaches Guacamole's PostgreSQL database.
 *
 * The fields are kept apart (never one URL string) so that user names such as
 * Azure's `guacamole@servername` and passwords with any characters need no
 * escaping. The password stays `Redacted` until the moment the pool is opened.
 */
import { Redacted } from "effect"

export type SslMode = "disable" | "prefer" | "require" | "verify-full"

export const sslModes: ReadonlyArray<SslMode> = ["disable", "prefer", "require", "verify-full"]

export interface DbSettings {
  readonly host: string
  readonly port: number
  readonly database: string
  readonly username: string
  readonly password: Redacted.Redacted<string>
  readonly sslmode: SslMode
  readonly maxConnections: number
  /** lock_timeout of every statement (ms): how long a write waits for a row or advisory lock another session holds. */
  readonly lockTimeoutMs?: number
  /** statement_timeout of every statement (ms). */
  readonly statementTimeoutMs?: number
  /** Create the operator's indexes on Guacamole's tables at start-up (indexes.ts); default true. */
  readonly createIndexes?: boolean
}

export const DEFAULT_LOCK_TIMEOUT_MS = 5_000
export const DEFAULT_STATEMENT_TIMEOUT_MS = 15_000

/** `user@host:port/database (sslmode=…)`, for logs: never includes the password. */
export const describeDbSettings = (s: DbSettings): string =>
  `${s.username}@${s.host}:${s.port}/${s.database} (sslmode=${s.sslmode}, pool=${s.maxConnections})`

/**
 * Parses a `postgres://user:password@host:port/database?sslmode=…` URL (user and
 * password percent-encoded, as URLs require). Throws an Error whose message never
 * contains the password.
 */
export const dbSettingsFromUrl = (
  url: string,
  defaults: { readonly maxConnections?: number; readonly sslmode?: SslMode } = {},
): DbSettings => {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new Error("database URL is not a valid URL")
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new Error(`database URL must start with postgres:// (got ${u.protocol}//)`)
  }
  const requested = u.searchParams.get("sslmode")
  const sslmode: SslMode =
    requested === null
      ? (defaults.sslmode ?? "prefer")
      : (sslModes as ReadonlyArray<string>).includes(requested)
        ? (requested as SslMode)
        : (() => {
            throw new Error(`unsupported sslmode "${requested}" (use ${sslModes.join(", ")})`)
          })()
  const database = decodeURIComponent(u.pathname.replace(/^\//, "")) || "postgres"
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost",
    port: u.port === "" ? 5432 : Number(u.port),
    database,
    username: decodeURIComponent(u.username) || "postgres",
    password: Redacted.make(decodeURIComponent(u.password)),
    sslmode,
    maxConnections: defaults.maxConnections ?? 5,
  }
}

/** The inverse of `dbSettingsFromUrl`, with every part escaped. Contains the password: never log it. */
export const dbSettingsToUrl = (s: DbSettings): string => {
  const host = s.host.includes(":") ? `[${s.host}]` : s.host
  return (
    `postgres://${encodeURIComponent(s.username)}:${encodeURIComponent(Redacted.value(s.password))}` +
    `@${host}:${s.port}/${encodeURIComponent(s.database)}?sslmode=${s.sslmode}`
  )
}
