/**
 * What a change costs: a converged binding costs nothing, Keycloak's replicas
 * patch costs one Deployment patch, an operator restart over converged
 * bindings writes nothing to the API server or the database.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Effect } from "effect"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { requiredTables } from "../../src/guacamole/db.ts"
import { Bindings } from "../../src/runtime/resources.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, patchReplicasAsKeycloak, settled, startHarness, writesDuringResync, type Harness } from "../support/operator.ts"
import { forEachServer } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

forEachServer("changes", (server) => {
  let h: Harness

  /** Row versions of every Guacamole table: any SQL write changes some xmin, adds or removes a row. */
  const rowVersions = async () => {
    const out: Record<string, string[]> = {}
    for (const t of requiredTables) {
      const rows = await h.db.sql.unsafe(`SELECT xmin::text AS v, ctid::text AS c FROM ${t} ORDER BY ctid`)
      out[t] = rows.map((r: any) => `${r.c}@${r.v}`)
    }
    return out
  }

  beforeAll(async () => {
    h = await startHarness({ server, emulator: { workloads: { enabled: false, delayMs: 50 } } })
    await h.createBinding("ws1-alice", { workspace: "ws1", username: "alice", expires: "2099-12-31" })
    await h.createBinding("ws1-bob", { workspace: "ws1", username: "bob", expires: "2099-12-31" })
    await h.waitForStatus("ws1-alice", "READY")
    await h.waitForStatus("ws1-bob", "READY")
    await settled(h)
  })
  afterAll(async () => {
    await h?.close()
  })

  describe("the cost of a change", () => {
    test("Keycloak's replicas patch costs exactly one write, the Deployment patch, and no SQL write", async () => {
      const before = await rowVersions()
      const replicasBefore = (await h.binding("ws1-alice"))!.status.replicas
      const mark = h.server.mark()
      await patchReplicasAsKeycloak(h, "ws1-alice", 1)
      const name = deploymentNameFor("ws1", "alice")
      await waitFor(async () => (await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, name))?.spec.replicas === 1, {
        message: "the Deployment to be scaled to 1",
      })
      await settled(h)
      const operatorWrites = await h.server.writesSince(mark)
      // On the emulator (simulator off) the status does not move: one Deployment patch, nothing else.
      // On a real cluster the pod then comes up: the binding's status follows it (replicas, then ready
      // replicas: one or two patches) and an Event says the browser is ready.
      const after = (await h.binding("ws1-alice"))!.status
      const statusChanged = after.replicas !== replicasBefore
      const browserReady = (await h.list("", "events", BINDING_NAMESPACE)).some(
        (e: any) => e.involvedObject?.name === "ws1-alice" && e.reason === "BrowserReady",
      )
      const count = (what: string) =>
        operatorWrites.filter((r) => `${r.verb} ${r.resource}${r.subresource ? `/${r.subresource}` : ""}` === what).length
      expect(count("patch deployments")).toBe(1)
      expect(count("create events")).toBe(browserReady ? 1 : 0)
      const statusPatches = count("patch analyticsworkspacebindings/status")
      if (statusChanged) expect([1, 2]).toContain(statusPatches)
      else expect(statusPatches).toBe(0)
      expect(operatorWrites.length).toBe(1 + (browserReady ? 1 : 0) + statusPatches)
      expect(browserReady).toBe(server === "real")
      expect(await rowVersions()).toEqual(before)
    })

    test("the binding's status.replicas follows the browser pod coming up", async () => {
      // The browser pod comes up: the emulator's simulator, or the real controllers with KWOK's node.
      await h.server.setWorkloads(true)
      await Effect.runPromise(
        h.kube.patch(Bindings, BINDING_NAMESPACE, "ws1-bob", { type: "merge", body: { spec: { replicas: 1 } } }),
      )
      const b = await waitFor(async () => {
        const b = (await h.binding("ws1-bob"))
        return b?.status?.replicas === 1 ? b : undefined
      })
      expect(b.status.statusText).toBe("READY")
      await settled(h)
    })

    test("a converged binding costs no write when it is reconciled again", async () => {
      const before = await rowVersions()
      expect(await writesDuringResync(h)).toEqual([])
      expect(await rowVersions()).toEqual(before)
    })

    // The real server's audit log over a steady minute: watches resume, bookmarks arrive, nothing is written.
    if (server === "real") {
      test("over a steady minute the operator writes nothing (kube-apiserver's audit log)", async () => {
        // Steady: every browser pod the Deployments ask for is up (a pod becoming ready is a change the
        // binding's status reports), and the operator has caught up with that.
        await waitFor(
          async () =>
            (await h.list("apps", "deployments", GUACAMOLE_NAMESPACE)).every(
              (d) => (d.status?.readyReplicas ?? 0) === (d.spec?.replicas ?? 0),
            ),
          { timeoutMs: 30_000, message: "the browser pods to be up" },
        )
        await settled(h)
        const mark = h.server.mark()
        const minute = Date.now() + 60_000
        await waitFor(() => Date.now() >= minute, { timeoutMs: 70_000, intervalMs: 1000, message: "a minute to pass" })
        expect(await h.server.writesSince(mark)).toEqual([])
        // It was not idle: it kept its watches open all along (the audit log has its requests).
        expect((await h.server.requestsSince({ at: 0 })).some((r) => r.verb === "watch" || r.verb === "list")).toBe(true)
      }, 90_000)
    }

    test("an operator restart over converged bindings writes nothing", async () => {
      await settled(h)
      const before = await rowVersions()
      await h.stopOperator()
      const mark = h.server.mark()
      await h.startOperator()
      await settled(h)
      expect(await h.server.writesSince(mark)).toEqual([])
      expect(await rowVersions()).toEqual(before)
    })
  })
})
