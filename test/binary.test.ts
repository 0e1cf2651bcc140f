/**
 * The shipped artefact: `bun build --compile` gives one executable, and that
 * executable runs the operator against a cluster and a database, configured
 * by the environment alone, on the emulator and on the real kube-apiserver
 * over HTTPS, with the operator's service-account token.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Redacted } from "effect"
import YAML from "yaml"
import { Bindings } from "../src/runtime/resources.ts"
import { loadYaml, projectCrdPath } from "./support/operator.ts"
import { forEachServer, startServer, type TestServer } from "./support/servers.ts"
import { createTestDatabase, repoRoot, type TestDatabase } from "./support/postgres.ts"
import { waitFor } from "./support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const dir = mkdtempSync(join(tmpdir(), "operator-binary-"))
const binary = join(dir, "awms-guacamole-operator")
let db: TestDatabase

beforeAll(async () => {
  const build = Bun.spawnSync(["bun", "build", "--compile", "src/main.ts", "--outfile", binary], {
    cwd: repoRoot,
    stdout: "pipe",
    stderr: "pipe",
  })
  if (build.exitCode !== 0) throw new Error(`bun build --compile failed: ${build.stderr.toString()}`)
  db = await createTestDatabase()
}, 120_000)
afterAll(async () => {
  await db?.close()
  rmSync(dir, { recursive: true, force: true })
})

test("the compiled executable answers --version and --help without any configuration", () => {
  const version = Bun.spawnSync([binary, "--version"], { env: {} })
  expect(version.exitCode).toBe(0)
  expect(version.stdout.toString().trim()).toMatch(/^\d+\.\d+\.\d+$/)
  const help = Bun.spawnSync([binary, "--help"], { env: {} })
  expect(help.exitCode).toBe(0)
  expect(help.stdout.toString()).toContain("--kubeconfig")
})

test("an invalid configuration stops it with one message naming the setting, and exit status 2", () => {
  const run = Bun.spawnSync([binary], { env: { DB_USER: "u", DB_PASS: "secret-value", IMAGE_NAME: "i", BROWSER_URL: "nope" } })
  expect(run.exitCode).toBe(2)
  const stderr = run.stderr.toString()
  expect(stderr).toContain("BROWSER_URL")
  expect(stderr).not.toContain("secret-value")
})

forEachServer("the compiled executable", (kind) => {
let api: TestServer
beforeAll(async () => {
  api = await startServer(kind, { namespaces: ["default", "guacamole", "jupyterhub"], crds: [loadYaml(projectCrdPath)] })
})
afterAll(() => api?.stop())

test("provisions a binding with the operator's service account, then stops cleanly on SIGTERM", async () => {
  const s = db.settings
  // The operator's credentials: its service account's token (and, on the real server, the CA) in a kubeconfig file.
  const operator = await api.operatorKubeConfig()
  writeFileSync(join(dir, "operator.kubeconfig"), operator.exportConfig(), { mode: 0o600 })
  const access = { args: ["--kubeconfig", join(dir, "operator.kubeconfig")] }
  const child = Bun.spawn([binary, "run", ...access.args], {
    env: {
      DB_HOST: s.host,
      DB_PORT: String(s.port),
      DB_NAME: s.database,
      DB_USER: s.username,
      DB_PASS: Redacted.value(s.password),
      DB_SSLMODE: "disable",
      DB_POOL_MAX: String(s.maxConnections),
      IMAGE_NAME: "browser:1",
      BROWSER_URL: "https://jupyter.example",
      HTTP_PORT: "0",
    },
    stdout: "pipe",
    stderr: "pipe",
  })
  let logs = ""
  const reading = (async () => {
    const decoder = new TextDecoder()
    for await (const chunk of child.stdout) logs += decoder.decode(chunk, { stream: true })
  })()
  const reconciledLine = () =>
    logs
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l))
      .find((l) => l.message === "reconciled" && l.annotations?.key === "jupyterhub/ws1-alice")
  try {
    await Effect.runPromise(
      api.admin.create(Bindings, "jupyterhub", YAML.parse(`
apiVersion: xlscsde.nhs.uk/v1
kind: AnalyticsWorkspaceBinding
metadata: { name: ws1-alice, namespace: jupyterhub }
spec: { workspace: ws1, username: alice, expires: "2099-12-31" }
`)),
    )
    await waitFor(async () => (await api.get(Bindings.group, Bindings.plural, "jupyterhub", "ws1-alice"))?.status?.statusText === "READY", {
      timeoutMs: 20_000,
      message: "the binary to make the binding READY",
    })
    expect(await api.get("apps", "deployments", "guacamole", "cee3c61f22f5523cab33ca6ab9cfc699")).toBeDefined()
    const line = await waitFor(reconciledLine, { message: "a JSON log line for the reconcile" })
    expect(line.annotations.result).toBe("converged")
    expect(typeof line.annotations.durationMs).toBe("number")
  } finally {
    child.kill("SIGTERM")
  }
  expect(await child.exited).toBe(0)
  await reading
  expect(logs).toContain("SIGTERM: shutting down")
  expect(logs).not.toContain(Redacted.value(s.password))
}, 60_000)
})
