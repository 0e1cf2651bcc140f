/**
 * postgres.js client options from DbSettings. One place, used by the operator's
 * pool and by the test helpers, so both talk to the database the same way.
 */
import { Redacted } from "effect"
import postgres from "postgres"
import { DEFAULT_LOCK_TIMEOUT_MS, DEFAULT_STATEMENT_TIMEOUT_MS, type DbSettings, type SslMode } from "./settings.ts"

const sslOption = (mode: SslMode): false | "prefer" | "require" | "verify-full" =>
  mode === "disable" ? false : mode

export const poolOptions = (settings: DbSettings): postgres.Options<{}> => ({
  // Fields are passed separately: a user name like `guacamole@servername` or a
  // password with `@`, `/` or `%` needs no escaping.
  host: settings.host,
  port: settings.port,
  database: settings.database,
  username: settings.username,
  // A function, so the clear text is taken from the Redacted only when a
  // connection authenticates and is never stored on the options object.
  password: () => Redacted.value(settings.password),
  ssl: sslOption(settings.sslmode),
  max: settings.maxConnections,
  // Long enough to keep connections (and the statements prepared on them) between resyncs.
  idle_timeout: 300,
  connect_timeout: 10,
  onnotice: () => {},
  // Startup parameters, so every statement and transaction has them at no
  // extra round trip: a row lock held by another session, or a statement that
  // hangs, fails (SQLSTATE 55P03 / 57014, retried with backoff) instead of
  // holding a worker and a pool connection for as long as the other side likes.
  connection: {
    application_name: "awms-guacamole-operator",
    lock_timeout: settings.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    statement_timeout: settings.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    // The batched read-back of thousands of bindings is costly enough on paper for the server to
    // compile it to machine code each time (JIT), which took 160 ms of its 370 ms at 1,000 bindings:
    // a cost for analytic queries, never repaid by the operator's short ones.
    jit: "off",
  },
})

/** Opens a pool (connections are made lazily, on the first query). */
export const openPool = (settings: DbSettings): postgres.Sql => postgres(poolOptions(settings))
