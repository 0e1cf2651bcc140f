/**
 * deploy/ as a platform engineer applies it: every manifest is accepted by
 * the API server, and the operator's Deployment sets only settings the
 * operator reads.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { KubernetesObjectApi, type KubernetesObject } from "@kubernetes/client-node"
import { ObjectSerializer } from "@kubernetes/client-node/dist/serializer.js"
import YAML from "yaml"
import { settingsTable } from "../src/config.ts"
import { startEmulator, type Emulator } from "@awms/kube-emulator"
import { repoRoot } from "./support/postgres.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const deployDir = join(repoRoot, "deploy")
const manifests = (dir: string): KubernetesObject[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
    .sort()
    .flatMap((f) => YAML.parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJSON() as KubernetesObject))
    .filter((o) => o !== null)

let api: Emulator
beforeAll(async () => {
  api = await startEmulator({ namespaces: ["default", "guacamole", "jupyterhub"] })
})
afterAll(async () => {
  await api?.stop()
})

test("every manifest in deploy/ and deploy/examples/ is accepted by the API server", async () => {
  const objects = KubernetesObjectApi.makeApiClient(api.kubeConfig())
  // client-node encodes a built-in kind from its typed model (a CRD's `default` is `_default` there), so a
  // manifest read as plain YAML is decoded into that model first, as kubectl would send it as it is.
  const typed = (o: KubernetesObject) =>
    o.apiVersion?.includes("xlscsde.nhs.uk") ? o : ObjectSerializer.deserialize(o, `V1${o.kind}`)
  const all = [...manifests(deployDir), ...manifests(join(deployDir, "examples"))]
  expect(all.map((o) => o.kind).sort()).toEqual(
    [
      "AnalyticsWorkspaceBinding",
      "AnalyticsWorkspaceBinding",
      "ClusterRole",
      "ClusterRoleBinding",
      "ConfigMap",
      "CustomResourceDefinition",
      "Deployment",
      "NetworkPolicy",
      "Role",
      "RoleBinding",
      "Service",
      "ServiceAccount",
    ].sort(),
  )
  // The CRD first, as kubectl apply -f deploy/ orders it (files sort crd-… first).
  for (const o of all) {
    const created = await objects.create(typed(o))
    expect(created.metadata?.uid).toBeDefined()
  }
  const alice = api.get("xlscsde.nhs.uk", "analyticsworkspacebindings", "jupyterhub", "ws1-alice")
  expect(alice.spec.replicas).toBe(0)
})

test("the operator's Deployment sets only settings the operator reads", () => {
  const deployment = manifests(deployDir).find((o) => o.kind === "Deployment") as any
  const env: Array<{ name: string }> = deployment.spec.template.spec.containers[0].env
  const known = new Set([...settingsTable.map((s) => s.name), "POD_NAME"])
  expect(env.map((e) => e.name).filter((n) => !known.has(n))).toEqual([])
  for (const required of settingsTable.filter((s) => s.default === "(required)")) {
    expect(env.map((e) => e.name)).toContain(required.name)
  }
})
