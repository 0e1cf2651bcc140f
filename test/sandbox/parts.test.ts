/**
 * The sandbox's parts without a child process: the table a person reads, the
 * configuration read through the production Config, and `--database-url`'s
 * schema handling on an existing database.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Redacted } from "effect"
import {
  ensureGuacamoleSchema,
  loadSandboxConfig,
  sandboxEnvironment,
  SandboxError,
} from "../../scripts/sandbox/assembly.ts"
import { parseSandboxArgs, UsageError } from "../../scripts/sandbox/args.ts"
import { tour, tourScript } from "../../scripts/sandbox/tour.ts"
import {
  LEGEND,
  plainLine,
  renderScreen,
  renderTable,
  startLiveView,
  type BindingRow,
  type GuacamoleLogin,
} from "../../scripts/sandbox/table.ts"
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const row = (over: Partial<BindingRow>): BindingRow => ({
  namespace: "jupyterhub",
  name: "ws1-alice",
  user: "alice",
  workspace: "ws1",
  status: "READY",
  deployment: "cee3c61f22f5523cab33ca6ab9cfc699",
  ready: { ready: 0, desired: 0 },
  connection: true,
  ...over,
})

describe("the live table", () => {
  test("one aligned row per binding under the column names", () => {
    const text = renderTable([
      row({}),
      row({ name: "ws1-bob", user: "bob@example.org", ready: { ready: 1, desired: 1 }, connection: false }),
    ])
    expect(text.split("\n")).toEqual([
      "BINDING                USER              WORKSPACE   STATUS   READY   CONNECTION",
      "jupyterhub/ws1-alice   alice             ws1         READY    0/0     yes",
      "jupyterhub/ws1-bob     bob@example.org   ws1         READY    1/1     no",
    ])
  })

  test("a binding without a Deployment yet, and an unknown connection", () => {
    expect(plainLine(row({ status: "PROVISIONING", deployment: undefined, ready: undefined, connection: undefined }))).toBe(
      "binding jupyterhub/ws1-alice: PROVISIONING, - ready, connection ?",
    )
    expect(renderTable([])).toContain("(no bindings)")
  })
})

describe("the live screen fits the terminal", () => {
  const size = { columns: 100, rows: 30 }
  const bindings = (n: number) =>
    Array.from({ length: n }, (_, i) =>
      row({ name: `ws1-user${String(i).padStart(4, "0")}`, user: `user${i}`, ready: { ready: 1, desired: 1 } }),
    )
  const login = (user: string): GuacamoleLogin => ({
    login: `ws1@${user}`,
    connection: user,
    group: "ws1",
    permission: "READ",
    hostname: "client-d.guacamole.svc.cluster.local",
    port: "5900",
  })
  const screen = (rows: ReadonlyArray<BindingRow>, over: Partial<typeof size> = {}) =>
    renderScreen(
      { bindings: rows, logins: rows.map((r) => login(r.user)), footer: ["Ctrl-C stops everything."] },
      { ...size, ...over },
    )
  const fits = (lines: ReadonlyArray<string>, s = size) => {
    expect(lines.length).toBeLessThanOrEqual(s.rows)
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(s.columns)
  }

  test("3 bindings: every row, the legend, Guacamole's view and the footer", () => {
    const lines = screen(bindings(3))
    fits(lines)
    for (const b of bindings(3)) expect(lines.some((l) => l.startsWith(`jupyterhub/${b.name}`))).toBe(true)
    for (const entry of LEGEND) expect(lines.some((l) => l.includes(entry))).toBe(true)
    expect(lines.some((l) => l.includes("? not read yet"))).toBe(true)
    expect(lines).toContain("What a Guacamole login sees (from the database):")
    expect(lines.some((l) => l.includes("ws1@user2 → connection"))).toBe(true)
    expect(lines).toContain("Ctrl-C stops everything.")
  })

  for (const n of [60, 1000]) {
    test(`${n} bindings: as many rows as fit, a summary of the rest, the one in ERROR shown`, () => {
      const all = bindings(n)
      all[n - 1] = { ...all[n - 1]!, status: "ERROR" }
      const lines = screen(all)
      fits(lines)
      expect(lines).toHaveLength(size.rows)
      const summary = lines.find((l) => l.startsWith("… "))!
      expect(summary).toContain(`of ${n} bindings (${n - 1} READY, 1 ERROR`)
      expect(lines.some((l) => l.startsWith(`jupyterhub/${all[n - 1]!.name}`) && l.includes("ERROR"))).toBe(true)
      expect(lines.some((l) => l.includes("? not read yet"))).toBe(true)
      expect(lines).toContain("What a Guacamole login sees (from the database):")
    })
  }

  test("a 300-character username: truncated with an ellipsis, the row's status still shown", () => {
    const long = "x".repeat(300)
    const lines = screen([row({}), row({ name: "ws1-long", user: long })], { columns: 80 })
    fits(lines, { ...size, columns: 80 })
    const longRow = lines.find((l) => l.startsWith("jupyterhub/ws1-long"))!
    expect(longRow).toContain("…")
    expect(longRow).toMatch(/READY\s+0\/0\s+yes$/)
    expect(lines.some((l) => l.startsWith("jupyterhub/ws1-alice") && l.endsWith("yes"))).toBe(true)
  })

  test("a tiny terminal still gets the table's header and summary, nothing wider or taller", () => {
    const tiny = { columns: 20, rows: 4 }
    const lines = renderScreen({ bindings: bindings(1000), logins: undefined, footer: ["footer"] }, tiny)
    fits(lines, tiny)
    expect(lines[0]).toStartWith("BIND")
    expect(lines.some((l) => l.startsWith("… "))).toBe(true)
  })
})

describe("the live view on a terminal", () => {
  /** An API server holding `bindings` and a database whose logins the test changes. */
  const world = () => {
    const state = {
      bindings: [] as any[],
      logins: [] as GuacamoleLogin[],
    }
    const emulator = {
      list: (group: string) => (group === "apps" ? [] : state.bindings),
    } as unknown as Parameters<typeof startLiveView>[0]["emulator"]
    // The two queries the view makes: connections (workspace, username) and logins (they have a `login` column).
    const sql = ((strings: TemplateStringsArray) => ({
      simple: async () =>
        strings.join("").includes("AS login")
          ? state.logins
          : state.logins.map((l) => ({ workspace: l.group, username: l.connection })),
    })) as unknown as Parameters<typeof startLiveView>[0]["sql"]
    return { state, emulator, sql }
  }
  const binding = (name: string, user: string) => ({
    metadata: { namespace: "jupyterhub", name },
    spec: { workspace: "ws1", username: user },
    status: { statusText: "READY" },
  })
  const login = (user: string): GuacamoleLogin => ({
    login: `ws1@${user}`,
    connection: user,
    group: "ws1",
    permission: "READ",
    hostname: "h",
    port: "5900",
  })

  test("draws on the alternate screen, in place, within the terminal; keeps Guacamole's view current; restores the screen", async () => {
    const { state, emulator, sql } = world()
    state.bindings = Array.from({ length: 50 }, (_, i) => binding(`b${i}`, `user${i}`))
    state.logins = [login("user0")]
    const writes: string[] = []
    const size = { columns: 60, rows: 12 }
    const view = startLiveView({
      emulator,
      sql,
      mayQuery: () => true,
      write: (t) => void writes.push(t),
      tty: true,
      size: () => size,
      footer: ["Ctrl-C stops everything."],
      intervalMs: 60_000,
      dbRefreshMs: 0,
    })
    try {
      // The first refresh starts at once.
      await waitFor(() => writes.length > 1, { message: "the first frame" })
      expect(writes[0]).toBe("\u001b[?1049h\u001b[?25l")
      const frame = (text: string) =>
        text.replace(/^\u001b\[H/, "").replace(/\u001b\[J$/, "").split("\r\n").map((l) => l.replace(/\u001b\[K$/, ""))
      const first = frame(writes.at(-1)!)
      expect(writes.at(-1)).toStartWith("\u001b[H") // home: redrawn over itself, never scrolled
      expect(first.length).toBeLessThanOrEqual(size.rows)
      for (const l of first) expect([...l].length).toBeLessThanOrEqual(size.columns)
      expect(first.some((l) => l.startsWith("… "))).toBe(true)
      expect(first.some((l) => l.includes("ws1@user0 → connection"))).toBe(true)

      // A new Guacamole login appears on the next refresh, not only at start.
      state.logins = [login("user0"), login("user1")]
      await view.refresh()
      expect(frame(writes.at(-1)!).some((l) => l.includes("ws1@user1 → connection"))).toBe(true)

      // Nothing changed: nothing written.
      const count = writes.length
      await view.refresh()
      expect(writes.length).toBe(count)
    } finally {
      view.stop()
    }
    expect(writes.at(-1)).toBe("\u001b[?25h\u001b[?1049l")
  })
})

describe("the README's tour", () => {
  test("writes its files under .sandbox/, not into the clone's root", () => {
    const files = tour.flatMap((step) => (step.file ? [step.file.name] : []))
    expect(files.length).toBeGreaterThan(0)
    for (const name of files) expect(name).toMatch(/^\.sandbox\/[^/]+$/)
    const written = [...tourScript().matchAll(/^cat > (\S+)/gm)].map((m) => m[1])
    expect(written).toEqual(files)
  })
})

describe("arguments", () => {
  test("defaults: the fixed port, .sandbox/kubeconfig, the log beside it, examples on", () => {
    const a = parseSandboxArgs([], "/home/me/operator")
    expect(a).toMatchObject({
      port: 16443,
      kubeconfig: "/home/me/operator/.sandbox/kubeconfig",
      logFile: "/home/me/operator/.sandbox/operator.log",
      examples: true,
      metricsPort: 0,
      databaseUrl: undefined,
    })
  })

  test("an unknown option or an empty --database-url is a usage error", () => {
    expect(() => parseSandboxArgs(["--databse-url", "x"])).toThrow(UsageError)
    expect(() => parseSandboxArgs(["--database-url", " "])).toThrow("--database-url must not be empty")
  })
})

describe("configuration", () => {
  test("read through the production Config from the environment the sandbox sets", () => {
    const env = sandboxEnvironment(
      { host: "127.0.0.1", port: 5433, database: "guac", username: "guacamole@server", password: Redacted.make("s3cret"), sslmode: "disable", maxConnections: 5 },
      { kubeconfig: "/tmp/kc", metricsPort: 0, poolMax: 1 },
    )
    expect([...env.keys()].some((k) => k === "DB_PASS")).toBe(false)
    const config = loadSandboxConfig(env, "s3cret")
    expect(config.db).toMatchObject({ host: "127.0.0.1", port: 5433, database: "guac", username: "guacamole@server", sslmode: "disable", maxConnections: 1 })
    expect(Redacted.value(config.db.password)).toBe("s3cret")
    expect(config.workload.namespace).toBe("guacamole")
    expect(config).toMatchObject({ logFormat: "json", httpPort: 0, kubeconfig: "/tmp/kc", watchNamespaces: [] })
  })
})

describe("--database-url: the Guacamole schema", () => {
  let db: TestDatabase | undefined
  afterEach(async () => {
    await db?.close()
    db = undefined
  })

  test("is created in a database without it", async () => {
    db = await createTestDatabase({ schema: "none" })
    expect(await ensureGuacamoleSchema(db.sql)).toBe(true)
    const [count] = await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM guacamole_connection_group`
    expect(count?.n).toBe(0)
  })

  test("is left alone, rows and all, where it exists", async () => {
    db = await createTestDatabase({ schema: "project" })
    await db.sql`INSERT INTO guacamole_connection_group (connection_group_name) VALUES ('kept')`
    expect(await ensureGuacamoleSchema(db.sql)).toBe(false)
    const rows = await db.sql`SELECT connection_group_name FROM guacamole_connection_group`
    expect(rows.map((r) => r.connection_group_name)).toEqual(["kept"])
  })

  test("a partial schema is refused, naming what is missing, and nothing is dropped", async () => {
    db = await createTestDatabase({ schema: "project" })
    await db.sql`DROP TABLE guacamole_connection_permission`
    const error = await ensureGuacamoleSchema(db.sql).catch((e) => e)
    expect(error).toBeInstanceOf(SandboxError)
    expect(error.message).toContain("missing: guacamole_connection_permission")
    const [found] = await db.sql<{ present: boolean }[]>`SELECT to_regclass('guacamole_connection') IS NOT NULL AS present`
    expect(found?.present).toBe(true)
  })
})
