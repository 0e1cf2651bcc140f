/**
 * The idle check's cost at scale: N running browsers (default 10,000), a
 * tenth of them in use, and the connection history Guacamole accumulates
 * (20 closed sessions per connection). Measures the one query of a check
 * against a real or embedded PostgreSQL, and the whole check (the query, a
 * decision per binding from the caches, and the status writes it asks for,
 * counted against a stub API client).
 */
import { Duration, Effect } from "effect"
import { makeBrowserLifecycle } from "../src/reconciler/browser.ts"
import { makeIdleCuller } from "../src/reconciler/idle.ts"
import { baseStatusFields } from "../src/reconciler/status-fields.ts"
import { BINDING_ANNOTATION } from "../src/domain/desired.ts"
import { connectionHostnameFor, deploymentNameFor } from "../src/domain/naming.ts"
import { make as makeGuacamoleDb } from "../src/guacamole/db.ts"
import { makeMetrics } from "../src/http/metrics.ts"
import type { KubeClientService, KubeObject } from "../src/runtime/client.ts"
import type { Informer } from "../src/runtime/reflector.ts"
import { createTestDatabase } from "../test/support/postgres.ts"

const NAMESPACE = "guacamole"
const WORKSPACES = 100
const CLOSED_PER_CONNECTION = 20

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const ms = (x: number) => `${x.toFixed(1)} ms`

export async function idleCheckCost(n: number): Promise<void> {
  const db = await createTestDatabase()
  try {
    const users = Array.from({ length: n }, (_, i) => ({ workspace: `ws${i % WORKSPACES}`, username: `user${i}` }))
    const deployments = users.map((u) => deploymentNameFor(u.workspace, u.username))
    await db.sql`INSERT INTO guacamole_connection_group (connection_group_name)
                 SELECT 'ws' || g FROM generate_series(0, ${WORKSPACES - 1}) g`
    await db.sql`
      INSERT INTO guacamole_connection (connection_name, parent_id, protocol)
      SELECT 'user' || i, g.connection_group_id, 'vnc'
        FROM generate_series(0, ${n - 1}) i
        JOIN guacamole_connection_group g ON g.connection_group_name = 'ws' || (i % ${WORKSPACES})`
    await db.sql`
      INSERT INTO guacamole_connection_parameter (connection_id, parameter_name, parameter_value)
      SELECT c.connection_id, p.name, CASE p.name WHEN 'hostname' THEN h.hostname ELSE p.value END
        FROM unnest(${users.map((u) => u.username)}::text[], ${deployments.map((d) => connectionHostnameFor(d, NAMESPACE))}::text[])
             AS h(username, hostname)
        JOIN guacamole_connection c ON c.connection_name = h.username
       CROSS JOIN (VALUES ('hostname', ''), ('port', '5900'), ('password', 'x'), ('disable-copy', 'true'), ('disable-paste', 'true'))
             AS p(name, value)`
    await db.sql`
      INSERT INTO guacamole_connection_history (connection_id, connection_name, remote_host, username, start_date, end_date)
      SELECT c.connection_id, c.connection_name, '10.1.2.3', 'ws@' || c.connection_name,
             now() - make_interval(hours => s), now() - make_interval(hours => s) + interval '30 minutes'
        FROM guacamole_connection c, generate_series(1, ${CLOSED_PER_CONNECTION}) s`
    await db.sql`
      INSERT INTO guacamole_connection_history (connection_id, connection_name, remote_host, username, start_date)
      SELECT connection_id, connection_name, '10.1.2.3', 'ws@' || connection_name, now() - interval '5 minutes'
        FROM guacamole_connection WHERE connection_id % 10 = 0`
    await db.sql`ANALYZE`
    const [counted] = await db.sql<{ rows: number }[]>`SELECT count(*)::int AS rows FROM guacamole_connection_history`
    const historyRows = counted?.rows ?? 0

    const plan = await db.sql<{ "QUERY PLAN": string }[]>`
      EXPLAIN (ANALYZE, FORMAT TEXT) SELECT DISTINCT p.parameter_value FROM guacamole_connection_history h
        JOIN guacamole_connection_parameter p ON p.connection_id = h.connection_id AND p.parameter_name = 'hostname'
       WHERE h.end_date IS NULL`
    if (process.env.BENCH_PLAN) console.log(plan.map((r) => r["QUERY PLAN"]).join("\n"))
    const guacamole = makeGuacamoleDb(db.sql)
    const times: number[] = []
    let active = 0
    for (let i = 0; i < 23; i++) {
      const t0 = performance.now()
      active = (await Effect.runPromise(guacamole.activeHostnames)).size
      if (i >= 3) times.push(performance.now() - t0)
    }

    // The whole check, against caches of N bindings and their Deployments and an API client that only counts.
    const bindings: KubeObject[] = users.map((u, i) => ({
      apiVersion: "xlscsde.nhs.uk/v1",
      kind: "AnalyticsWorkspaceBinding",
      metadata: { name: `b${i}`, namespace: "jupyterhub", uid: `uid-${i}`, resourceVersion: "1" },
      spec: { ...u, expires: "2099-12-31", replicas: 1 },
      status: { statusText: "READY", deploymentName: deployments[i]!, replicas: 1 },
    }))
    const byName = new Map<string, KubeObject>(
      deployments.map((d, i) => [
        d,
        { metadata: { name: d, namespace: NAMESPACE, annotations: { [BINDING_ANNOTATION]: `jupyterhub/b${i}` } }, spec: { replicas: 1 } },
      ]),
    )
    let writes = 0
    const kube = { patch: (_rt: unknown, _ns: unknown, _name: unknown) => Effect.sync(() => (writes++, bindings[0]!)) } as unknown as KubeClientService
    const events = { record: () => Effect.void }
    const metrics = makeMetrics()
    const culler = makeIdleCuller({
      kube,
      db: guacamole,
      settings: { timeout: Duration.minutes(30), checkInterval: Duration.minutes(5), gracePeriod: Duration.minutes(15), maxAge: undefined },
      namespace: NAMESPACE,
      bindings: () => bindings,
      deployments: { get: (_ns: string | undefined, name: string) => byName.get(name) } as unknown as Informer,
      statusFields: baseStatusFields,
      events,
      browser: makeBrowserLifecycle(metrics, events),
      metrics,
    })
    const checks: number[] = []
    for (let i = 0; i < 8; i++) {
      writes = 0
      const t0 = performance.now()
      await Effect.runPromise(culler.check)
      if (i >= 3) checks.push(performance.now() - t0)
    }
    console.log(`\nidle check over ${n} running browsers (${active} in use; ${historyRows} history rows):`)
    console.log(`  the one query (open history rows → hostnames): p50 ${ms(median(times))}, max ${ms(Math.max(...times))}`)
    console.log(`  the whole check (query + ${n} decisions from the caches): p50 ${ms(median(checks))}; ${writes} status writes (status.lastActiveCheck of the browsers in use)`)
  } finally {
    await db.close()
  }
}

if (import.meta.main) {
  await idleCheckCost(Number(process.argv[2] ?? 10_000))
  process.exit(0)
}
