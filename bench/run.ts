/**
 * One benchmark run: N bindings on one API server, the operator of a
 * checkout as its own process, a fresh Guacamole database on the test
 * PostgreSQL behind the counting proxy (./pg-proxy.ts). Phases: cold (N new
 * bindings until all READY), restart over the converged bindings, and
 * replicas 0→1 by Keycloak's JSON patch with all of them present. Each phase
 * reports the operator's API requests (by verb and resource), SQL round
 * trips, and the CPU seconds of the operator, the API server, the cluster's
 * controllers and PostgreSQL.
 */
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import type { Subprocess } from "bun"
import { Effect, Either, Fiber, Redacted } from "effect"
import type { KubeClientService, KubeObject } from "../src/runtime/client.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, patchReplicasAsKeycloak } from "../test/support/operator.ts"
import { createTestDatabase, usingRealPostgres, type TestDatabase } from "../test/support/postgres.ts"
import { resourceType } from "../test/support/resource-types.ts"
import { waitFor } from "../test/support/wait.ts"
import type { CompactRequest } from "./emulator.ts"
import { startPgProxy, type PgProxy } from "../test/support/pg-proxy.ts"
import { cpuSeconds, memoryBytes, postgresProcesses, sumCpu, threadCpuSeconds } from "../test/support/proc.ts"
import { startBenchServer, type BenchServer, type BenchServerKind } from "./servers.ts"

const BINDINGS = resourceType("xlscsde.nhs.uk", "analyticsworkspacebindings")
const DEPLOYMENTS = resourceType("apps", "deployments")
const WRITE_VERBS = new Set(["create", "update", "patch", "delete", "deletecollection"])

export interface RunOptions {
  readonly bindings: number
  readonly workspaces: number
  readonly scaleUps: number
  readonly server: BenchServerKind
  /** The tree whose operator runs (`bun <checkout>/src/main.ts`). */
  readonly checkout: string
  /** The operator compiled (`bun run build`): run instead of the checkout's sources. */
  readonly binary?: string
  readonly log: (line: string) => void
}

export interface Cpu {
  /** CPU seconds (user + system, children included) over the phase. */
  readonly operator: number
  /** The emulator's process; kube-apiserver and etcd. */
  readonly apiServer: number
  /** kube-controller-manager, kube-scheduler and KWOK (0 on the emulator). */
  readonly controllers: number
  /** The backends serving the operator's connections (read through the SQL proxy). */
  readonly postgres: number
  /** Every process of the machine's PostgreSQL, other users' work included. */
  readonly postgresAll: number
}

export interface Traffic {
  readonly apiRequests: number
  readonly apiWrites: number
  /** Writes by `verb resource[/subresource]`. */
  readonly writesByKind: Record<string, number>
  /** Waits for PostgreSQL (statements pipelined on one connection count once). */
  readonly sqlRoundTrips: number
  readonly sqlStatements: number
}

export interface RunResult {
  readonly server: BenchServerKind
  readonly checkout: string
  readonly binary?: string
  readonly bindings: number
  readonly workspaces: number
  readonly cold: Traffic & {
    /** First create to the last binding READY. */
    readonly seconds: number
    readonly msPerBinding: number
    /** First create to the operator's last request or round trip. */
    readonly settledSeconds: number
    readonly cpu: Cpu
    readonly writesPerBinding: number
    readonly writesPerBindingByKind: Record<string, number>
    readonly sqlPerBinding: number
    readonly cpuMsPerBinding: Cpu
  }
  readonly restart: Traffic & {
    /** The new process spawned to its last request or round trip, or to its last binding reconciled if later. */
    readonly settledSeconds: number
    readonly cpu: Cpu
    readonly sqlPerBinding: number
    /** How long the control plane took to go quiet after the cold run, before the restart. */
    readonly controlPlaneQuietSeconds?: number
  }
  readonly memory: {
    /** VmRSS of the operator watching, before any binding. */
    readonly startBytes: number
    /** VmRSS after the cold run, then of the restarted process once settled. */
    readonly afterColdBytes: number
    readonly restartedBytes: number
    /** The largest VmHWM of the two operator processes. */
    readonly peakBytes: number
    /** (restarted − start) / N. */
    readonly growthPerBindingBytes: number
  }
  readonly scaleUp: Traffic & {
    readonly samples: number
    readonly p50Ms: number
    readonly p95Ms: number
    readonly p99Ms: number
    readonly maxMs: number
    readonly writesPerScaleUp: number
    readonly cpu: Cpu
    /** How long the control plane took to go quiet after the restart, before the scale-ups. */
    readonly controlPlaneQuietSeconds?: number
    /** Keycloak's patch sent to its answer received (the API server's write). */
    readonly keycloakPatchP50Ms?: number
    /** That answer to the operator's Deployment patch received by the server (ms resolution). */
    readonly operatorShareP50Ms?: number
    readonly operatorShareP99Ms?: number
  }
  readonly runSeconds: number
}

