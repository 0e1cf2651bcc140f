/**
 * Idle browsers stopped: Guacamole's connection history says which browsers
 * are in use (rows written here as Guacamole writes them); a browser past the
 * idle timeout with no open connection has its binding scaled to 0, a
 * connected one runs on, the grace period after a start and the maximum age
 * hold. The operator's wall clock is the test's (the checks themselves run
 * every 100 ms of real time), so "30 minutes later" is a clock setting, not a wait.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Duration } from "effect"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { settableClock } from "../support/clock.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, patchReplicasAsKeycloak, startHarness, type Harness } from "../support/operator.ts"
import { waitFor } from "../support/wait.ts"

setDefaultTimeout(60_000)

const T0 = new Date("2026-12-01T12:00:00Z").getTime()
const MIN = 60_000
const clock = settableClock(new Date(T0))
const at = (minutes: number) => clock.set(new Date(T0 + minutes * MIN))

let h: Harness
beforeAll(async () => {
  h = await startHarness({
    clock,
    emulator: { workloads: { enabled: true, delayMs: 20 } },
    config: {
      idle: {
        timeout: Duration.minutes(30),
        checkInterval: Duration.millis(100),
        gracePeriod: Duration.minutes(10),
        maxAge: Duration.hours(12),
      },
    },
  })
})
afterAll(() => h?.close())

const deployment = (username: string) => h.api.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentNameFor("ws1", username))
const eventsOf = (name: string, reason: string) =>
  h.api.list("", "events", BINDING_NAMESPACE).filter((e: any) => e.involvedObject?.name === name && e.reason === reason)

const startBrowser = async (username: string) => {
  await h.createBinding(`ws1-${username}`, { workspace: "ws1", username, expires: "2099-12-31", replicas: 1 })
  await waitFor(() => deployment(username)?.status?.readyReplicas === 1, { message: `${username}'s browser to be ready` })
}

/** What Guacamole inserts when a user opens a connection (ConnectionRecordMapper's insert); returns the record id. */
const connect = async (username: string, startMinutes: number): Promise<number> => {
  const entity = `ws1@${username}`
  const [row] = await h.db.sql<{ history_id: number }[]>`
    INSERT INTO guacamole_connection_history
      (connection_id, connection_name, remote_host, sharing_profile_id, sharing_profile_name, user_id, username, start_date, end_date)
    VALUES (
      (SELECT c.connection_id FROM guacamole_connection c
         JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id
        WHERE g.connection_group_name = 'ws1' AND c.connection_name = ${username}),
      ${username}, '10.1.2.3', NULL, NULL,
      (SELECT u.user_id FROM guacamole_user u JOIN guacamole_entity e ON u.entity_id = e.entity_id
        WHERE e.name = ${entity} AND e.type = 'USER'),
      ${entity}, ${new Date(T0 + startMinutes * MIN)}, NULL)
    RETURNING history_id`
  return row!.history_id
}

/** What Guacamole updates when that connection closes. */
const disconnect = (historyId: number, endMinutes: number) =>
  h.db.sql`UPDATE guacamole_connection_history SET end_date = ${new Date(T0 + endMinutes * MIN)} WHERE history_id = ${historyId}`

/** Waits until two more checks have run, so that one ran wholly after the clock was set. */
const twoChecks = async () => {
  const count = async () => {
    const body = await (await fetch(`${h.operator().http.url}/metrics`)).text()
    return Number(/^awms_idle_check_seconds_count (\S+)$/m.exec(body)?.[1] ?? 0)
  }
  const start = await count()
  await waitFor(async () => (await count()) >= start + 2, { message: "two idle checks" })
}

const wanted = async (name: string) => (await h.binding(name))?.spec?.replicas

describe("the idle culler", () => {
  let aliceConnection = 0

  test("stops a browser with no active connection past grace period + timeout, and leaves a connected one running", async () => {
    at(0)
    await startBrowser("alice")
    await startBrowser("bob")
    aliceConnection = await connect("alice", 1)
    // Bob connected once and left: a closed row is not use.
    await disconnect(await connect("bob", 1), 2)

    at(39) // bob: 10 minutes of grace, then 29 idle
    await twoChecks()
    expect(await wanted("ws1-bob")).toBe(1)
    expect((await h.binding("ws1-alice"))?.status?.lastActiveCheck).toBe("2026-12-01T12:39:00Z")

    at(41)
    await waitFor(async () => (await wanted("ws1-bob")) === 0, { message: "bob's binding to be scaled to 0" })
    // The Event follows the scale-down.
    const idle = await waitFor(() => eventsOf("ws1-bob", "BrowserIdle").length > 0 && eventsOf("ws1-bob", "BrowserIdle"))
    expect(idle.map((e: any) => e.message)).toEqual(["browser stopped: no Guacamole connection to it for 31m (idle timeout 30m)"])
    await waitFor(() => (deployment("bob")?.status?.replicas ?? 0) === 0, { message: "bob's pod to be gone" })
    await waitFor(() => eventsOf("ws1-bob", "BrowserStopped").length === 1, { message: "bob's BrowserStopped Event" })

    await twoChecks()
    expect(await wanted("ws1-alice")).toBe(1)
    expect(deployment("alice").status.readyReplicas).toBe(1)
    expect((await h.binding("ws1-alice"))?.status?.lastActiveCheck).toBe("2026-12-01T12:41:00Z")
  })

  test("once its connection closes, the timeout counts from the last check that found it in use", async () => {
    await disconnect(aliceConnection, 42)
    at(70) // last seen in use at 41: 29 minutes idle
    await twoChecks()
    expect(await wanted("ws1-alice")).toBe(1)
    at(72)
    await waitFor(async () => (await wanted("ws1-alice")) === 0, { message: "alice's binding to be scaled to 0" })
    await waitFor(() => eventsOf("ws1-alice", "BrowserIdle").length === 1, { message: "alice's BrowserIdle Event" })
  })

  test("a new sign-in starts the browser again, with a fresh grace period", async () => {
    await patchReplicasAsKeycloak(h, "ws1-bob", 1)
    await waitFor(() => deployment("bob")?.status?.readyReplicas === 1, { message: "bob's browser to run again" })
    at(100) // started at 72: 28 minutes, within grace + timeout
    await twoChecks()
    expect(await wanted("ws1-bob")).toBe(1)
  })

  test("the maximum age stops a browser even while it is in use, with its own Event", async () => {
    await connect("bob", 101)
    at(72 + 12 * 60 - 1)
    await twoChecks()
    expect(await wanted("ws1-bob")).toBe(1)
    at(72 + 12 * 60)
    await waitFor(async () => (await wanted("ws1-bob")) === 0, { message: "bob's binding to be scaled to 0 at its maximum age" })
    const maxAge = await waitFor(() => eventsOf("ws1-bob", "BrowserMaxAge").length > 0 && eventsOf("ws1-bob", "BrowserMaxAge"))
    expect(maxAge.map((e: any) => e.message)).toEqual([
      "browser stopped: it had run for 12h, the maximum age 12h",
    ])
  })
})
