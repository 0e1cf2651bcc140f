/**
 * Fresh Guacamole databases for tests.
 *
 * DATABASE_URL — optional. An ADMIN URL of a real PostgreSQL server (a role that
 * may CREATE DATABASE), e.g. `postgres://postgres:secret@127.0.0.1:5432/postgres`.
 * When set, every createTestDatabase() makes a new database on that server
 * (`CREATE DATABASE t_<random> TEMPLATE <template>`) and close() drops it. The
 * templates (one per schema, named after a hash of its text, marked
 * IS_TEMPLATE once complete) are made on first use and kept for later runs.
 * When unset, every database is its own embedded PGlite served on 127.0.0.1
 * over the wire protocol (see ./pglite-server.ts): one backend, so the
 * settings it returns allow ONE pool connection, transactions of two clients
 * are not isolated in the usual way and advisory locks never block. Tests that
 * need real concurrency use `testWithRealPostgres`.
 *
 * postgres.js needs no special option against PGlite (prepared statements,
 * pipelining, sql.begin and errors with SQLSTATE codes all work as on a real
 * server); the only difference in the returned settings is maxConnections = 1.
 */
import { test } from "bun:test"
import { createHash, randomUUID } from "node:crypto"
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import postgres from "postgres"
import { poolOptions } from "../../src/guacamole/pool.ts"
import type { DbSettings } from "../../src/guacamole/settings.ts"
import { dbSettingsFromUrl, dbSettingsToUrl } from "../../src/guacamole/settings.ts"
import { startEmbeddedPostgres } from "./pglite-server.ts"

export interface TestDatabase {
  /** postgres://… to this database (password included; never print it). */
  readonly url: string
  /** The same, as the operator's settings type. */
  readonly settings: DbSettings
  /** A client to this database for assertions (one connection). */
  readonly sql: postgres.Sql
  /** True under the PGlite fallback. */
  readonly embedded: boolean
  /** Ends the client, drops the database (or stops the embedded server). */
  close(): Promise<void>
}

export type SchemaChoice = "project" | "fixture" | "none"

export const repoRoot = resolve(import.meta.dir, "../..")

/** The project's own DDL of the Guacamole schema. */
export const projectSchemaPath = resolve(repoRoot, "src/guacamole/schema.sql")

/** Guacamole's upstream schema among the shared fixtures, or undefined when ../shared is absent. */
export const fixtureSchemaPath: string | undefined = (() => {
  const p = resolve(repoRoot, "../shared/fixtures/guacamole-schema/001-create-schema.sql")
  return existsSync(p) ? p : undefined
})()

export const fixtureMissingReason =
  "../shared/fixtures/guacamole-schema is absent (the project is used without the shared fixtures)"

const schemaSql = async (choice: SchemaChoice): Promise<string> => {
  switch (choice) {
    case "none":
      return ""
    case "project":
      return Bun.file(projectSchemaPath).text()
    case "fixture":
      if (fixtureSchemaPath === undefined) throw new Error(`fixture schema unavailable: ${fixtureMissingReason}`)
      return Bun.file(fixtureSchemaPath).text()
  }
}

const adminUrl = process.env.DATABASE_URL?.trim() || undefined

export const usingRealPostgres: boolean = adminUrl !== undefined

const realOnlyReason =
  "needs a real PostgreSQL server (set DATABASE_URL): PGlite has a single backend, so concurrent transactions are not isolated and advisory locks never block"

/** Use for tests that need real concurrent transactions: runs under a real server, skipped with the reason under PGlite. */
export const testWithRealPostgres: typeof test = usingRealPostgres
  ? test
  : (((name: string, fn: never, options?: never) =>
      test.skip(`${name} [skipped: ${realOnlyReason}]`, fn, options)) as unknown as typeof test)

// ---------------------------------------------------------------------------
// Real server
// ---------------------------------------------------------------------------

let admin: postgres.Sql | undefined
let adminSettings: DbSettings | undefined

