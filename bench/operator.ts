/**
 * Benchmark: what the operator costs, in requests, SQL writes, time and
 * memory, on this machine, against the API emulator and PostgreSQL
 * (DATABASE_URL when set, else the embedded one).
 *
 *   bun run bench [--bindings N] [--workspaces N] [--scale N] [--idle-bindings N]
 *
 * Prints figures; asserts nothing. Times vary with the machine: read the
 * request counts as exact and the times as indications.
 */
import { parseArgs } from "node:util"
import { readFileSync } from "node:fs"
import { Redacted } from "effect"
import { deploymentNameFor } from "../src/domain/naming.ts"
import { Bindings } from "../src/kube/resources.ts"
import { GUACAMOLE_NAMESPACE, patchReplicasAsKeycloak, settled, startHarness } from "../test/support/operator.ts"
import { usingRealPostgres } from "../test/support/postgres.ts"
import { waitFor } from "../test/support/wait.ts"
import { idleCheckCost } from "./idle.ts"

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    bindings: { type: "string", default: "200" },
    workspaces: { type: "string", default: "20" },
    scale: { type: "string", default: "50" },
    "idle-bindings": { type: "string", default: "10000" },
  },
})
const N = Number(values.bindings)
const W = Number(values.workspaces)
const S = Math.min(Number(values.scale), N)

const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}
const ms = (x: number) => `${x.toFixed(1)} ms`
const mib = (x: number) => `${(x / 1024 / 1024).toFixed(1)} MiB`
const countBy = (xs: string[]) => {
  const out: Record<string, number> = {}
  for (const x of xs) out[x] = (out[x] ?? 0) + 1
  return out
}

const h = await startHarness({ config: { concurrency: 8 }, emulator: { workloads: { enabled: true, delayMs: 0 } } })
console.log(`operator benchmark: ${N} bindings over ${W} workspaces; PostgreSQL: ${usingRealPostgres ? "real server" : "embedded PGlite"}`)

// ---- creation --------------------------------------------------------------------------
h.api.requests.clear()
const names = Array.from({ length: N }, (_, i) => `b${i}`)
const started = performance.now()
await Promise.all(
  names.map((name, i) => h.createBinding(name, { workspace: `ws${i % W}`, username: `user${i}`, expires: "2099-12-31" })),
)
await waitFor(async () => (await h.list(Bindings.group, Bindings.plural)).filter((b: any) => b.status?.statusText === "READY").length >= names.length, { timeoutMs: 300_000 })
const createSeconds = (performance.now() - started) / 1000
await settled(h, 60_000)
const creationWrites = h.api.requests
  .writes()
  .filter((r) => !(r.verb === "create" && r.resource === "analyticsworkspacebindings"))
  .map((r) => `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ""}`)
console.log(`\nnew bindings: ${N} READY in ${createSeconds.toFixed(2)} s (${(N / createSeconds).toFixed(0)} bindings/s)`)
console.log(`  API writes per new binding: ${(creationWrites.length / N).toFixed(2)}`)
for (const [k, v] of Object.entries(countBy(creationWrites))) console.log(`    ${k}: ${(v / N).toFixed(2)}`)
const reads = h.api.requests.all().filter((r) => r.verb === "get" || r.verb === "list").length
console.log(`  API reads (get/list) during creation: ${reads}`)

// ---- replicas change (Keycloak's JSON patch) ------------------------------------------
const latencies: number[] = []
h.api.workloads.setEnabled(false)
h.api.requests.clear()
for (let i = 0; i < S; i++) {
  const name = names[i]!
  const d = deploymentNameFor(`ws${i % W}`, `user${i}`)
  const t0 = performance.now()
  await patchReplicasAsKeycloak(h, name, 1)
  await waitFor(async () => (await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, d))?.spec.replicas === 1, { intervalMs: 1, timeoutMs: 30_000 })
  latencies.push(performance.now() - t0)
}
await settled(h, 60_000)
const scaleWrites = h.api.requests
  .writes()
  .filter((r) => !(r.resource === "analyticsworkspacebindings" && !r.subresource))
  .map((r) => `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ""}`)
