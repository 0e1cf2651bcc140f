/**
 * Benchmark: what the operator costs, per binding and as the number of
 * bindings grows, on this machine.
 *
 *   bun run bench [--bindings 1000,2000,5000,10000] [--server emulator|kube-apiserver|both]
 *                 [--checkout DIR] [--binary FILE] [--json FILE] [--append] [--workspaces N] [--scale N] [--idle-bindings N]
 *
 * For each size and API server it starts a fresh server, a fresh Guacamole
 * database on the test PostgreSQL (DATABASE_URL) and the operator of DIR
 * (default this tree) as its own process, then measures (./run.ts): the cold
 * run (N new bindings until all READY), a restart over them, and replicas
 * 0→1 by Keycloak's JSON patch with all of them present. It prints a table
 * whose growth figures (cost per binding at N / at the smallest N) flag
 * anything above 1.2×, and writes every figure to the JSON file (with
 * --append, after the results already there of the same checkout: sizes
 * measured in separate runs, one table). It asserts
 * nothing. Times and CPU seconds vary with the machine and whatever else
 * runs on it: read the request and round-trip counts as exact, the times as
 * indications, and compare ratios.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import { controlPlaneAvailable, controlPlaneSkipReason } from "../test/support/control-plane.ts"
import { repoRoot, usingRealPostgres } from "../test/support/postgres.ts"
import { idleCheckCost } from "./idle.ts"
import { runOnce, type Cpu, type RunResult } from "./run.ts"
import type { BenchServerKind } from "./servers.ts"

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    bindings: { type: "string", default: "1000" },
    server: { type: "string", default: "emulator" },
    checkout: { type: "string", default: repoRoot },
    binary: { type: "string" },
    json: { type: "string", default: "bench-results.json" },
    workspaces: { type: "string" },
    scale: { type: "string", default: "100" },
    "idle-bindings": { type: "string" },
    append: { type: "boolean", default: false },
  },
  strict: true,
})

const sizes = values.bindings.split(",").map((s) => Number(s.trim()))
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--bindings: a comma-separated list of positive integers, not ${values.bindings}`)
const servers: BenchServerKind[] =
  values.server === "both" ? ["emulator", "kube-apiserver"] : values.server === "emulator" || values.server === "kube-apiserver" ? [values.server] : []
if (servers.length === 0) throw new Error(`--server: emulator, kube-apiserver or both, not ${values.server}`)
const checkout = resolve(values.checkout)
/** --binary: the compiled operator (`bun run build`), what users run, instead of `bun src/main.ts`. */
const binary = values.binary ? resolve(values.binary) : undefined
const jsonPath = resolve(values.json)
/** Workspaces: --workspaces, or one for every ten bindings (10,000 bindings over 1,000 workspaces). */
const workspacesFor = (n: number) => (values.workspaces ? Number(values.workspaces) : Math.max(1, Math.round(n / 10)))

export const GROWTH_FLAG = 1.2

/** The per-binding figures whose growth is reported, by name, from one result. */
export const growthFigures = (r: RunResult): Record<string, number> => ({
  "cold ms/binding": r.cold.msPerBinding,
  "cold writes/binding": r.cold.writesPerBinding,
  "cold SQL/binding": r.cold.sqlPerBinding,
  "cold operator CPU ms/binding": r.cold.cpuMsPerBinding.operator,
  "cold API server CPU ms/binding": r.cold.cpuMsPerBinding.apiServer,
  "cold PostgreSQL CPU ms/binding": r.cold.cpuMsPerBinding.postgres,
  "restart ms/binding": (1000 * r.restart.settledSeconds) / r.bindings,
  "restart SQL/binding": r.restart.sqlPerBinding,
  "restart operator CPU ms/binding": (1000 * r.restart.cpu.operator) / r.bindings,
  "restart PostgreSQL CPU ms/binding": (1000 * r.restart.cpu.postgres) / r.bindings,
  "RSS growth/binding": r.memory.growthPerBindingBytes,
  "scale-up p99": r.scaleUp.p99Ms,
  "writes/scale-up": r.scaleUp.writesPerScaleUp,
})

