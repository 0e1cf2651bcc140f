/**
 * deploy/rbac.yaml is enough: the operator runs against an API server that
 * enforces RBAC, with only the service account's token, and serves a binding
 * through its whole life (provision, scale, delete), leader election included.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import * as k8s from "@kubernetes/client-node"
import { Effect } from "effect"
import YAML from "yaml"
import { Bindings, Deployments } from "../../src/kube/resources.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, patchReplicasAsKeycloak, startHarness, type Harness } from "../support/operator.ts"
import { repoRoot } from "../support/postgres.ts"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const OPERATOR_TOKEN = "operator-service-account-token"
const OPERATOR_USER = "system:serviceaccount:guacamole:awms-guacamole-operator"

let h: Harness
beforeAll(async () => {
  h = await startHarness({
    start: false,
    emulator: { auth: { enforceRbac: true, users: { [OPERATOR_TOKEN]: { username: OPERATOR_USER } } } },
    config: { leaderElection: true },
  })
  const objects = h.kc.makeApiClient(k8s.KubernetesObjectApi)
  const docs = YAML.parseAllDocuments(readFileSync(resolve(repoRoot, "deploy/rbac.yaml"), "utf8")).map((d) => d.toJS())
  for (const doc of docs) await objects.create(doc)
  h.api.requests.clear()
  await h.startOperator({ kubeConfig: h.api.kubeConfigFor(OPERATOR_TOKEN) })
})
afterAll(() => h?.close())

describe("the operator under RBAC with deploy/rbac.yaml", () => {
  test("provisions, scales and deletes a binding, and is never refused", async () => {
    await h.createBinding("alice-ws1", { workspace: "ws1", username: "alice", expires: "2099-12-31" })
    const ready = await h.waitForStatus("alice-ws1", "READY")
    const deploymentName: string = ready.status.deploymentName
    expect((await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentName))?.spec.replicas).toBe(0)

    // As the sign-in flow does: a JSON patch of spec.replicas.
    await patchReplicasAsKeycloak(h, "alice-ws1", 1)
    await waitFor(async () => (await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentName))?.spec.replicas === 1, {
      message: "the browser Deployment to be scaled to 1",
    })

    await Effect.runPromise(h.kube.delete(Bindings, BINDING_NAMESPACE, "alice-ws1"))
    await waitFor(
      async () =>
        (await h.binding("alice-ws1")) === undefined &&
        (await h.get(Deployments.group, Deployments.plural, GUACAMOLE_NAMESPACE, deploymentName)) === undefined &&
        (await h.get("", "services", GUACAMOLE_NAMESPACE, `client-${deploymentName}`)) === undefined,
      { message: "the binding and its browser objects to be gone" },
    )
    const refused = h.api.requests.all().filter((r) => r.status === 401 || r.status === 403)
    expect(refused.map((r) => `${r.status} ${r.verb} ${r.resource}${r.subresource ? "/" + r.subresource : ""} ${r.namespace ?? ""}`)).toEqual([])
    // RBAC was enforced all along: the same token may not read Secrets outside the Guacamole namespace.
    const outside = await h.api
      .kubeConfigFor(OPERATOR_TOKEN)
      .makeApiClient(k8s.CoreV1Api)
      .listNamespacedSecret({ namespace: BINDING_NAMESPACE })
      .then(() => 200, (e) => e.code)
    expect(outside).toBe(403)
    // The operator did hold the lease (leader election works under this RBAC).
    expect((await h.list("coordination.k8s.io", "leases", GUACAMOLE_NAMESPACE)).map((l) => l.spec?.holderIdentity)).toHaveLength(1)
  })
})
