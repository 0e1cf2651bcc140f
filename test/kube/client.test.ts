/**
 * KubeClient hands the operator objects in their wire form, whatever typed
 * model client-node decoded them into: list pages continue, CRD schemas keep
 * their `default` and `x-kubernetes-*` fields.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { Duration, Effect, Fiber } from "effect"
import { make, type KubeClientService } from "../../src/runtime/client.ts"
import { CustomResourceDefinitions, Secrets } from "../../src/runtime/resources.ts"
import { startEmulator, type Emulator } from "@awms/kube-emulator"
import { loadYaml, projectCrdPath } from "../support/operator.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator
let kube: KubeClientService
beforeAll(async () => {
  api = await startEmulator({ namespaces: ["default", "guacamole"], crds: [loadYaml(projectCrdPath)] })
  kube = make(api.kubeConfig())
})
afterAll(async () => {
  await api?.stop()
})

test("a paged list of a built-in kind returns every object across its pages", async () => {
  for (let i = 0; i < 5; i++) {
    await Effect.runPromise(
      kube.create(Secrets, "guacamole", { apiVersion: "v1", kind: "Secret", metadata: { name: `s${i}` }, stringData: { k: "v" } }),
    )
  }
  const names: string[] = []
  let token: string | undefined
  let pages = 0
  do {
    const page = await Effect.runPromise(kube.list(Secrets, { namespace: "guacamole", limit: 2, ...(token ? { continue: token } : {}) }))
    names.push(...page.items.map((o) => o.metadata.name))
    token = page.continue
    pages++
  } while (token && pages < 10)
  expect(pages).toBe(3)
  expect(names.sort()).toEqual(["s0", "s1", "s2", "s3", "s4"])
})

test("a CRD read keeps the schema's default and x-kubernetes-* fields under their wire names", async () => {
  const crd = await Effect.runPromise(kube.get(CustomResourceDefinitions, undefined, "analyticsworkspacebindings.xlscsde.nhs.uk"))
  const replicas = crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.replicas
  expect(replicas).toEqual(expect.objectContaining({ type: "integer", default: 0 }))
  expect(JSON.stringify(crd)).not.toContain("_default")
  expect(crd.spec.versions[0].subresources.scale.specReplicasPath).toBe(".spec.replicas")
})

test("a CRD created from its wire form keeps every field (the typed API would drop default and x-kubernetes-*)", async () => {
  const crd = loadYaml(projectCrdPath) as any
  crd.metadata.name = "copies.xlscsde.nhs.uk"
  crd.spec.names = { kind: "Copy", plural: "copies", singular: "copy", listKind: "CopyList" }
  crd.spec.versions[0].schema.openAPIV3Schema.properties.status["x-kubernetes-preserve-unknown-fields"] = true
  await Effect.runPromise(kube.create(CustomResourceDefinitions, undefined, crd))
  const stored = api.get("apiextensions.k8s.io", "customresourcedefinitions", undefined, "copies.xlscsde.nhs.uk")
  const schema = stored.spec.versions[0].schema.openAPIV3Schema
  expect(schema.properties.spec.properties.replicas.default).toBe(0)
  expect(schema.properties.status["x-kubernetes-preserve-unknown-fields"]).toBe(true)
})

test("timestamps are strings, as on the wire", async () => {
  const secret = await Effect.runPromise(kube.get(Secrets, "guacamole", "s0"))
  expect(typeof secret.metadata.creationTimestamp).toBe("string")
})

test("an interrupted request is aborted on the wire, not left running", async () => {
  let signal: AbortSignal | undefined
  const started = Promise.withResolvers<void>()
  const hanging = make(api.kubeConfig(), {
    server: "http://hanging.invalid",
    close: () => {},
    request: (r) => {
      signal = r.signal
      started.resolve()
      // Answers only when aborted, as a server that never answers would.
      return new Promise<Response>((_, reject) => r.signal?.addEventListener("abort", () => reject(new Error("aborted"))))
    },
  })
  const fiber = Effect.runFork(hanging.get(Secrets, "guacamole", "s0"))
  await started.promise
  expect(signal?.aborted).toBe(false)
  await Effect.runPromise(Fiber.interrupt(fiber))
  expect(signal?.aborted).toBe(true)
})

test("a request the API server never answers fails as transient after the request timeout, and is aborted", async () => {
  let signal: AbortSignal | undefined
  const hanging = make(
    api.kubeConfig(),
    {
      server: "http://hanging.invalid",
      close: () => {},
      request: (r) => {
        signal = r.signal
        return new Promise<Response>((_, reject) => r.signal?.addEventListener("abort", () => reject(new Error("aborted"))))
      },
    },
    { requestTimeout: Duration.millis(200) },
  )
  const error = await Effect.runPromise(Effect.flip(hanging.get(Secrets, "guacamole", "s0")))
  expect(error._tag).toBe("KubeTransient")
  expect(error.message).toContain("did not answer")
  expect(signal?.aborted).toBe(true)
})