/**
 * Cost at N / cost at the smallest N, for every growth figure; null where the smallest N cost
 * nothing measurable (a CPU figure below the clock tick, say) and N did: no ratio says that.
 */
export const growthOf = (r: RunResult, smallest: RunResult): Record<string, number | null> => {
  const base = growthFigures(smallest)
  return Object.fromEntries(Object.entries(growthFigures(r)).map(([k, v]) => [k, base[k]! === 0 ? (v === 0 ? 1 : null) : v / base[k]!]))
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`
const f1 = (x: number) => x.toFixed(1)
const f2 = (x: number) => x.toFixed(2)
const cpuCell = (c: Cpu, real: boolean) =>
  `${f1(c.operator)} / ${f1(c.apiServer)}${real ? ` (+${f1(c.controllers)})` : ""} / ${f1(c.postgres)} [${f1(c.postgresAll)}]`

export function table(results: ReadonlyArray<RunResult>): string {
  const rs = [...results].sort((a, b) => a.bindings - b.bindings)
  const smallest = rs[0]!
  const real = rs[0]!.server === "kube-apiserver"
  const g = (r: RunResult, key: string) => {
    const x = growthOf(r, smallest)[key]
    if (r === smallest) return ""
    return x === null || x === undefined ? " (from 0)" : ` (${x.toFixed(2)}×${x > GROWTH_FLAG ? " ⚠" : ""})`
  }
  const kinds = [...new Set(rs.flatMap((r) => Object.keys(r.cold.writesPerBindingByKind)))].sort()
  const rows: Array<[string, (r: RunResult) => string]> = [
    ["cold: all READY", (r) => `${f1(r.cold.seconds)} s (${f1(r.cold.msPerBinding)} ms each)${g(r, "cold ms/binding")}`],
    ["cold: settled (last request)", (r) => `${f1(r.cold.settledSeconds)} s`],
    ["CPU s cold: operator / API server" + (real ? " (+controllers)" : "") + " / PostgreSQL [all of it]", (r) => cpuCell(r.cold.cpu, real)],
    ["  operator CPU ms per binding", (r) => `${f2(r.cold.cpuMsPerBinding.operator)}${g(r, "cold operator CPU ms/binding")}`],
    ["  API server CPU ms per binding", (r) => `${f2(r.cold.cpuMsPerBinding.apiServer)}${g(r, "cold API server CPU ms/binding")}`],
    ["  PostgreSQL CPU ms per binding", (r) => `${f2(r.cold.cpuMsPerBinding.postgres)}${g(r, "cold PostgreSQL CPU ms/binding")}`],
    ["control plane quiet after the cold run (waited)", (r) => (r.restart.controlPlaneQuietSeconds === undefined ? "—" : `${f1(r.restart.controlPlaneQuietSeconds)} s`)],
    ["restart over converged: settled", (r) => `${f1(r.restart.settledSeconds)} s${g(r, "restart ms/binding")}`],
    ["  writes / requests / SQL round trips (statements)", (r) => `${r.restart.apiWrites} / ${r.restart.apiRequests} / ${r.restart.sqlRoundTrips} (${r.restart.sqlStatements})${g(r, "restart SQL/binding")}`],
    ["  CPU s: operator / API server / PostgreSQL [all]", (r) => cpuCell(r.restart.cpu, real)],
    ["operator RSS: peak (start → settled)", (r) => `${mib(r.memory.peakBytes)} (${mib(r.memory.startBytes)} → ${mib(r.memory.restartedBytes)})`],
    ["  growth per binding", (r) => `${f1(r.memory.growthPerBindingBytes / 1024)} KiB${g(r, "RSS growth/binding")}`],
    ["scale-up p50 / p95 / p99", (r) => `${f1(r.scaleUp.p50Ms)} / ${f1(r.scaleUp.p95Ms)} / ${f1(r.scaleUp.p99Ms)} ms${g(r, "scale-up p99")}`],
    [
      "  Keycloak's patch answered p50; then operator to its Deployment patch p50 / p99",
      (r) =>
        r.scaleUp.operatorShareP50Ms === undefined
          ? "—"
          : `${f1(r.scaleUp.keycloakPatchP50Ms ?? NaN)}; ${f1(r.scaleUp.operatorShareP50Ms)} / ${f1(r.scaleUp.operatorShareP99Ms ?? NaN)} ms`,
    ],
    ["  API writes per scale-up", (r) => `${f2(r.scaleUp.writesPerScaleUp)}${g(r, "writes/scale-up")}`],
    ["API writes per new binding", (r) => `${f2(r.cold.writesPerBinding)}${g(r, "cold writes/binding")}`],
    ...kinds.map((k): [string, (r: RunResult) => string] => [`  ${k}`, (r) => f2(r.cold.writesPerBindingByKind[k] ?? 0)]),
    ["SQL round trips per new binding", (r) => `${f2(r.cold.sqlPerBinding)}${g(r, "cold SQL/binding")}`],
    ["  statements per new binding", (r) => f2(r.cold.sqlStatements / r.bindings)],
    ["run took", (r) => `${f1(r.runSeconds)} s`],
  ]
  const header = [`figure (${rs[0]!.server})`, ...rs.map((r) => r.bindings.toLocaleString("en-GB"))]
  const lines = [header, header.map(() => "---"), ...rows.map(([name, cell]) => [name, ...rs.map(cell)])]
  return lines.map((cells) => `| ${cells.join(" | ")} |`).join("\n")
}

if (import.meta.main) {
  const started = new Date().toISOString()
  const results: RunResult[] = []
  const skipped: string[] = []
  if (values.append && existsSync(jsonPath)) {
    const earlier = JSON.parse(readFileSync(jsonPath, "utf8")) as { checkout: string; results: Array<RunResult & { growth?: unknown }> }
    if (earlier.checkout !== checkout) throw new Error(`--append: ${jsonPath} measured ${earlier.checkout}, not ${checkout}`)
    for (const { growth: _growth, ...r } of earlier.results) results.push(r)
  }
  const save = () =>
    writeFileSync(
      jsonPath,
      JSON.stringify(
        {
          startedAt: started,
          finishedAt: new Date().toISOString(),
          checkout,
          postgres: usingRealPostgres ? "real server (DATABASE_URL)" : "embedded PGlite",
          cpus: cpus().length,
          growthFlag: GROWTH_FLAG,
          skipped,
          results: results.map((r) => ({
            ...r,
            growth: growthOf(r, results.filter((x) => x.server === r.server).sort((a, b) => a.bindings - b.bindings)[0]!),
          })),
        },
        null,
        2,
      ) + "\n",
    )
  console.log(`operator benchmark: ${sizes.join(", ")} bindings on ${servers.join(" and ")}; operator of ${checkout}${binary ? `, compiled (${binary})` : ""}`)
  console.log(`PostgreSQL: ${usingRealPostgres ? "the real server (DATABASE_URL)" : "embedded PGlite (set DATABASE_URL for a real one)"}; ${cpus().length} CPUs`)
  for (const server of servers) {
    if (server === "kube-apiserver" && !controlPlaneAvailable()) {
      skipped.push(`kube-apiserver: ${controlPlaneSkipReason}`)
      console.log(`kube-apiserver skipped: ${controlPlaneSkipReason}`)
      continue
    }
    for (const n of sizes) {
      console.log(`\n${server}, ${n} bindings over ${workspacesFor(n)} workspaces:`)
      results.push(
        await runOnce({ bindings: n, workspaces: workspacesFor(n), scaleUps: Number(values.scale), server, checkout, ...(binary ? { binary } : {}), log: (l) => console.log(l) }),
      )
      save()
    }
    if (results.some((r) => r.server === server)) console.log(`\n${table(results.filter((r) => r.server === server))}`)
  }
  save()
  console.log(`\nCPU cells: seconds of operator / API server${servers.includes("kube-apiserver") ? " (kube-apiserver + etcd; +controllers: KCM, scheduler, KWOK)" : ""} / the operator's PostgreSQL backends [every PostgreSQL process, other users' work included].`)
  console.log(`growth: cost per binding at N / at the smallest N; ⚠ above ${GROWTH_FLAG}×. Figures written to ${jsonPath}`)
  if (values["idle-bindings"]) await idleCheckCost(Number(values["idle-bindings"]))
  process.exit(0)
}
