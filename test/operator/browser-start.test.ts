/**
 * The researcher's wait, measured and shown: a sign-in (spec.replicas 0→1)
 * moves the start histograms and ends in a "browser ready in … s" Event; a
 * stop has its Event; `kubectl get awsb` shows ready pods from the status.
 * And one researcher, one browser: `replicas: 5` runs one pod, `-1` none.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Effect, Either } from "effect"
import { Bindings } from "../../src/runtime/resources.ts"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, patchReplicasAsKeycloak, settled, startHarness, type Harness } from "../support/operator.ts"
import { waitFor } from "../support/wait.ts"

setDefaultTimeout(60_000)

let h: Harness
beforeAll(async () => {
  // The emulator's deployment controller and kubelets bring a scaled Deployment's pods up after 300 ms.
  h = await startHarness({ emulator: { workloads: { enabled: true, delayMs: 300 } } })
})
afterAll(() => h?.close())

const eventsOf = (name: string, reason: string) =>
  h.api.list("", "events", BINDING_NAMESPACE).filter((e: any) => e.involvedObject?.name === name && e.reason === reason)
const deployment = (workspace: string, username: string) =>
  h.api.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentNameFor(workspace, username))

/** A histogram's sample count and sum, read from /metrics as Prometheus would scrape it. */
const histogram = async (name: string) => {
  const body = await (await fetch(`${h.operator().http.url}/metrics`)).text()
  const value = (suffix: string) => Number(new RegExp(`^${name}_${suffix} (\\S+)$`, "m").exec(body)?.[1] ?? Number.NaN)
  return { count: value("count"), sum: value("sum") }
}

describe("the wait from sign-in to a ready browser", () => {
  test("a sign-in moves the start histograms and ends in a 'browser ready in … s' Event; stopping has its Event", async () => {
    await h.createBinding("ws1-alice", { workspace: "ws1", username: "alice", expires: "2099-12-31" })
    await h.waitForStatus("ws1-alice", "READY")
    await settled(h)
    expect(await histogram("awms_browser_start_seconds")).toEqual({ count: 0, sum: 0 })

    await patchReplicasAsKeycloak(h, "ws1-alice", 1)
    const ready = await waitFor(() => eventsOf("ws1-alice", "BrowserReady")[0], { message: "the BrowserReady Event" })
    expect(ready.type).toBe("Normal")
    const seconds = Number(/^browser ready in (\d+(?:\.\d)?) s$/.exec(ready.message)?.[1])
    // The pods took the simulator's 300 ms to come up: the wait includes them.
    expect(seconds).toBeGreaterThanOrEqual(0.3)
    const start = await histogram("awms_browser_start_seconds")
    expect(start.count).toBe(1)
    expect(start.sum).toBeGreaterThanOrEqual(0.3)
    const share = await histogram("awms_browser_start_operator_seconds")
    expect(share.count).toBe(1)
    expect(share.sum).toBeLessThan(start.sum)
    await waitFor(async () => (await h.binding("ws1-alice"))?.status?.readyReplicas === 1, { message: "status.readyReplicas to be 1" })

    await patchReplicasAsKeycloak(h, "ws1-alice", 0)
    const stopped = await waitFor(() => eventsOf("ws1-alice", "BrowserStopped")[0], { message: "the BrowserStopped Event" })
    expect(stopped.message).toBe("browser stopped")
    await waitFor(async () => (await h.binding("ws1-alice"))?.status?.readyReplicas === 0, { message: "status.readyReplicas to be 0" })
    expect((await histogram("awms_browser_start_seconds")).count).toBe(1)
  })

  test("kubectl's columns for a binding: username, ready pods from the status (not the spec), age", async () => {
    const crd = h.api.get("apiextensions.k8s.io", "customresourcedefinitions", undefined, "analyticsworkspacebindings.xlscsde.nhs.uk")
    const columns = crd.spec.versions[0].additionalPrinterColumns.map((c: any) => `${c.name}=${c.jsonPath}`)
    expect(columns).toContain("Username=.spec.username")
    expect(columns).toContain("Ready=.status.readyReplicas")
    expect(columns).toContain("Age=.metadata.creationTimestamp")
    expect(columns.some((c: string) => c.endsWith("=.spec.replicas"))).toBe(false)
  })
})

describe("one researcher, one browser", () => {
  test("replicas: 5 runs one pod, with a Warning Event", async () => {
    await h.createBinding("ws2-bob", { workspace: "ws2", username: "bob", expires: "2099-12-31", replicas: 5 })
    await waitFor(() => deployment("ws2", "bob")?.status?.readyReplicas === 1, { message: "bob's browser to be ready" })
    await settled(h)
    expect(deployment("ws2", "bob").spec.replicas).toBe(1)
    expect(deployment("ws2", "bob").status.replicas).toBe(1)
    const warning = eventsOf("ws2-bob", "ReplicasLimited")[0]
    expect(warning.type).toBe("Warning")
    expect(warning.message).toBe("spec.replicas is 5, but a researcher has one browser: 1 runs")
    expect((await h.binding("ws2-bob"))!.status!.statusText).toBe("READY")
  })

  test("replicas: -1 never reaches the operator: the API server refuses it, and the browser runs on", async () => {
    // A CRD with a scale subresource makes kube-apiserver (and the emulator, which follows it) check
    // that spec.replicas is a non-negative integer, so Keycloak's patch gets a 422 and changes nothing.
    const answer = await Effect.runPromise(
      Effect.either(
        h.kube.patch(Bindings, BINDING_NAMESPACE, "ws2-bob", { type: "json", body: [{ op: "replace", path: "/spec/replicas", value: -1 }] }),
      ),
    )
    const refused = Either.isLeft(answer) ? answer.left : undefined
    expect(refused?._tag).toBe("KubeInvalid")
    expect(refused?.message).toContain("spec.replicas: Invalid value: -1: should be a non-negative integer")
    await settled(h)
    expect((await h.binding("ws2-bob"))!.status!.statusText).toBe("READY")
    expect(deployment("ws2", "bob").spec.replicas).toBe(1)
  })

})