console.log(`\nreplicas 0→1 (Keycloak's patch), ${S} bindings one after another:`)
console.log(`  binding patched → Deployment scaled: p50 ${ms(percentile(latencies, 50))}, p95 ${ms(percentile(latencies, 95))}, max ${ms(Math.max(...latencies))}`)
console.log(`  operator API writes per change: ${(scaleWrites.length / S).toFixed(2)} ${JSON.stringify(countBy(scaleWrites))}`)

// ---- resync and restart over converged bindings ----------------------------------------
h.api.requests.clear()
let t0 = performance.now()
h.operator().controller.resync()
await settled(h, 60_000)
console.log(`\nresync of ${N} converged bindings: ${ms(performance.now() - t0)}, API writes ${h.api.requests.writes().length}`)
await h.stopOperator()
h.api.requests.clear()
t0 = performance.now()
await h.startOperator()
await settled(h, 120_000)
console.log(`restart over ${N} converged bindings: settled in ${ms(performance.now() - t0)}, API writes ${h.api.requests.writes().length}, API requests ${h.api.requests.all().length}`)

// ---- memory of the operator as its own process -------------------------------------------
await h.stopOperator()
// The in-process operator's watches are closed before the new process opens its own.
await waitFor(() => h.api.openWatches() === 0, { timeoutMs: 30_000, message: "the stopped operator's watches to close" })
const db = h.config.db
const child = Bun.spawn(["bun", "run", "src/main.ts", "--kubeconfig", h.api.kubeconfigPath], {
  env: {
    ...process.env,
    DB_HOST: db.host,
    DB_PORT: String(db.port),
    DB_NAME: db.database,
    DB_USER: db.username,
    DB_PASS: Redacted.value(db.password),
    DB_SSLMODE: "disable",
    DB_POOL_MAX: String(db.maxConnections),
    IMAGE_NAME: "browser:bench",
    BROWSER_URL: "https://jupyter.bench",
    NAMESPACE: GUACAMOLE_NAMESPACE,
    HTTP_PORT: "0",
    LOG_LEVEL: "error",
  },
  stdout: "ignore",
  stderr: "inherit",
})
const status = () => readFileSync(`/proc/${child.pid}/status`, "utf8")
const kib = (field: string) => Number(/\d+/.exec(status().split("\n").find((l) => l.startsWith(field)) ?? "0")?.[0] ?? 0) * 1024
try {
  const more = Array.from({ length: N }, (_, i) => `m${i}`)
  await waitFor(() => h.api.openWatches() >= 4, { timeoutMs: 30_000, message: "the operator process to watch" })
  const baseline = kib("VmRSS:")
  // The operator process is up once it watches; then N more bindings arrive.
  await Promise.all(
    more.map((name, i) => h.createBinding(name, { workspace: `ws${i % W}`, username: `more${i}`, expires: "2099-12-31" })),
  )
  await waitFor(async () => (await h.list(Bindings.group, Bindings.plural)).filter((b: any) => b.status?.statusText === "READY").length >= names.length + more.length, {
    timeoutMs: 300_000,
    message: "the operator process to make the new bindings READY",
  })
  console.log(`\noperator process (bun run src/main.ts) holding ${2 * N} bindings:`)
  console.log(`  resident ${mib(kib("VmRSS:"))}, peak ${mib(kib("VmHWM:"))}; at start (${N} converged bindings) ${mib(baseline)}`)
} finally {
  child.kill("SIGTERM")
  console.log(`  exit on SIGTERM: ${await child.exited}`)
}

await h.close()

// ---- the idle check at scale (its own database) ------------------------------------------
await idleCheckCost(Number(values["idle-bindings"]))
process.exit(0)
