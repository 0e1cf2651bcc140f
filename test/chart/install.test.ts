/**
 * `helm install` of the chart with the field's values, unchanged, on a real control plane (the
 * database Secret created first, as the field's SecretsDistribution does): the operator then runs
 * with the chart's ServiceAccount token and the installed Deployment's configuration and serves a
 * binding end to end; `helm uninstall` leaves the bindings, their Guacamole rows and the CRD.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Effect, Redacted } from "effect"
import { Bindings, Deployments } from "../../src/runtime/resources.ts"
import { controlPlaneAvailable, controlPlaneSkipReason, startControlPlane, type ControlPlane } from "../support/control-plane.ts"
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts"
import { resourceType } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"
import { configFrom, containerEnvironment, helmOn, runOperatorWith } from "./cluster.ts"
import { chartDir, fieldValuesMissingReason, fieldValuesPath, helm, helmMissingReason, RELEASE } from "./helm.ts"

setDefaultTimeout(180_000)

/** The field installs the operator in a namespace of its own; its browsers stay in guacamole (NAMESPACE). */
const RELEASE_NS = "awms-guacamole"
const BROWSERS = "guacamole"
const OPERATOR_USER = `system:serviceaccount:${RELEASE_NS}:${RELEASE}`
const CRD = "analyticsworkspacebindings.xlscsde.nhs.uk"
const crds = resourceType("apiextensions.k8s.io", "customresourcedefinitions", false)

const skip = !helm ? helmMissingReason : !controlPlaneAvailable() ? controlPlaneSkipReason : !fieldValuesPath ? fieldValuesMissingReason : undefined
if (skip) console.warn(`skipped: ${skip}`)

describe.skipIf(skip !== undefined)("helm install with the field's values on kube-apiserver", () => {
  let plane: ControlPlane
  let db: TestDatabase
  let stopOperator: (() => Promise<void>) | undefined
  const get = (rt: any, ns: string | undefined, name: string) =>
    Effect.runPromise(Effect.either(plane.admin.get(rt, ns, name))).then((r) => (r._tag === "Right" ? (r.right as any) : undefined))

  beforeAll(async () => {
    ;[plane, db] = await Promise.all([startControlPlane({ namespaces: [RELEASE_NS, BROWSERS, "jupyterhub"] }), createTestDatabase()])
    // The field's Secret, as its SecretsDistribution makes it: "guacamole", key db-password.
    await Effect.runPromise(
      plane.admin.create(resourceType("", "secrets"), RELEASE_NS, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "guacamole" },
        stringData: { "db-password": Redacted.value(db.settings.password) },
      }),
    )
    await helmOn(plane, ["install", RELEASE, chartDir, "--namespace", RELEASE_NS, "--values", fieldValuesPath!])
  })
  afterAll(async () => {
    await stopOperator?.()
    await plane?.stop()
    await db?.close()
  })

  test("installs the operator's objects where the field has them, and the CRD", async () => {
    const deployment = await get(Deployments, RELEASE_NS, RELEASE)
    expect(deployment.spec.template.spec.containers.map((c: any) => c.name)).toEqual(["controller"])
    expect(deployment.spec.template.spec.serviceAccountName).toBe(RELEASE)
    expect(await get(resourceType("rbac.authorization.k8s.io", "roles"), BROWSERS, RELEASE)).toBeDefined()
    expect(await get(resourceType("", "configmaps"), BROWSERS, "firefox-config")).toBeDefined()
    await waitFor(async () => (await get(crds, undefined, CRD))?.status?.conditions?.some((c: any) => c.type === "Established" && c.status === "True"), {
      timeoutMs: 30_000,
      message: "the chart's CRD to be established",
    })
  })

  test("the operator, with the chart's service account and the installed configuration, serves a binding end to end and is never refused", async () => {
    const deployment = await get(Deployments, RELEASE_NS, RELEASE)
    const env = await containerEnvironment(plane.admin, deployment, deployment.spec.template.spec.containers[0])
    const config = configFrom(env)
    expect(config.workload.namespace).toBe(BROWSERS)
    // The one substitution: the field's Azure server is not reachable here, so the database is this run's
    // (the password still comes from the field's Secret, through the Deployment's secretKeyRef).
    const operatorConfig = {
      ...config,
      db: { ...db.settings, password: config.db.password },
      httpPort: 0,
    }
    const token = await plane.serviceAccountToken(RELEASE_NS, RELEASE)
    const since = Date.now()
    stopOperator = await runOperatorWith(operatorConfig, plane.kubeConfigFor(token))

    await Effect.runPromise(
      plane.admin.create(Bindings, "jupyterhub", {
        apiVersion: "xlscsde.nhs.uk/v1",
        kind: "AnalyticsWorkspaceBinding",
        metadata: { name: "ws1-alice", namespace: "jupyterhub" },
        spec: { workspace: "ws1", username: "alice", expires: "2099-12-31" },
      }),
    )
    const ready = await waitFor(
      async () => {
        const b = await get(Bindings, "jupyterhub", "ws1-alice")
        return b?.status?.statusText === "READY" ? b : undefined
      },
      { timeoutMs: 30_000, message: "the binding to be READY" },
    )
    const browser = await get(Deployments, BROWSERS, ready.status.deploymentName)
    expect(browser.spec.template.spec.containers[0].image).toBe(config.workload.imageName)
    const [entity] = await db.sql`SELECT name FROM guacamole_entity WHERE name = 'ws1@alice' AND type = 'USER'`
    expect(entity?.name).toBe("ws1@alice")
    const refused = plane
      .audit()
      .filter((e) => e.user.username === OPERATOR_USER && Date.parse(e.requestReceivedTimestamp) >= since - 1000)
      .filter((e) => e.responseStatus?.code === 401 || e.responseStatus?.code === 403)
      .map((e) => `${e.responseStatus?.code} ${e.verb} ${e.objectRef?.resource} ${e.objectRef?.namespace ?? ""}`)
    expect(refused).toEqual([])
  })

  test("helm uninstall leaves the bindings, their Guacamole rows, the browsers and the CRD", async () => {
    const binding = await get(Bindings, "jupyterhub", "ws1-alice")
    // The operator's pod goes with the release: stop the one running here first.
    await stopOperator?.()
    stopOperator = undefined
    await helmOn(plane, ["uninstall", RELEASE, "--namespace", RELEASE_NS])
    await waitFor(async () => (await get(Deployments, RELEASE_NS, RELEASE)) === undefined, { message: "the operator's Deployment to be gone" })
    expect(await get(resourceType("rbac.authorization.k8s.io", "clusterroles", false), undefined, RELEASE)).toBeUndefined()
    expect(await get(crds, undefined, CRD)).toBeDefined()
    const after = await get(Bindings, "jupyterhub", "ws1-alice")
    expect(after?.metadata.uid).toBe(binding.metadata.uid)
    expect(after?.status?.statusText).toBe("READY")
    expect(await get(Deployments, BROWSERS, binding.status.deploymentName)).toBeDefined()
    const rows = await db.sql`SELECT name FROM guacamole_entity WHERE name = 'ws1@alice'`
    expect(rows.length).toBe(1)
  })
})
