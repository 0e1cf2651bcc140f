/**
 * The browser pod locked down: no service account token, no service links,
 * no privilege; Pod Security "baseline" by default and "restricted" with the
 * documented settings; resources and scheduling from the settings; and a
 * change of these settings rolls each browser once, not on every reconcile.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { defaultBrowserPod, type BrowserPodSettings } from "../../src/domain/browser-pod.ts"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { GUACAMOLE_NAMESPACE, settled, startHarness, writesDuringResync, type Harness } from "../support/operator.ts"
import { podSecurityViolations } from "../support/pod-security.ts"
import { forEachServer } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"

setDefaultTimeout(60_000)

/** The settings README.md documents for Pod Security "restricted", plus resources and scheduling as a chart would set them. */
const restricted: BrowserPodSettings = {
  ...defaultBrowserPod,
  runAsUser: 1000,
  runAsGroup: 1000,
  fsGroup: 1000,
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  writablePaths: ["/home/researcher", "/tmp"],
  // As config.ts hands them over: canonical quantities.
  resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "1536Mi" } },
  nodeSelector: { agentpool: "browsers" },
  tolerations: [
    { key: "browsers", operator: "Exists", effect: "NoSchedule" },
    { key: "spot", operator: "Equal", value: "true", effect: "NoExecute", tolerationSeconds: 300 },
  ],
}

forEachServer("browser pod hardening", (server) => {
let h: Harness
const deployment = () => h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentNameFor("ws1", "alice"))
const podSpec = async () => (await deployment())!.spec.template.spec

beforeAll(async () => {
  h = await startHarness({ server })
  await h.createBinding("ws1-alice", { workspace: "ws1", username: "alice", expires: "2099-12-31", replicas: 1 })
  await h.waitForStatus("ws1-alice", "READY")
  await settled(h)
})
afterAll(() => h?.close())

describe("the browser pod", () => {
  test("carries no token, no service links, no privilege, and passes Pod Security baseline by default", async () => {
    const spec = await podSpec()
    expect(spec.automountServiceAccountToken).toBe(false)
    expect(spec.enableServiceLinks).toBe(false)
    expect(spec.securityContext).toEqual({ seccompProfile: { type: "RuntimeDefault" } })
    expect(spec.containers[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      readOnlyRootFilesystem: false,
    })
    expect(spec.nodeSelector).toBeUndefined()
    expect(spec.tolerations).toBeUndefined()
    expect(podSecurityViolations(spec, "baseline")).toEqual([])
    // Restricted needs what only the image can say: a non-root user.
    expect(podSecurityViolations(spec, "restricted")).toEqual([`container ${spec.containers[0].name}: runAsNonRoot is not true`])
  })

  test("a converged browser costs no write on resync (nothing the server defaults or drops differs)", async () => {
    expect(await writesDuringResync(h)).toEqual([])
  })

  test("the restricted setting set passes Pod Security restricted, rolls the browser once, then stays quiet", async () => {
    const before = (await deployment())!
    await h.stopOperator()
    h.reconfigure({ workload: { ...h.config.workload, pod: restricted } })
    const mark = h.server.mark()
    await h.startOperator()
    await waitFor(async () => (await podSpec()).securityContext.runAsNonRoot === true, {
      message: "the Deployment to carry the new settings",
    })
    await settled(h)
    const patches = (await h.server.writesSince(mark)).filter((r) => r.resource === "deployments")
    expect(patches.map((r) => r.verb)).toEqual(["patch"])
    expect((await deployment())!.metadata.generation).toBe(before.metadata.generation + 1)

    const spec = await podSpec()
    expect(podSecurityViolations(spec, "restricted")).toEqual([])
    expect(spec.securityContext).toEqual({
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    })
    const container = spec.containers[0]
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true)
    expect(container.resources).toEqual(restricted.resources)
    expect(container.volumeMounts.slice(2)).toEqual([
      { name: "writable-0", mountPath: "/home/researcher" },
      { name: "writable-1", mountPath: "/tmp" },
    ])
    expect(spec.volumes.slice(2)).toEqual([
      { name: "writable-0", emptyDir: {} },
      { name: "writable-1", emptyDir: {} },
    ])
    expect(spec.nodeSelector).toEqual({ agentpool: "browsers" })
    expect(spec.tolerations).toEqual(restricted.tolerations)

    expect(await writesDuringResync(h)).toEqual([])
  })

  test("settings taken away are taken off the pod, once", async () => {
    await h.stopOperator()
    h.reconfigure({ workload: { ...h.config.workload, pod: defaultBrowserPod } })
    const mark = h.server.mark()
    await h.startOperator()
    await waitFor(async () => (await podSpec()).nodeSelector === undefined, { message: "the node selector to go" })
    await settled(h)
    expect((await h.server.writesSince(mark)).filter((r) => r.resource === "deployments").length).toBe(1)
    const spec = await podSpec()
    expect(spec.securityContext).toEqual({ seccompProfile: { type: "RuntimeDefault" } })
    expect(spec.tolerations).toBeUndefined()
    expect(spec.containers[0].resources).toEqual({})
    expect(spec.volumes.length).toBe(2)
    expect(await writesDuringResync(h)).toEqual([])
  })
})
})
