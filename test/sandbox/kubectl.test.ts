/**
 * The README's kubectl session (scripts/sandbox/tour.ts), run step by step with
 * the installed kubectl against a running sandbox (the emulator) and against
 * the real kube-apiserver with the operator running, checking after each step
 * what the operator did.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { KubeConfig } from "@kubernetes/client-node"
import { Effect } from "effect"
import postgres from "postgres"
import YAML from "yaml"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { make as makeKubeClient, type KubeClientService } from "../../src/runtime/client.ts"
import { Bindings } from "../../src/runtime/resources.ts"
import { spawnSandbox, type SandboxProcess } from "../../scripts/sandbox/process.ts"
import { tour, TOUR_NAMESPACE, type TourStep } from "../../scripts/sandbox/tour.ts"
import { startHarness, type Harness } from "../support/operator.ts"
import { repoRoot } from "../support/postgres.ts"
import { forEachServer, resourceType } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const kubectl = Bun.which("kubectl")
const skipReason = "kubectl is not installed (not on PATH)"


interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

let sandbox: SandboxProcess | undefined
let harness: Harness | undefined
let dir = ""
let kubeconfigPath = ""
let kube: KubeClientService
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

const read = async (group: string, plural: string, name: string, namespace = "guacamole"): Promise<any | undefined> => {
  const r = await Effect.runPromise(Effect.either(kube.get(resourceType(group, plural), namespace, name)))
  if (r._tag === "Right") return r.right
  if (r.left._tag === "KubeNotFound") return undefined
  throw r.left
}
const binding = (name: string) => read(Bindings.group, Bindings.plural, name, TOUR_NAMESPACE)

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
          const d = await read("apps", "deployments", b.status.deploymentName)
          return (
            (d.spec?.replicas ?? 1) === check.replicas &&
            (d.status?.readyReplicas ?? 0) === check.replicas &&
            (b.status.replicas ?? 0) === check.replicas
          )
        },
        {
          timeoutMs: 20_000,
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
          !(await read("apps", "deployments", deployment)) && !(await read("", "services", `client-${deployment}`)),
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

/** The sandbox as a person starts it (emulator); or the real server with the operator and the example bindings. */
async function startTarget(kind: "emulator" | "real") {
  dir = mkdtempSync(join(tmpdir(), "sandbox-kubectl-"))
  if (kind === "emulator") {
    sandbox = spawnSandbox(["--port", "0", "--kubeconfig", join(dir, "kubeconfig")])
    kubeconfigPath = await sandbox.waitForReady(60_000)
    const kc = new KubeConfig()
    kc.loadFromFile(kubeconfigPath)
    kube = makeKubeClient(kc)
    // The embedded database, to see the Guacamole rows go (it ignores the password).
    const dbLine = sandbox.lines.find((l) => /Guacamole database\s+\S+@127\.0\.0\.1:\d+\//.test(l) && l.includes("embedded"))
    const port = dbLine ? /@127\.0\.0\.1:(\d+)\//.exec(dbLine)![1] : undefined
    if (port) sql = postgres({ host: "127.0.0.1", port: Number(port), database: "postgres", username: "postgres", password: "postgres", max: 1, onnotice: () => {} })
    return
  }
  harness = await startHarness({ server: "real" })
  kubeconfigPath = harness.server.kubeconfigPath
  kube = harness.kube
  sql = harness.db.sql
  const examples = YAML.parseAllDocuments(readFileSync(resolve(repoRoot, "deploy/examples/bindings.yaml"), "utf8")).map((d) => d.toJS())
  for (const example of examples) await Effect.runPromise(kube.create(Bindings, example.metadata.namespace, example))
  for (const example of examples) await harness.waitForStatus(example.metadata.name, "READY")
}

forEachServer(`the README's kubectl session${kubectl ? "" : ` [skipped: ${skipReason}]`}`, (kind) => {
  const run = kubectl ? test : test.skip
  beforeAll(async () => {
    if (kubectl) await startTarget(kind)
  }, 90_000)

  afterAll(async () => {
    if (harness) {
      await harness.close()
      harness = undefined
      sql = undefined
    }
    await sql?.end({ timeout: 2 })
    sql = undefined
    if (sandbox) {
      sandbox.kill("SIGTERM")
      const code = await sandbox.exited
      expect(code).toBe(0)
      sandbox = undefined
    }
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  run("every step succeeds and the operator does what the step says", async () => {
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
  }, 60_000)
})
