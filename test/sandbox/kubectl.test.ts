/**
 * The README's kubectl session (scripts/sandbox/tour.ts), run step by step with
 * the installed kubectl against a running sandbox, checking after each step
 * what the operator did.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import * as k8s from "@kubernetes/client-node"
import postgres from "postgres"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { spawnSandbox, type SandboxProcess } from "../../scripts/sandbox/process.ts"
import { tour, TOUR_NAMESPACE, type TourStep } from "../../scripts/sandbox/tour.ts"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const kubectl = Bun.which("kubectl")
const skipReason = "kubectl is not installed (not on PATH)"

const GROUP = "xlscsde.nhs.uk"
const PLURAL = "analyticsworkspacebindings"

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

let sandbox: SandboxProcess | undefined
let dir = ""
let kubeconfigPath = ""
let custom: k8s.CustomObjectsApi
let apps: k8s.AppsV1Api
let core: k8s.CoreV1Api
let sql: postgres.Sql | undefined

/** Runs kubectl as a person would, plus -v=6 so that a failure names the request that failed. */
const runKubectl = async (args: ReadonlyArray<string>): Promise<Run> => {
  const child = Bun.spawn([kubectl!, "--kubeconfig", kubeconfigPath, "-v=6", ...args], {
    cwd: dir,
    // A private HOME: kubectl's discovery cache stays out of the user's ~/.kube.
    env: { ...process.env, HOME: dir, KUBECONFIG: undefined },
    stdout: "pipe",
    stderr: "pipe",
  })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { code, stdout, stderr }
}

/** The requests kubectl logged at -v=6 (method, URL, status), for failure messages. */
const requestsOf = (stderr: string) =>
  stderr
    .split("\n")
    .filter((l) => /\b(GET|POST|PUT|PATCH|DELETE) http/.test(l) || /error|failed/i.test(l))
    .join("\n")

const binding = async (name: string): Promise<any | undefined> => {
  try {
    return await custom.getNamespacedCustomObject({ group: GROUP, version: "v1", namespace: TOUR_NAMESPACE, plural: PLURAL, name })
  } catch (e) {
    if ((e as { code?: number }).code === 404) return undefined
    throw e
  }
}

const exists = async (read: () => Promise<unknown>): Promise<boolean> => {
  try {
    await read()
    return true
  } catch (e) {
    if ((e as { code?: number }).code === 404) return false
    throw e
  }
}

const checkAfter = async (step: TourStep, run: Run) => {
  const check = step.check
  switch (check.kind) {
    case "output":
      for (const text of check.contains) expect(run.stdout).toContain(text)
      return
    case "binding": {
      await waitFor(
        async () => {
          const b = await binding(check.name)
          if (b?.status?.statusText !== "READY" || !b.status.deploymentName) return false
          const d = await apps.readNamespacedDeployment({ name: b.status.deploymentName, namespace: "guacamole" })
          return (
            (d.spec?.replicas ?? 1) === check.replicas &&
            (d.status?.readyReplicas ?? 0) === check.replicas &&
            (b.status.replicas ?? 0) === check.replicas
          )
        },
        {
          timeoutMs: 10_000,
          message: `${check.name} READY with its Deployment at ${check.replicas} ready replicas and status.replicas ${check.replicas}`,
        },
      )
      return
    }
    case "deleted": {
      const deployment = deploymentNameFor(check.workspace, check.username)
      await waitFor(async () => !(await binding(check.name)), { timeoutMs: 10_000, message: `${check.name} to be gone` })
      await waitFor(
        async () =>
          !(await exists(() => apps.readNamespacedDeployment({ name: deployment, namespace: "guacamole" }))) &&
          !(await exists(() => core.readNamespacedService({ name: `client-${deployment}`, namespace: "guacamole" }))),
        { timeoutMs: 10_000, message: `the Deployment and Service of ${check.name} to be gone` },
      )
      if (sql) {
        const db = sql
        await waitFor(
          async () => {
            const rows = await db`
              SELECT 1 FROM guacamole_connection c
              JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id
              WHERE g.connection_group_name = ${check.workspace} AND c.connection_name = ${check.username}
              UNION ALL
              SELECT 1 FROM guacamole_entity WHERE type = 'USER' AND name = ${`${check.workspace}@${check.username}`}`
            return rows.length === 0
          },
          { timeoutMs: 10_000, message: `the Guacamole connection and user of ${check.name} to be gone` },
        )
      }
      return
    }
  }
}

describe.skipIf(!kubectl)(`the README's kubectl session against the sandbox${kubectl ? "" : ` [skipped: ${skipReason}]`}`, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sandbox-kubectl-"))
    sandbox = spawnSandbox(["--port", "0", "--kubeconfig", join(dir, "kubeconfig")])
    kubeconfigPath = await sandbox.waitForReady(60_000)
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(kubeconfigPath)
    custom = kc.makeApiClient(k8s.CustomObjectsApi)
    apps = kc.makeApiClient(k8s.AppsV1Api)
    core = kc.makeApiClient(k8s.CoreV1Api)
    // The embedded database, to see the Guacamole rows go (it ignores the password).
    const dbLine = sandbox.lines.find((l) => /Guacamole database\s+\S+@127\.0\.0\.1:\d+\//.test(l) && l.includes("embedded"))
    const port = dbLine ? /@127\.0\.0\.1:(\d+)\//.exec(dbLine)![1] : undefined
    if (port) sql = postgres({ host: "127.0.0.1", port: Number(port), database: "postgres", username: "postgres", password: "postgres", max: 1, onnotice: () => {} })
  }, 60_000)

  afterAll(async () => {
    await sql?.end({ timeout: 2 })
    if (sandbox) {
      sandbox.kill("SIGTERM")
      const code = await sandbox.exited
      expect(code).toBe(0)
    }
    rmSync(dir, { recursive: true, force: true })
  })

  test("every step succeeds and the operator does what the step says", async () => {
    expect(sql).toBeDefined()
    for (const step of tour) {
      if (step.file) {
        mkdirSync(dirname(join(dir, step.file.name)), { recursive: true })
        writeFileSync(join(dir, step.file.name), step.file.content)
      }
      const run = await runKubectl(step.args)
      if (run.code !== 0) {
        throw new Error(
          `kubectl ${step.args.join(" ")} exited ${run.code}:\n${run.stderr.split("\n").slice(-5).join("\n")}\nrequests:\n${requestsOf(run.stderr)}`,
        )
      }
      await checkAfter(step, run)
    }
  }, 30_000)
})
