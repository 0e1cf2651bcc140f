/**
 * deploy/rbac.yaml is enough, and no more than enough: the operator runs with
 * only its service account's token against an API server that enforces RBAC,
 * serves a binding through its whole life (provision, scale, delete) with
 * leader election and is never refused; with one rule taken away, it says so.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { Effect, Either } from "effect"
import { checkPermissions } from "../../src/check.ts"
import { KubeClient, make as makeKubeClient } from "../../src/runtime/client.ts"
import { Bindings, Deployments, Secrets } from "../../src/runtime/resources.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, patchReplicasAsKeycloak, startHarness, type Harness } from "../support/operator.ts"
import { forEachServer, resourceType } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(90_000)

forEachServer("rbac", (server) => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({ server, start: false, config: { leaderElection: true } })
  })
  afterAll(() => h?.close())

  test("the operator provisions, scales and deletes a binding with deploy/rbac.yaml, and is never refused", async () => {
    const mark = h.server.mark()
    await h.startOperator()
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
      { timeoutMs: 30_000, message: "the binding and its browser objects to be gone" },
    )
    const requests = await h.server.requestsSince(mark)
    expect(requests.length).toBeGreaterThan(5)
    const refused = requests.filter((r) => r.status === 401 || r.status === 403)
    expect(refused.map((r) => `${r.status} ${r.verb} ${r.resource}${r.subresource ? "/" + r.subresource : ""} ${r.namespace ?? ""}`)).toEqual([])
    // RBAC was enforced all along: the same credentials may not read Secrets outside the Guacamole namespace.
    const operator = makeKubeClient(await h.server.operatorKubeConfig())
    const outside = await Effect.runPromise(Effect.either(operator.list(Secrets, { namespace: BINDING_NAMESPACE })))
    expect(Either.isLeft(outside) && outside.left._tag).toBe("KubeForbidden")
    // The operator did hold the lease (leader election works under this RBAC).
    expect((await h.list("coordination.k8s.io", "leases", GUACAMOLE_NAMESPACE)).map((l) => l.spec?.holderIdentity)).toHaveLength(1)
  })

  test("with one rule taken away, check names exactly the missing permission", async () => {
    await h.stopOperator()
    // The Role in the Guacamole namespace loses "delete" on Secrets.
    const roles = resourceType("rbac.authorization.k8s.io", "roles")
    const role = (await h.list("rbac.authorization.k8s.io", "roles", GUACAMOLE_NAMESPACE)).find((r) =>
      (r.rules ?? []).some((rule: any) => (rule.resources ?? []).includes("secrets")),
    )
    expect(role).toBeDefined()
    const rules = role.rules.flatMap((rule: any) => {
      if (!(rule.resources ?? []).includes("secrets")) return [rule]
      const others = rule.resources.filter((r: string) => r !== "secrets")
      return [
        ...(others.length > 0 ? [{ ...rule, resources: others }] : []),
        { ...rule, resources: ["secrets"], verbs: rule.verbs.filter((v: string) => v !== "delete") },
      ]
    })
    await Effect.runPromise(h.kube.patch(roles, GUACAMOLE_NAMESPACE, role.metadata.name, { type: "merge", body: { rules } }))
    const operator = makeKubeClient(await h.server.operatorKubeConfig())
    const result = await waitFor(
      async () => {
        const r = await Effect.runPromise(checkPermissions(h.config).pipe(Effect.provideService(KubeClient, operator)))
        return r.status === "fail" ? r : undefined
      },
      { message: "check to see the missing permission" },
    )
    expect(result.items).toEqual(["delete secrets in namespace guacamole"])
    expect(result.detail).toContain("1 of")
  })
})
