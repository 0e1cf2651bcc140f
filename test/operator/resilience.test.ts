/**
 * Nothing is lost when the world misbehaves: dropped, silent or expired
 * watches, API errors, a database failing mid-transaction, many bindings of
 * one workspace at once.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Duration } from "effect"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, settled, startHarness, type Harness } from "../support/operator.ts"
import { testWithRealPostgres, usingRealPostgres } from "../support/postgres.ts"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let h: Harness

beforeAll(async () => {
  h = await startHarness({
    config: { watchIdleTimeout: Duration.seconds(1), watchTimeoutSeconds: 300, concurrency: 8 },
  })
})
afterAll(async () => {
  await h?.close()
})

const spec = (workspace: string, username: string) => ({ workspace, username, expires: "2099-12-31" })

describe("watches", () => {
  test("a dropped watch is resumed and the next binding is still seen", async () => {
    await settled(h)
    h.api.faults.dropWatches()
    await h.createBinding("after-drop", spec("wsr", "after-drop"))
    await h.waitForStatus("after-drop", "READY")
  })

  test("a watch that goes silent (kept open, nothing sent) is abandoned and resumed", async () => {
    await settled(h)
    h.api.faults.stallWatches()
    await h.createBinding("after-stall", spec("wsr", "after-stall"))
    await h.waitForStatus("after-stall", "READY", 15_000)
    const restarts = h.operator().controller.informers.reduce((n, i) => n + i.stats.idleRestarts, 0)
    expect(restarts).toBeGreaterThan(0)
    const metrics = await (await fetch(`${h.operator().http.url}/metrics`)).text()
    expect(metrics).toMatch(/awms_watch_restarts_total\{resource="analyticsworkspacebindings.xlscsde.nhs.uk",cause="idle"\} [1-9]/)
  })

  test("history expired while disconnected (410 Gone): the operator lists again and misses nothing", async () => {
    await settled(h)
    h.api.faults.compactHistory()
    h.api.faults.dropWatches()
    await h.createBinding("after-gone", spec("wsr", "after-gone"))
    await h.waitForStatus("after-gone", "READY", 15_000)
  })

  test("the API server refusing connections for a while delays, but does not lose, a binding", async () => {
    await settled(h)
    h.api.faults.refuseConnections(500)
    await h.createBinding("after-refusal", spec("wsr", "after-refusal")).catch(async () => {
      await waitFor(async () => h.createBinding("after-refusal", spec("wsr", "after-refusal")).then(() => true), {
        message: "the API server to accept connections again",
      })
    })
    await h.waitForStatus("after-refusal", "READY", 20_000)
  })
})

describe("a restart on a lagging API server cache", () => {
  test("a binding missing from the first list (a watch cache behind) keeps its browser, password and rows until the watch brings it", async () => {
    const asOf = h.api.faults.resourceVersion()
    await h.createBinding("lagged", spec("wsl", "lagged"))
    await h.waitForStatus("lagged", "READY")
    await settled(h)
    const d = deploymentNameFor("wsl", "lagged")
    const uids = () =>
      [h.api.get("apps", "deployments", GUACAMOLE_NAMESPACE, d), h.api.get("", "secrets", GUACAMOLE_NAMESPACE, `client-${d}-vnc`)].map(
        (o) => o?.metadata.uid,
      )
    const before = uids()
    const rows = () => h.db.sql`SELECT e.name FROM guacamole_entity e WHERE e.name = 'wsl@lagged'`
    expect(await rows()).toHaveLength(1)

    await h.stopOperator()
    // The children's lists show its Deployment; the bindings' list does not show it, and the
    // bindings' watch (from the list's older resourceVersion) brings it 0.6 s later (within this file's 1 s idle timeout).
    h.api.faults.staleList({ verb: "list", resource: "analyticsworkspacebindings" }, asOf)
    h.api.faults.addLatency({ verb: "watch", resource: "analyticsworkspacebindings" }, 600)
    try {
      await h.startOperator()
      const bindings = h.operator().controller.informers.find((i) => i.resource.plural === "analyticsworkspacebindings")!
      await waitFor(() => bindings.get(BINDING_NAMESPACE, "lagged"), { message: "the bindings' watch to bring the binding" })
      await settled(h)
    } finally {
      h.api.faults.clear()
    }
    expect(uids()).toEqual(before)
    expect(await rows()).toHaveLength(1)
    expect((await h.binding("lagged"))!.status!.statusText).toBe("READY")
  })
})

describe("API errors", () => {
  test("server errors, throttling and conflicts on writes are retried until the binding converges", async () => {
    await settled(h)
    h.api.faults.failNext({ verb: "create", resource: "deployments" }, { code: 500, count: 2 })
    h.api.faults.failNext({ verb: "create", resource: "services" }, { code: 429, count: 1, retryAfterSeconds: 1 })
    h.api.faults.failNext({ verb: "patch", resource: "analyticsworkspacebindings" }, { code: 409, count: 1 })
    await h.createBinding("flaky-api", spec("wsr", "flaky-api"))
    await h.waitForStatus("flaky-api", "READY", 15_000)
    expect((await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentNameFor("wsr", "flaky-api")))).toBeDefined()
    expect((await h.get("", "services", GUACAMOLE_NAMESPACE, `client-${deploymentNameFor("wsr", "flaky-api")}`))).toBeDefined()
  })
})

describe("the database", () => {
  test("a failure mid-transaction leaves no partial rows, and the binding converges once the database recovers", async () => {
    await settled(h)
    // Fail the last statement of the transaction (the connection permission) until told otherwise.
    await h.db.sql.unsafe(`
      CREATE TABLE inject_failure (on_ boolean NOT NULL);
      INSERT INTO inject_failure VALUES (true);
      CREATE FUNCTION inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF (SELECT on_ FROM inject_failure) THEN
          RAISE EXCEPTION 'injected failure' USING ERRCODE = '40001';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER inject_failure BEFORE INSERT ON guacamole_connection_permission
        FOR EACH ROW EXECUTE FUNCTION inject_failure();`)
    try {
      await h.createBinding("db-flaky", spec("ws-db", "db-flaky"))
      const event = await waitFor(
        () =>
          h.api
            .list("", "events", "jupyterhub")
            .find((e: any) => e.involvedObject?.name === "db-flaky" && e.reason === "Retrying"),
        { message: "a Retrying event" },
      )
      expect(event.type).toBe("Warning")
      const partial = await h.db.sql`
        SELECT (SELECT count(*) FROM guacamole_connection_group WHERE connection_group_name = 'ws-db')::int AS groups,
               (SELECT count(*) FROM guacamole_connection WHERE connection_name = 'db-flaky')::int AS connections,
               (SELECT count(*) FROM guacamole_entity WHERE name = 'ws-db@db-flaky')::int AS entities`
      expect(partial[0]).toEqual({ groups: 0, connections: 0, entities: 0 })
      expect((await h.binding("db-flaky"))?.status?.statusText ?? "PROVISIONING").not.toBe("READY")
      await h.db.sql`UPDATE inject_failure SET on_ = false`
      await h.waitForStatus("db-flaky", "READY", 20_000)
      const [row] = await h.db.sql`SELECT count(*)::int AS n FROM guacamole_connection_permission p
        JOIN guacamole_entity e USING (entity_id) WHERE e.name = 'ws-db@db-flaky'`
      expect(row!.n).toBe(1)
    } finally {
      await h.db.sql.unsafe(`DROP TRIGGER IF EXISTS inject_failure ON guacamole_connection_permission;
        DROP FUNCTION IF EXISTS inject_failure(); DROP TABLE IF EXISTS inject_failure;`)
    }
  })

  test(`ten bindings of one workspace reconciled concurrently give one connection group${usingRealPostgres ? "" : " (serialised by the embedded PostgreSQL; concurrent under a real server)"}`, async () => {
    await settled(h)
    await Promise.all(Array.from({ length: 10 }, (_, i) => h.createBinding(`crowd-${i}`, spec("ws-crowd", `user${i}`))))
    for (let i = 0; i < 10; i++) await h.waitForStatus(`crowd-${i}`, "READY", 20_000)
    const groups = await h.db.sql`SELECT connection_group_id FROM guacamole_connection_group WHERE connection_group_name = 'ws-crowd'`
    expect(groups).toHaveLength(1)
    const connections = await h.db.sql`SELECT count(*)::int AS n FROM guacamole_connection WHERE parent_id = ${groups[0]!.connection_group_id}`
    expect(connections[0]!.n).toBe(10)
  })

  testWithRealPostgres("the database dropping the operator's connections (a restart, a failover) is survived", async () => {
    await settled(h)
    const dropped = await h.db.sql`
      SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid()`
    expect(dropped.length).toBeGreaterThan(0)
    await h.createBinding("after-db-drop", spec("ws-db", "after-db-drop"))
    await h.waitForStatus("after-db-drop", "READY", 20_000)
  })
})