const adminClient = (): { sql: postgres.Sql; settings: DbSettings } => {
  if (adminUrl === undefined) throw new Error("DATABASE_URL is not set")
  if (admin === undefined || adminSettings === undefined) {
    adminSettings = dbSettingsFromUrl(adminUrl, { sslmode: "prefer", maxConnections: 1 })
    admin = postgres({ ...poolOptions(adminSettings), idle_timeout: 2 })
  }
  return { sql: admin, settings: adminSettings }
}

const templates = new Map<SchemaChoice, Promise<string>>()

/** Name of a complete template database holding `choice`'s schema, made once per server. */
const templateFor = (choice: SchemaChoice): Promise<string> => {
  let t = templates.get(choice)
  if (t === undefined) {
    t = (async () => {
      const ddl = await schemaSql(choice)
      const name = `guac_tpl_${choice}_${createHash("sha256").update(ddl).digest("hex").slice(0, 12)}`
      const { sql, settings } = adminClient()
      // Session-level lock on the admin connection (max 1): other test processes
      // wait here instead of copying a half-loaded template.
      await sql`SELECT pg_advisory_lock(hashtext('guacamole-test-template'), hashtext(${name}))`
      try {
        const [row] = await sql<{ datistemplate: boolean }[]>`
          SELECT datistemplate FROM pg_database WHERE datname = ${name}`
        if (row?.datistemplate === true) return name
        if (row !== undefined) await sql.unsafe(`DROP DATABASE "${name}" WITH (FORCE)`)
        await sql.unsafe(`CREATE DATABASE "${name}"`)
        const loader = postgres({ ...poolOptions({ ...settings, database: name, maxConnections: 1 }) })
        try {
          if (ddl.trim() !== "") await loader.unsafe(ddl)
        } finally {
          await loader.end({ timeout: 5 })
        }
        await sql.unsafe(`ALTER DATABASE "${name}" IS_TEMPLATE true`)
        return name
      } finally {
        await sql`SELECT pg_advisory_unlock(hashtext('guacamole-test-template'), hashtext(${name}))`
      }
    })()
    t.catch(() => templates.delete(choice))
    templates.set(choice, t)
  }
  return t
}

const createOnRealServer = async (choice: SchemaChoice): Promise<TestDatabase> => {
  const template = await templateFor(choice)
  const { sql: adminSql, settings: base } = adminClient()
  const name = `t_${randomUUID().replaceAll("-", "").slice(0, 20)}`
  await adminSql.unsafe(`CREATE DATABASE "${name}" TEMPLATE "${template}"`)
  const settings: DbSettings = { ...base, database: name, maxConnections: 5 }
  const sql = postgres({ ...poolOptions({ ...settings, maxConnections: 1 }) })
  let closed = false
  return {
    url: dbSettingsToUrl(settings),
    settings,
    sql,
    embedded: false,
    close: async () => {
      if (closed) return
      closed = true
      await sql.end({ timeout: 5 })
      // FORCE ends connections a test left open (e.g. a pool it did not close).
      await adminSql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    },
  }
}

// ---------------------------------------------------------------------------
// Embedded PGlite
// ---------------------------------------------------------------------------

const createEmbedded = async (choice: SchemaChoice): Promise<TestDatabase> => {
  const server = await startEmbeddedPostgres({ schemaSql: await schemaSql(choice) })
  const sql = postgres({ ...poolOptions(server.settings) })
  let closed = false
  return {
    url: server.url,
    settings: server.settings,
    sql,
    embedded: true,
    close: async () => {
      if (closed) return
      closed = true
      await sql.end({ timeout: 5 })
      await server.stop()
    },
  }
}

export function createTestDatabase(opts: { readonly schema?: SchemaChoice } = {}): Promise<TestDatabase> {
  const choice = opts.schema ?? "project"
  return usingRealPostgres ? createOnRealServer(choice) : createEmbedded(choice)
}