export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN
}

/** Keeps `onEvent` told of every object of a resource: a list, then watches resumed where they stopped. */
function follow(kube: KubeClientService, rt: typeof BINDINGS, namespace: string, onEvent: (o: KubeObject, deleted: boolean) => void) {
  const loop = Effect.gen(function* () {
    for (;;) {
      const listed = yield* Effect.either(kube.list(rt, { namespace }))
      if (Either.isLeft(listed)) {
        yield* Effect.sleep("200 millis") // not served yet, or the server is busy: try again
        continue
      }
      const list = listed.right
      for (const o of list.items) onEvent(o, false)
      let rv = list.resourceVersion
      for (;;) {
        const end = yield* Effect.either(
          kube.watch(rt, { namespace, resourceVersion: rv, timeoutSeconds: 300, idleTimeoutMs: 400_000 }, (type, o) => {
            if (o.metadata?.resourceVersion) rv = o.metadata.resourceVersion
            if (type !== "BOOKMARK") onEvent(o, type === "DELETED")
          }),
        )
        if (Either.isLeft(end)) break // 410 Gone or a failure: list again
      }
    }
  })
  const fiber = Effect.runFork(loop)
  return () => Effect.runPromise(Fiber.interrupt(fiber))
}

interface Operator {
  readonly process: Subprocess
  readonly spawnedAt: number
  /** Its HTTP port (/readyz). */
  readonly port: number
  cpu(): number
  stop(): Promise<{ cpu: number; hwm: number }>
}

const freePort = (): number => {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } })
  const port = l.port
  l.stop(true)
  return port
}

async function spawnOperator(checkout: string, binary: string | undefined, server: BenchServer, db: TestDatabase, proxy: PgProxy): Promise<Operator> {
  const port = freePort()
  const spawnedAt = Date.now()
  // BENCH_OPERATOR_BUN_FLAGS: flags for the operator's bun, e.g. "--cpu-prof-md --cpu-prof-dir=/tmp/prof" for a profile.
  const flags = (process.env.BENCH_OPERATOR_BUN_FLAGS ?? "").split(" ").filter((f) => f !== "")
  const command = binary ? [binary] : ["bun", ...flags, resolve(checkout, "src/main.ts")]
  const child = Bun.spawn([...command, "--kubeconfig", server.operatorKubeconfigPath], {
    cwd: checkout,
    env: {
      // BUN_JSC_* (JavaScriptCore's options, e.g. BUN_JSC_useFTLJIT=0) reach the operator, to measure their effect.
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("BUN_JSC_"))),
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/root",
      DB_HOST: "127.0.0.1",
      DB_PORT: String(proxy.port),
      DB_NAME: db.settings.database,
      DB_USER: db.settings.username,
      DB_PASS: Redacted.value(db.settings.password),
      DB_SSLMODE: "disable",
      // One connection under PGlite, whose single backend cannot interleave two (test/support/pglite-server.ts).
      ...(usingRealPostgres ? {} : { DB_POOL_MAX: "1" }),
      IMAGE_NAME: "browser:bench",
      BROWSER_URL: "https://jupyter.bench",
      NAMESPACE: GUACAMOLE_NAMESPACE,
      HTTP_PORT: String(port),
      LOG_LEVEL: process.env.BENCH_OPERATOR_LOG ? "debug" : "error",
      // The periodic work would land inside the phases: measured on its own, not mixed in.
      RESYNC_INTERVAL: "24h",
      VERIFY_INTERVAL: "24h",
    },
    // BENCH_OPERATOR_LOG: a file the operator's log (at debug level) is appended to.
    stdout: process.env.BENCH_OPERATOR_LOG ? Bun.file(process.env.BENCH_OPERATOR_LOG) : "ignore",
    stderr: "inherit",
  })
  let last = 0
  const cpu = () => (last = cpuSeconds(child.pid) ?? last)
  return {
    process: child,
    spawnedAt,
    port,
    cpu,
    stop: async () => {
      const final = { cpu: cpu(), hwm: memoryBytes(child.pid, "VmHWM") }
      child.kill("SIGTERM")
      const exited = await Promise.race([child.exited.then(() => true), Bun.sleep(30_000).then(() => false)])
      if (!exited) {
        child.kill("SIGKILL")
        await child.exited
      }
      return final
    },
  }
}

