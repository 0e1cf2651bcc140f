/**
 * A new binding is reconciled once: the operator's own writes (finalizer, Secret, Deployment,
 * Service, status) and the Deployment controller's status echo come back through the watches
 * without queueing it again; a change someone else makes to its Deployment still does. Events are
 * written beside the reconcile, and those on their way when the operator stops are written before it has.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { Effect } from "effect"
import { Deployments } from "../../src/runtime/resources.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, settled, startHarness, writesDuringResync, type Harness } from "../support/operator.ts"
import { forEachServer } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"

setDefaultTimeout(90_000)

forEachServer("reconciles", (server) => {
  let h: Harness
  const logs: string[] = []
  const reconciledLines = (name: string) =>
    logs.filter((l) => l.includes('"message":"reconciled"') && l.includes(`"key":"jupyterhub/${name}"`))
  const reconciles = (name: string) => reconciledLines(name).length

  beforeAll(async () => {
    h = await startHarness({ server, logs })
  })
  afterAll(async () => {
    await h?.close()
  })

  test("a new binding is reconciled once, not again for the echoes of its own writes", async () => {
    await h.createBinding("once", { workspace: "ws1", username: "once", expires: "2099-12-31" })
    await h.waitForStatus("once", "READY")
    await settled(h)
    expect(reconciles("once")).toBe(1)
  })

  test("a reconcile that wrote something is logged at INFO; a resync's look that wrote nothing at DEBUG", async () => {
    const levels = () => reconciledLines("once").map((l) => JSON.parse(l).logLevel as string)
    expect(levels()).toEqual(["INFO"])
    expect(await writesDuringResync(h)).toEqual([])
    expect(levels()).toEqual(["INFO", "DEBUG"])
  })

  test("a hand edit of its Deployment is still seen and put right", async () => {
    const deploymentName = (await h.binding("once"))!.status.deploymentName
    const before = reconciles("once")
    await Effect.runPromise(
      h.kube.patch(Deployments, GUACAMOLE_NAMESPACE, deploymentName, { type: "merge", body: { spec: { replicas: 3 } } }),
    )
    await waitFor(async () => (await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentName))?.spec?.replicas === 0, {
      message: "the Deployment to be scaled back to the binding's replicas",
    })
    await settled(h)
    expect(reconciles("once")).toBeGreaterThan(before)
  })

  test("an Event still on its way when the operator stops is written before it has stopped", async () => {
    // A slow Event write (the emulator holds it); the real server is not slowed.
    if (server === "emulator") h.api.faults.addLatency({ verb: "create", resource: "events" }, 700)
    await h.createBinding("late", { workspace: "ws1", username: "late", expires: "2099-12-31" })
    await h.waitForStatus("late", "READY")
    // The reconcile is over (its Events handed to the writer), the Event not yet written.
    await waitFor(() => reconciles("late") === 1, { message: "the reconcile of late to finish" })
    await h.stopOperator()
    const provisioned = (await h.list("", "events", BINDING_NAMESPACE)).filter(
      (e: any) => e.involvedObject?.name === "late" && e.reason === "Provisioned",
    )
    expect(provisioned).toHaveLength(1)
  })
})
