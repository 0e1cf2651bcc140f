/**
 * Browser objects in a namespace of their own, apart from Guacamole's (least
 * privilege: the operator needs no Role in Guacamole's namespace then).
 * NAMESPACE names it; the connection's hostname follows.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { Effect } from "effect"
import { OPERATOR_NAME } from "../../src/config.ts"
import { defaultBrowserPod } from "../../src/domain/browser-pod.ts"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { Deployments, Secrets, Services } from "../../src/runtime/resources.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, settled, startHarness, type Harness } from "../support/operator.ts"
import { connectionsOf, deleteBinding, spec, waitForGone, waitForStatusOf } from "./support.ts"

setDefaultTimeout(60_000)

const BROWSERS = "browsers"
let h: Harness
beforeAll(async () => {
  h = await startHarness({
    emulator: { namespaces: ["default", GUACAMOLE_NAMESPACE, BINDING_NAMESPACE, BROWSERS] },
    config: { workload: { namespace: BROWSERS, imageName: "browser:test", browserUrl: "https://jupyter.test", operatorName: OPERATOR_NAME, pod: defaultBrowserPod } },
    // deploy/rbac.yaml grants the Role in Guacamole's namespace; the chart, not this test, places it elsewhere.
    rbac: false,
  })
})
afterAll(async () => {
  await h?.close()
})

test("with NAMESPACE=browsers the browser's Deployment, Service and Secret live there, Guacamole dials there, and Guacamole's namespace is untouched", async () => {
  await h.createBinding("apart", spec("ws1", "apart"))
  await waitForStatusOf(h, "apart", "READY")
  const d = deploymentNameFor("ws1", "apart")
  for (const [rt, name] of [[Deployments, d], [Services, `client-${d}`], [Secrets, `client-${d}-vnc`]] as const) {
    expect((await Effect.runPromise(h.kube.get(rt, BROWSERS, name))).metadata.namespace).toBe(BROWSERS)
    const inGuacamole = await Effect.runPromise(h.kube.list(rt, { namespace: GUACAMOLE_NAMESPACE }))
    expect(inGuacamole.items).toEqual([])
  }
  const [connection] = await connectionsOf(h.db.sql, "ws1@apart")
  expect(connection!.hostname).toBe(`client-${d}.${BROWSERS}.svc.cluster.local`)
  await deleteBinding(h, "apart")
  await waitForGone(h, "apart")
  await settled(h)
  expect((await Effect.runPromise(h.kube.list(Deployments, { namespace: BROWSERS }))).items).toEqual([])
})
