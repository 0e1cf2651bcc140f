/** Which status fields the operator writes follows the CRD installed in the cluster. */
import { afterEach, expect, setDefaultTimeout, test } from "bun:test"
import { Effect } from "effect"
import { discoverStatusFields } from "../../src/reconciler/status-fields.ts"
import { make } from "../../src/runtime/client.ts"
import { startEmulator, type Emulator } from "@awms/kube-emulator"
import { fixtureCrdPath, loadYaml, projectCrdPath } from "../support/operator.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator | undefined
afterEach(async () => {
  await api?.stop()
  api = undefined
})

const discover = async (crds: unknown[]) => {
  api = await startEmulator({ crds })
  return Effect.runPromise(discoverStatusFields(make(api.kubeConfig())))
}

test("the project's CRD declares message; the four fields every installation has are there", async () => {
  const fields = await discover([loadYaml(projectCrdPath)])
  for (const f of ["statusText", "deploymentName", "replicas", "lastActiveCheck", "message"]) expect(fields.has(f)).toBe(true)
  expect(fields.has("conditions")).toBe(false)
})

test.skipIf(!fixtureCrdPath)("the field's CRD (fixture) does not declare message", async () => {
  const fields = await discover([loadYaml(fixtureCrdPath!)])
  expect(fields.has("statusText")).toBe(true)
  expect(fields.has("message")).toBe(false)
})

test("a status that preserves unknown fields accepts any field", async () => {
  const crd = loadYaml(projectCrdPath) as any
  crd.spec.versions[0].schema.openAPIV3Schema.properties.status = { type: "object", "x-kubernetes-preserve-unknown-fields": true }
  const fields = await discover([crd])
  expect(fields.has("message")).toBe(true)
  expect(fields.has("anything")).toBe(true)
})

test("without the CRD (or the right to read it), only the four fields every installation has", async () => {
  const fields = await discover([])
  expect(fields.has("statusText")).toBe(true)
  expect(fields.has("message")).toBe(false)
})
