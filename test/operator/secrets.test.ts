/**
 * Secrets (the database password, VNC passwords) never appear in logs,
 * Events or status — not in normal operation and not in failures.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { Redacted } from "effect"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { Bindings } from "../../src/runtime/resources.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, settled, startHarness, type Harness } from "../support/operator.ts"
import { forEachServer } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

forEachServer("secrets", (server) => {
  let h: Harness
  const logs: string[] = []

  beforeAll(async () => {
    h = await startHarness({ server, logs })
  })
  afterAll(async () => {
    await h?.close()
  })

  test("no password reaches a log line, an Event or a status, even when things fail", async () => {
    // Normal operation.
    await h.createBinding("ws1-alice", { workspace: "ws1", username: "alice", expires: "2099-12-31" })
    await h.waitForStatus("ws1-alice", "READY")
    // A database failure while writing the connection parameters (which hold the VNC password).
    await h.db.sql.unsafe(`
      CREATE FUNCTION fail_params() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'rejected value %', NEW.parameter_value USING ERRCODE = '23514'; END $$;
      CREATE TRIGGER fail_params BEFORE INSERT OR UPDATE ON guacamole_connection_parameter
        FOR EACH ROW EXECUTE FUNCTION fail_params();`)
    await h.createBinding("ws1-bob", { workspace: "ws1", username: "bob", expires: "2099-12-31" })
    await waitFor(async () => (await h.binding("ws1-bob"))?.status?.statusText === "ERROR", { message: "bob's binding to fail" })
    // An API failure on the Secret write.
    // (Injected by the emulator; the real server is not asked to fail.)
    if (server === "emulator") h.api.faults.failNext({ resource: "secrets", verb: "create" }, { code: 500, count: 1 })
    await h.createBinding("ws2-carol", { workspace: "ws2", username: "carol", expires: "2099-12-31" })
    if (server === "emulator") await waitFor(() => logs.some((l) => l.includes("ws2-carol") && l.includes("reconcile failed")))
    await h.db.sql.unsafe(`DROP TRIGGER fail_params ON guacamole_connection_parameter; DROP FUNCTION fail_params();`)
    await h.waitForStatus("ws1-bob", "READY", 20_000)
    await h.waitForStatus("ws2-carol", "READY", 20_000)
    await settled(h)

    const vncPasswords = await Promise.all(["ws1-alice", "ws1-bob", "ws2-carol"].map(async (name) => {
      const b = (await h.binding(name))!
      const s = (await h.get("", "secrets", GUACAMOLE_NAMESPACE, `client-${b.status.deploymentName}-vnc`))
      return Buffer.from(s.data.password, "base64").toString()
    }))
    const dbPassword = Redacted.value(h.config.db.password)
    const secrets = [...vncPasswords, dbPassword].filter((s) => s.length >= 4)
    expect(secrets.length).toBeGreaterThanOrEqual(3)
    expect(logs.length).toBeGreaterThan(10)
    expect(logs.some((l) => l.includes("reconcile failed"))).toBe(true)

    const events = JSON.stringify((await h.list("", "events", BINDING_NAMESPACE)))
    const statuses = JSON.stringify((await h.list(Bindings.group, Bindings.plural, BINDING_NAMESPACE)).map((b: any) => b.status))
    for (const secret of secrets) {
      for (const line of logs) expect(line).not.toContain(secret)
      expect(events).not.toContain(secret)
      expect(statuses).not.toContain(secret)
    }
    expect(deploymentNameFor("ws1", "alice")).toBe((await h.binding("ws1-alice"))!.status.deploymentName)
  })
})
