/**
 * `bun run sandbox` as a person runs it: a child process that prints the ready
 * line, serves a kubeconfig that works, shows a scaled binding's browser
 * becoming ready, and frees its ports on SIGTERM.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as k8s from "@kubernetes/client-node"
import { waitFor } from "../support/wait.ts"
import { spawnSandbox, type SandboxProcess } from "../../scripts/sandbox/process.ts"
import { createTestDatabase, testWithRealPostgres } from "../support/postgres.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const GROUP = "xlscsde.nhs.uk"
const PLURAL = "analyticsworkspacebindings"

let running: SandboxProcess | undefined
let dirs: string[] = []

afterEach(async () => {
  running?.kill("SIGKILL")
  await running?.exited
  running = undefined
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  dirs = []
})

const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "sandbox-test-"))
  dirs.push(d)
  return d
}

/** The ports the sandbox printed (API emulator, embedded database, operator HTTP). */
const portsOf = (lines: ReadonlyArray<string>, kubeconfigServer: string) => {
  const find = (re: RegExp) => {
    for (const l of lines) {
      const m = re.exec(l)
      if (m) return Number(m[1])
    }
    throw new Error(`no line matches ${re}`)
  }
  return [
    { host: "127.0.0.1", port: Number(new URL(kubeconfigServer).port) },
    { host: "127.0.0.1", port: find(/Guacamole database\s+\S+@127\.0\.0\.1:(\d+)\//) },
    { host: "0.0.0.0", port: find(/operator health\/metrics\s+http:\/\/127\.0\.0\.1:(\d+)\//) },
  ]
}

const canListen = (host: string, port: number): boolean => {
  try {
    const server = Bun.listen({ hostname: host, port, socket: { data() {} } })
    server.stop(true)
    return true
  } catch {
    return false
  }
}

describe("bun run sandbox", () => {
  test("reaches ready with the example bindings READY, starts a browser on scale, stops cleanly on SIGTERM", async () => {
    const dir = tempDir()
    const sandbox = (running = spawnSandbox(["--port", "0", "--kubeconfig", join(dir, "kubeconfig")]))
    const kubeconfigPath = await sandbox.waitForReady(60_000)
    expect(kubeconfigPath).toBe(join(dir, "kubeconfig"))
    expect(sandbox.lines.filter((l) => l.startsWith("sandbox ready:"))).toHaveLength(1)
    // The operator logs to a file, not over the table.
    expect(sandbox.lines.some((l) => l.includes(`operator log`) && l.includes(join(dir, "operator.log")))).toBe(true)
    expect(sandbox.lines.some((l) => l.startsWith("{"))).toBe(false)

    const kc = new k8s.KubeConfig()
    kc.loadFromFile(kubeconfigPath)
    const custom = kc.makeApiClient(k8s.CustomObjectsApi)
    const apps = kc.makeApiClient(k8s.AppsV1Api)
    const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: "v1", namespace: "jupyterhub", plural: PLURAL })) as {
      items: any[]
    }
    expect(list.items.map((b) => b.metadata.name).sort()).toEqual(["ws1-alice", "ws1-bob"])
    for (const b of list.items) {
      expect(b.status?.statusText).toBe("READY")
      const deployment = await apps.readNamespacedDeployment({ name: b.status.deploymentName, namespace: "guacamole" })
      expect(deployment.spec?.replicas).toBe(b.spec.replicas ?? 0)
    }

    // What a Guacamole login sees, read from the database (printed just after the ready line).
    const aliceLogin =
      '  ws1@alice → connection "alice" in group "ws1" (READ), hostname client-cee3c61f22f5523cab33ca6ab9cfc699.guacamole.svc.cluster.local:5900'
    await sandbox.waitForLine((l) => l === aliceLogin, { timeoutMs: 10_000, what: "alice's Guacamole login" })
    expect(sandbox.lines.some((l) => /password/i.test(l))).toBe(false)

    // bob's example is applied with replicas: 1 once the operator runs: that start is counted first.
    const metricsUrl = sandbox.lines.map((l) => /operator health\/metrics\s+\S+\s+(\S+\/metrics)/.exec(l)?.[1]).find(Boolean)!
    const starts = async () => {
      const body = await (await fetch(metricsUrl)).text()
      const value = (suffix: string) => Number(new RegExp(`^awms_browser_start_seconds_${suffix} (\\S+)$`, "m").exec(body)?.[1])
      return { count: value("count"), sum: value("sum") }
    }
    const startsBefore = await waitFor(async () => {
      const s = await starts()
      return s.count === 1 && s
    }, { timeoutMs: 10_000, message: "bob's start to be counted" })

    // Keycloak's sign-in: a JSON patch of spec.replicas; the live output shows the browser becoming ready.
    const from = sandbox.lines.length
    await custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: "v1",
        namespace: "jupyterhub",
        plural: PLURAL,
        name: "ws1-alice",
        body: [{ op: "replace", path: "/spec/replicas", value: 1 }],
      },
      k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch),
    )
    await sandbox.waitForLine((l) => l === "binding jupyterhub/ws1-alice: READY, 1/1 ready, connection yes", {
      from,
      timeoutMs: 15_000,
      what: "ws1-alice's browser ready",
    })
    // The wait from sign-in to the ready browser is in the operator's start histogram.
    await waitFor(async () => (await starts()).count === startsBefore.count + 1, {
      timeoutMs: 10_000,
      message: "awms_browser_start_seconds to count the sign-in",
    })
    expect((await starts()).sum).toBeGreaterThan(startsBefore.sum)

    const ports = portsOf(sandbox.lines, kc.getCurrentCluster()!.server)
    sandbox.kill("SIGTERM")
    expect(await sandbox.exited).toBe(0)
    for (const { host, port } of ports) expect({ host, port, free: canListen(host, port) }).toEqual({ host, port, free: true })
  }, 30_000)

  test("--no-examples reaches ready with no bindings", async () => {
    const dir = tempDir()
    const sandbox = (running = spawnSandbox(["--port", "0", "--no-examples", "--kubeconfig", join(dir, "kubeconfig")]))
    const kubeconfigPath = await sandbox.waitForReady(60_000)
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(kubeconfigPath)
    const custom = kc.makeApiClient(k8s.CustomObjectsApi)
    const list = (await custom.listClusterCustomObject({ group: GROUP, version: "v1", plural: PLURAL })) as { items: any[] }
    expect(list.items).toEqual([])
    // The browser containers' ConfigMaps are there all the same.
    const core = kc.makeApiClient(k8s.CoreV1Api)
    const configMaps = await core.listNamespacedConfigMap({ namespace: "guacamole" })
    expect(configMaps.items.map((c) => c.metadata?.name).sort()).toEqual(["firefox-config", "xlscsde-enterprise-certificate"])

    // The operator's `check`, with the settings the sandbox wrote for it, passes.
    const envText = await Bun.file(join(dir, "operator.env")).text()
    const env = Object.fromEntries(
      envText
        .trim()
        .split("\n")
        .map((line) => /^([A-Z_]+)='(.*)'$/.exec(line)!)
        .map((m) => [m[1]!, m[2]!.replaceAll(`'\\''`, "'")]),
    )
    expect(env.KUBECONFIG).toBe(kubeconfigPath)
    const check = Bun.spawnSync(["bun", "run", "src/main.ts", "check"], { env: { PATH: process.env.PATH, ...env } })
    expect(check.stdout.toString()).toContain("all 7 checks passed")
    expect(check.exitCode).toBe(0)

    sandbox.kill("SIGTERM")
    expect(await sandbox.exited).toBe(0)
  }, 30_000)

  testWithRealPostgres("--database-url: the schema is created in an empty database and the examples reach READY", async () => {
    const dir = tempDir()
    const db = await createTestDatabase({ schema: "none" })
    try {
      const sandbox = (running = spawnSandbox(["--port", "0", "--database-url", db.url, "--kubeconfig", join(dir, "kubeconfig")]))
      await sandbox.waitForReady(60_000)
      expect(sandbox.lines).toContain("sandbox: created the Guacamole schema (its tables were absent)")
      const rows = await db.sql`SELECT name FROM guacamole_entity WHERE type = 'USER' ORDER BY name`
      expect(rows.map((r) => r.name)).toEqual(["ws1@alice", "ws1@bob@example.org"])
      // The password of the URL is never shown.
      const password = new URL(db.url).password
      if (password) expect([...sandbox.lines, ...sandbox.errorLines].some((l) => l.includes(password))).toBe(false)
      sandbox.kill("SIGTERM")
      expect(await sandbox.exited).toBe(0)
    } finally {
      await db.close()
    }
  }, 30_000)

  test("a busy --port is refused with a message naming the option, before anything else starts", async () => {
    const dir = tempDir()
    const blocker = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } })
    try {
      const sandbox = (running = spawnSandbox(["--port", String(blocker.port), "--kubeconfig", join(dir, "kubeconfig")]))
      expect(await sandbox.exited).toBe(1)
      expect(sandbox.errorLines.join("\n")).toContain(`port ${blocker.port} is in use`)
      expect(sandbox.errorLines.join("\n")).toContain("--port")
      expect(await Bun.file(join(dir, "kubeconfig")).exists()).toBe(false)
    } finally {
      blocker.stop(true)
    }
  })

  test("--help prints the usage; a bad option exits 2 naming it", async () => {
    const help = (running = spawnSandbox(["--help"]))
    expect(await help.exited).toBe(0)
    expect(help.lines.join("\n")).toContain("--database-url URL")
    expect(help.lines.join("\n")).toContain("--no-examples")
    const bad = (running = spawnSandbox(["--port", "http"]))
    expect(await bad.exited).toBe(2)
    expect(bad.errorLines[0]).toBe('sandbox: --port must be a port number from 0 to 65535 (got "http")')
  })
})
