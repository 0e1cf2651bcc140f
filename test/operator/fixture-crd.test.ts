/**
 * Against the binding CRD as installations have it in the field (the shared
 * fixture), which declares only statusText, deploymentName, lastActiveCheck
 * and replicas: the operator's status must survive the API server's pruning
 * and must not loop rewriting a pruned field.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { fixtureCrdPath, patchReplicasAsKeycloak, settled, startHarness, writesDuringResync, type Harness } from "../support/operator.ts"
import { forEachServer } from "../support/servers.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const describeWithFixture = fixtureCrdPath ? describe : describe.skip
if (!fixtureCrdPath) console.warn("skipped: the fixture CRD tests need ../shared/fixtures/crds (absent)")

forEachServer("fixture-crd", (server) => {
  let h: Harness

  describeWithFixture("with the field's binding CRD", () => {
    beforeAll(async () => {
      h = await startHarness({ server, crd: "fixture" })
    })
    afterAll(async () => {
      await h?.close()
    })

    test("a binding ends READY, its status holds only declared fields, and the operator goes quiet", async () => {
      await h.createBinding("ws1-alice", { workspace: "ws1", username: "alice", expires: "2099-12-31" })
      const b = await h.waitForStatus("ws1-alice", "READY")
      expect(Object.keys(b.status).sort()).toEqual(["deploymentName", "replicas", "statusText"])
      expect(await writesDuringResync(h)).toEqual([])
    })

    test("an ERROR is written without the undeclared message field, once", async () => {
      await h.createBinding("claims-only", {
        workspace: "ws1",
        claims: [{ name: "group", operator: "EQUALS", value: "x" }],
        expires: "2099-12-31",
      })
      const b = await h.waitForStatus("claims-only", "ERROR")
      expect(b.status.message).toBeUndefined()
      expect(await writesDuringResync(h)).toEqual([])
    })

    test("Keycloak's replicas patch scales the browser", async () => {
      await patchReplicasAsKeycloak(h, "ws1-alice", 1)
      await settled(h)
      const deploymentName = (await h.binding("ws1-alice"))!.status.deploymentName
      const d = (await h.list("apps", "deployments", "guacamole")).find((o: any) => o.metadata.name === deploymentName)
      expect(d.spec.replicas).toBe(1)
    })
  })
})
