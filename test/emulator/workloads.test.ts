import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as k8s from "@kubernetes/client-node"
import { startEmulator, type Emulator } from "./index.ts"
import { waitFor } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator
let apps: k8s.AppsV1Api
const ns = "wl"
const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)

beforeAll(async () => {
  api = await startEmulator({ namespaces: [ns], workloads: { enabled: true, delayMs: 30 } })
  apps = api.kubeConfig().makeApiClient(k8s.AppsV1Api)
})
afterAll(() => api.stop())

function deployment(name: string, replicas: number): k8s.V1Deployment {
  return {
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "c", image: "i" }] } } },
  }
}

const status = (name: string) => api.get("apps", "deployments", ns, name)?.status

describe("workload simulator", () => {
  test("Deployment status follows spec.replicas: observedGeneration, replica counts, Available and Progressing", async () => {
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment("sim", 2) })
    const s = await waitFor(() => (status("sim")?.readyReplicas === 2 ? status("sim") : undefined), { what: "2 ready" })
    expect(s).toMatchObject({ observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 })
    const conds = Object.fromEntries(s.conditions.map((c: any) => [c.type, c]))
    expect(conds.Available).toMatchObject({ status: "True", reason: "MinimumReplicasAvailable" })
    expect(conds.Progressing).toMatchObject({ status: "True", reason: "NewReplicaSetAvailable" })
    await apps.patchNamespacedDeployment({ namespace: ns, name: "sim", body: { spec: { replicas: 0 } } }, merge)
    const zero = await waitFor(() => (status("sim")?.observedGeneration === 2 ? status("sim") : undefined), { what: "observed generation 2" })
    // The controller's replica counts are omitempty: zero counts are absent.
    expect(zero.replicas).toBeUndefined()
    expect(zero.readyReplicas).toBeUndefined()
    expect(zero.availableReplicas).toBeUndefined()
  })

  test("a settled Deployment's status is not rewritten (no event storm)", async () => {
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment("quiet", 1) })
    const settled = await waitFor(() => (status("quiet")?.readyReplicas === 1 ? api.get("apps", "deployments", ns, "quiet") : undefined))
    api.requests.clear()
    // A label change is a new resourceVersion but not a new generation; the simulator must not loop.
    await apps.patchNamespacedDeployment({ namespace: ns, name: "quiet", body: { metadata: { labels: { a: "b" } } } }, merge)
    const after = api.get("apps", "deployments", ns, "quiet")
    expect(Number(after.metadata.resourceVersion)).toBe(Number(settled.metadata.resourceVersion) + 1)
    await apps.patchNamespacedDeployment({ namespace: ns, name: "quiet", body: { spec: { replicas: 3 } } }, merge)
    await waitFor(() => status("quiet")?.readyReplicas === 3, { what: "3 ready" })
    const final = api.get("apps", "deployments", ns, "quiet")
    // label patch, replicas patch, one status write.
    expect(Number(final.metadata.resourceVersion)).toBe(Number(settled.metadata.resourceVersion) + 3)
  })

  test("off by default; can be switched on later and the delay changed", async () => {
    const off = await startEmulator()
    try {
      const a = off.kubeConfig().makeApiClient(k8s.AppsV1Api)
      await a.createNamespacedDeployment({ namespace: "default", body: deployment("idle", 1) })
      off.workloads.setDelay(10)
      off.workloads.setEnabled(true)
      await waitFor(() => off.get("apps", "deployments", "default", "idle")?.status?.readyReplicas === 1, { what: "simulated once enabled" })
      off.workloads.setEnabled(false)
      await a.patchNamespacedDeployment({ namespace: "default", name: "idle", body: { spec: { replicas: 4 } } }, merge)
      // Enabling again picks it up; before that, nothing had changed its status.
      expect(off.get("apps", "deployments", "default", "idle").status.readyReplicas).toBe(1)
      off.workloads.setEnabled(true)
      await waitFor(() => off.get("apps", "deployments", "default", "idle")?.status?.readyReplicas === 4)
    } finally {
      await off.stop()
    }
  })
})