/** The sum of a metric's series in a Prometheus text exposition. */
const metricSum = (text: string, name: string): number => {
  let sum = 0
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(" ") + 1))
  }
  return sum
}

/** When (ms since the epoch) the operator had reconciled `n` keys with none waiting, read from its /metrics every 100 ms. */
const reconciledAll = async (port: number, n: number): Promise<number> => {
  let at = 0
  await waitFor(
    async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined))?.text()
      if (text === undefined) return false
      at = Date.now()
      return metricSum(text, "controller_runtime_reconcile_total") >= n && metricSum(text, "workqueue_depth") === 0
    },
    { timeoutMs: 60_000 + n * 100, intervalMs: 100, message: `the operator to reconcile all ${n} bindings` },
  )
  return at
}

/** A process's CPU seconds by thread name, largest first (a line of the log). */
const byThread = (pid: number) =>
  Object.entries(threadCpuSeconds(pid))
    .filter(([, s]) => s >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([name, s]) => `${name} ${s.toFixed(1)} s`)
    .join(", ")

const readyz = async (port: number) => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200

export async function runOnce(o: RunOptions): Promise<RunResult> {
  const runStarted = performance.now()
  const N = o.bindings
  if (!existsSync(resolve(o.checkout, "src/main.ts"))) throw new Error(`${o.checkout} has no src/main.ts`)
  if (o.binary && !existsSync(o.binary)) throw new Error(`--binary: ${o.binary} does not exist (bun run build makes it)`)
  const server = await startBenchServer(o.server)
  const db = await createTestDatabase()
  const proxy = await startPgProxy({ host: db.settings.host, port: db.settings.port })
  const cleanups: Array<() => Promise<unknown>> = [() => server.stop(), () => db.close(), () => proxy.close()]
  let operator: Operator | undefined
  try {
    // What the benchmark sees of the bindings and Deployments, through watches of its own.
    const bindings = new Map<string, KubeObject>()
    const deployments = new Map<string, KubeObject>()
    const deploymentWaiters = new Map<string, () => void>()
    cleanups.unshift(
      follow(server.admin, BINDINGS, BINDING_NAMESPACE, (b, deleted) =>
        deleted ? bindings.delete(b.metadata.name!) : bindings.set(b.metadata.name!, b),
      ),
      follow(server.admin, DEPLOYMENTS, GUACAMOLE_NAMESPACE, (d, deleted) => {
        if (deleted) return void deployments.delete(d.metadata.name!)
        deployments.set(d.metadata.name!, d)
        if (d.spec?.replicas === 1) deploymentWaiters.get(d.metadata.name!)?.()
      }),
    )
    const ready = () => {
      let n = 0
      for (const b of bindings.values()) if (b.status?.statusText === "READY") n++
      return n
    }

    let operatorCpuBase = 0 // CPU of operator processes already stopped
    const startOperator = async () => {
      const op = await spawnOperator(o.checkout, o.binary, server, db, proxy)
      operator = op
      await Promise.race([
        waitFor(() => readyz(op.port), { timeoutMs: 120_000, intervalMs: 50, message: "the operator's /readyz" }),
        op.process.exited.then((code) => Promise.reject(new Error(`the operator exited with status ${code}`))),
      ])
      return op
    }
    const cpuNow = (): Cpu => ({
      operator: operatorCpuBase + (operator?.cpu() ?? 0),
      apiServer: sumCpu(server.apiServerPids()),
      controllers: sumCpu(server.controllerPids()),
      postgres: proxy.backendCpuSeconds(),
      postgresAll: sumCpu(postgresProcesses()),
    })
    const cpuSince = (a: Cpu): Cpu => {
      const b = cpuNow()
      return {
        operator: b.operator - a.operator,
        apiServer: b.apiServer - a.apiServer,
        controllers: b.controllers - a.controllers,
        postgres: b.postgres - a.postgres,
        postgresAll: b.postgresAll - a.postgresAll,
      }
    }
    const mark = async () => ({
      api: (await server.operatorRequests()).length,
      sql: proxy.roundTrips(),
      statements: proxy.statements(),
      cpu: cpuNow(),
    })
    type Mark = Awaited<ReturnType<typeof mark>>
    const trafficSince = async (m: Mark): Promise<Traffic> => {
      const reqs = (await server.operatorRequests()).slice(m.api)
      const writes = reqs.filter(([verb]) => WRITE_VERBS.has(verb))
      const writesByKind: Record<string, number> = {}
      for (const [verb, resource] of writes) writesByKind[`${verb} ${resource}`] = (writesByKind[`${verb} ${resource}`] ?? 0) + 1
      return { apiRequests: reqs.length, apiWrites: writes.length, writesByKind, sqlRoundTrips: proxy.roundTrips() - m.sql, sqlStatements: proxy.statements() - m.statements }
    }
    /**
     * Waits until the operator has been quiet (no API request other than a watch, no SQL round
     * trip) for `quietMs`, and returns when its last activity was (ms since the epoch).
     */
    const quiet = async (m: Mark, since: number, timeoutMs: number): Promise<number> => {
      const quietMs = o.server === "emulator" ? 2_000 : 5_000
      let lastActivity = since
      await waitFor(
        async () => {
          const reqs = await server.operatorRequests()
          for (let i = m.api; i < reqs.length; i++) {
            const r = reqs[i] as CompactRequest
            if (r[0] !== "watch" && r[2] > lastActivity) lastActivity = r[2]
          }
          if (proxy.roundTrips() > m.sql && proxy.lastAt() > lastActivity) lastActivity = proxy.lastAt()
          return Date.now() - lastActivity >= quietMs
        },
        { timeoutMs, intervalMs: 250, message: "the operator to go quiet" },
      )
      return lastActivity
    }

    /**
     * Waits until the control plane (API server, etcd, and on kube-apiserver its controllers and
     * KWOK) has used under 5% of a core for 3 s in a row, as a settled cluster does, so that a
     * phase measures the operator and not the control plane still digesting the phase before
     * (kube-controller-manager's Deployment and ReplicaSet controllers catch up with N new
     * Deployments long after the bindings are READY). Gives up at the deadline, saying so: the
     * phase then runs on a busy control plane, and the log shows it. Returns the seconds waited.
     */
    const controlPlaneQuiet = async (what: string, timeoutMs: number): Promise<number> => {
      const t = Date.now()
      const busy = () => { const c = cpuNow(); return c.apiServer + c.controllers }
      const samples: { readonly at: number; readonly cpu: number }[] = [{ at: Date.now(), cpu: busy() }]
      let rate = Number.NaN
      const settled = await waitFor(
        () => {
          const now = { at: Date.now(), cpu: busy() }
          samples.push(now)
          while (samples.length > 1 && now.at - (samples[1] as { at: number }).at >= 3_000) samples.shift()
          const from = samples[0] as { at: number; cpu: number }
          if (now.at - from.at < 3_000) return false
          rate = (now.cpu - from.cpu) / ((now.at - from.at) / 1000)
          return rate < 0.05
        },
        { timeoutMs, intervalMs: 500, message: "the control plane to go quiet" },
      ).then(() => true, () => false)
      const waited = (Date.now() - t) / 1000
      o.log(`  control plane ${settled ? "quiet" : "still busy"} before ${what} after ${waited.toFixed(1)} s (${rate.toFixed(2)} cores)`)
      return waited
    }

    // ---- the operator, watching nothing yet -------------------------------------------
    let m = await mark()
    let op = await startOperator()
    await quiet(m, op.spawnedAt, 120_000)
    const startBytes = memoryBytes(op.process.pid, "VmRSS")
    o.log(`  operator up (pid ${op.process.pid}), RSS ${(startBytes / 2 ** 20).toFixed(0)} MiB`)

    // ---- cold: N new bindings -------------------------------------------------------
    m = await mark()
    const t0 = Date.now()
    const names = Array.from({ length: N }, (_, i) => `b${i}`)
    let next = 0
    const creators = Array.from({ length: 32 }, async () => {
      while (next < N) {
        const i = next++
        await Effect.runPromise(
          server.admin.create(BINDINGS, BINDING_NAMESPACE, {
            apiVersion: "xlscsde.nhs.uk/v1",
            kind: "AnalyticsWorkspaceBinding",
            metadata: { name: names[i], namespace: BINDING_NAMESPACE },
            spec: { workspace: `ws${i % o.workspaces}`, username: `user${i}`, expires: "2099-12-31" },
          }),
        )
      }
    })
    await Promise.all(creators)
    const createdSeconds = (Date.now() - t0) / 1000
    await waitFor(() => ready() >= N, { timeoutMs: 60_000 + N * 200, intervalMs: 50, message: `${N} bindings READY` }).catch((e) => {
      const seen: Record<string, number> = {}
      for (const b of bindings.values()) seen[b.status?.statusText ?? "(no status)"] = (seen[b.status?.statusText ?? "(no status)"] ?? 0) + 1
      throw new Error(`${e.message} (the benchmark sees ${bindings.size}: ${JSON.stringify(seen)})`)
    })
    const coldSeconds = (Date.now() - t0) / 1000
    o.log(`  cold: ${N} created in ${createdSeconds.toFixed(1)} s, all READY at ${coldSeconds.toFixed(1)} s`)
    const coldLast = await quiet(m, t0, 60_000 + N * 100)
    const coldTraffic = await trafficSince(m)
    const coldCpu = cpuSince(m.cpu)
    const perBinding = (x: number) => x / N
    const afterColdBytes = memoryBytes(op.process.pid, "VmRSS")
    const writesPerBindingByKind = Object.fromEntries(Object.entries(coldTraffic.writesByKind).map(([k, v]) => [k, perBinding(v)]))
    const cpuMs = (c: Cpu): Cpu => ({
      operator: (1000 * c.operator) / N,
      apiServer: (1000 * c.apiServer) / N,
      controllers: (1000 * c.controllers) / N,
      postgres: (1000 * c.postgres) / N,
      postgresAll: (1000 * c.postgresAll) / N,
    })
    const cold = {
      seconds: coldSeconds,
      msPerBinding: (1000 * coldSeconds) / N,
      settledSeconds: (coldLast - t0) / 1000,
      cpu: coldCpu,
      ...coldTraffic,
      writesPerBinding: perBinding(coldTraffic.apiWrites),
      writesPerBindingByKind,
      sqlPerBinding: perBinding(coldTraffic.sqlRoundTrips),
      cpuMsPerBinding: cpuMs(coldCpu),
    }
    o.log(`  cold settled at ${cold.settledSeconds.toFixed(1)} s; ${cold.writesPerBinding.toFixed(2)} writes, ${cold.sqlPerBinding.toFixed(2)} SQL per binding`)
    o.log(`    the operator's CPU by thread (since it started): ${byThread(op.process.pid)}`)

    // ---- restart over the converged bindings ---------------------------------------------
    const quietBeforeRestart = await controlPlaneQuiet("the restart", 120_000 + N * 30)
    const first = await op.stop()
    operatorCpuBase += first.cpu
    operator = undefined
    m = await mark()
    op = await startOperator()
    // A converged binding's reconcile sends nothing, so the last request is not the end of the
    // work: the restart has settled once every binding has been reconciled and the queue is empty.
    const reconciledAt = reconciledAll(op.port, N)
    const restartLast = Math.max(await quiet(m, op.spawnedAt, 60_000 + N * 100), await reconciledAt)
    const restartTraffic = await trafficSince(m)
    const restart = {
      settledSeconds: (restartLast - op.spawnedAt) / 1000,
      cpu: cpuSince(m.cpu),
      ...restartTraffic,
      sqlPerBinding: perBinding(restartTraffic.sqlRoundTrips),
      controlPlaneQuietSeconds: quietBeforeRestart,
    }
    const restartedBytes = memoryBytes(op.process.pid, "VmRSS")
    o.log(`  restart settled in ${restart.settledSeconds.toFixed(1)} s: ${restart.apiWrites} writes, ${restart.apiRequests} requests, ${restart.sqlRoundTrips} SQL`)
    o.log(`    the restarted operator's CPU by thread: ${byThread(op.process.pid)}`)

    // ---- replicas 0→1 by Keycloak's patch, with the N bindings present -------------------------
    await server.setWorkloads(false)
    await quiet(await mark(), Date.now(), 60_000)
    const quietBeforeScaleUp = await controlPlaneQuiet("the scale-ups", 120_000 + N * 30)
    m = await mark()
    const S = Math.min(o.scaleUps, N)
    const latencies: number[] = []
    /** Per scale-up, epoch ms: the patch sent, its answer received. */
    const patches: { readonly sent: number; readonly answered: number }[] = []
    for (let i = 0; i < S; i++) {
      const name = names[N - 1 - i]!
      const d = bindings.get(name)?.status?.deploymentName as string | undefined
      if (!d) throw new Error(`binding ${name} has no status.deploymentName`)
      const scaled = new Promise<void>((resolve) => deploymentWaiters.set(d, resolve))
      const s0 = performance.now()
      const sent = Date.now()
      await patchReplicasAsKeycloak({ kube: server.admin }, name, 1)
      patches.push({ sent, answered: Date.now() })
      await Promise.race([scaled, Bun.sleep(30_000).then(() => Promise.reject(new Error(`Deployment ${d} was not scaled`)))])
      latencies.push(performance.now() - s0)
      deploymentWaiters.delete(d)
    }
    await quiet(m, Date.now(), 60_000)
    // Where a scale-up's time goes: the API server answering Keycloak's patch; then the operator,
    // from that answer to its Deployment patch reaching the server (the watch event's delivery,
    // the reconcile, the request on its way); the rest is the Deployment patch and its watch event.
    const deploymentPatches = (await server.operatorRequests()).slice(m.api).filter(([verb, resource]) => verb === "patch" && resource === "deployments").map(([, , at]) => at)
    const operatorShare: number[] = []
    for (const p of patches) {
      const at = deploymentPatches.find((t) => t >= p.answered)
      if (at !== undefined) operatorShare.push(at - p.answered)
    }
    const patchAnswer = patches.map((p) => p.answered - p.sent)
    const scaleTraffic = await trafficSince(m)
    const scaleUp = {
      samples: S,
      p50Ms: percentile(latencies, 50),
      p95Ms: percentile(latencies, 95),
      p99Ms: percentile(latencies, 99),
      maxMs: Math.max(...latencies),
      ...scaleTraffic,
      writesPerScaleUp: scaleTraffic.apiWrites / S,
      cpu: cpuSince(m.cpu),
      controlPlaneQuietSeconds: quietBeforeScaleUp,
      keycloakPatchP50Ms: percentile(patchAnswer, 50),
      operatorShareP50Ms: percentile(operatorShare, 50),
      operatorShareP99Ms: percentile(operatorShare, 99),
    }
    o.log(`  scale-up: p50 ${scaleUp.p50Ms.toFixed(1)} ms, p99 ${scaleUp.p99Ms.toFixed(1)} ms, ${scaleUp.writesPerScaleUp.toFixed(2)} writes each`)
    o.log(
      `    of which Keycloak's patch answered: p50 ${scaleUp.keycloakPatchP50Ms.toFixed(1)} ms; then to the operator's Deployment patch received: p50 ${scaleUp.operatorShareP50Ms.toFixed(1)} ms, p99 ${scaleUp.operatorShareP99Ms.toFixed(1)} ms`,
    )

    const second = await op.stop()
    operator = undefined
    return {
      server: o.server,
      checkout: o.checkout,
      ...(o.binary ? { binary: o.binary } : {}),
      bindings: N,
      workspaces: o.workspaces,
      cold,
      restart,
      memory: {
        startBytes,
        afterColdBytes,
        restartedBytes,
        peakBytes: Math.max(first.hwm, second.hwm),
        growthPerBindingBytes: (restartedBytes - startBytes) / N,
      },
      scaleUp,
      runSeconds: (performance.now() - runStarted) / 1000,
    }
  } finally {
    if (operator) await operator.stop().catch(() => {})
    for (const c of cleanups) await c().catch(() => {})
  }
}
