/**
 * An embedded PostgreSQL for tests and the sandbox: PGlite (PostgreSQL compiled
 * to WebAssembly, in this process) served over the PostgreSQL wire protocol by
 * pglite-socket on 127.0.0.1, so postgres.js talks to it exactly as to a real
 * server. Development only: PGlite is a dev dependency and nothing under src/
 * may import this file.
 *
 * Know its limits:
 * - PGlite has ONE backend. pglite-socket accepts several client connections
 *   (`maxConnections`, default 1 — we raise it) and runs their messages one at
 *   a time on that backend. While one client is inside BEGIN…COMMIT, other
 *   clients' messages wait, so transactions do not interleave; but all clients
 *   share one session: advisory locks never block, and extended-protocol
 *   messages of two clients outside an explicit transaction can interleave
 *   (they share the unnamed portal). So: the operator's pool must use ONE
 *   connection here (settings.maxConnections = 1), and a test must not query
 *   from two clients at the same instant.
 * - Above `maxConnections` pglite-socket answers with a bare text line, which
 *   clients report as a protocol error.
 * - The user name, password and database name sent by a client are ignored.
 *
 * Start-up cost: creating the first PGlite in a process takes 1.5–3 s (WebAssembly
 * compile and initdb); we do that once per process, keep a dump of the fresh
 * data directory, and start every further instance from that dump (~0.2 s).
 */
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { Redacted } from "effect"
import type { DbSettings } from "../../src/guacamole/settings.ts"
import { dbSettingsToUrl } from "../../src/guacamole/settings.ts"

export interface EmbeddedPostgres {
  /** postgres://postgres:…@127.0.0.1:<port>/postgres?sslmode=disable */
  readonly url: string
  /** The same, as the operator's settings, with maxConnections = 1 (see the file comment). */
  readonly settings: DbSettings
  /** The PGlite instance itself, for direct access in the same process. */
  readonly db: PGlite
  stop(): Promise<void>
}

/** Client connections pglite-socket accepts at once (the operator's one, a test's own client, a psql…). */
const SOCKET_MAX_CONNECTIONS = 16

let freshDataDir: Promise<Blob> | undefined

/** A dump of a freshly initialised data directory, made once per process. */
const freshDump = (): Promise<Blob> => {
  if (freshDataDir === undefined) {
    freshDataDir = (async () => {
      const first = await PGlite.create()
      try {
        return await first.dumpDataDir("none")
      } finally {
        await first.close()
      }
    })()
    // A failure must not be cached for the rest of the process.
    freshDataDir.catch(() => {
      freshDataDir = undefined
    })
  }
  return freshDataDir
}

export async function startEmbeddedPostgres(
  opts: { readonly port?: number; readonly host?: string; readonly schemaSql?: string } = {},
): Promise<EmbeddedPostgres> {
  // In memory, started from the process-wide dump of a fresh data directory.
  const db = await PGlite.create({ loadDataDir: await freshDump() })
  let server: PGLiteSocketServer | undefined
  try {
    if (opts.schemaSql !== undefined && opts.schemaSql.trim() !== "") await db.exec(opts.schemaSql)
    const host = opts.host ?? "127.0.0.1"
    server = new PGLiteSocketServer({ db, host, port: opts.port ?? 0, maxConnections: SOCKET_MAX_CONNECTIONS })
    await server.start()
    const port = Number(server.getServerConn().split(":").pop())
    const settings: DbSettings = {
      host,
      port,
      database: "postgres",
      username: "postgres",
      password: Redacted.make("postgres"),
      sslmode: "disable",
      maxConnections: 1,
    }
    const started = server
    let stopped = false
    return {
      url: dbSettingsToUrl(settings),
      settings,
      db,
      stop: async () => {
        if (stopped) return
        stopped = true
        await started.stop()
        await db.close()
      },
    }
  } catch (e) {
    await server?.stop().catch(() => {})
    await db.close().catch(() => {})
    throw e
  }
}
