import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as k8s from "@kubernetes/client-node"
import { startEmulator, type Emulator } from "./index.ts"
import { apiError, http, widget, widgetCRD } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator
const ns = "sub"
const W = { group: "example.com", version: "v1", namespace: ns, plural: "widgets" }
const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)
const strategic = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch)
let co: k8s.CustomObjectsApi
let apps: k8s.AppsV1Api
let core: k8s.CoreV1Api

beforeAll(async () => {
  api = await startEmulator({ namespaces: [ns], crds: [widgetCRD()] })
  co = api.kubeConfig().makeApiClient(k8s.CustomObjectsApi)
  apps = api.kubeConfig().makeApiClient(k8s.AppsV1Api)
  core = api.kubeConfig().makeApiClient(k8s.CoreV1Api)
})
afterAll(() => api.stop())

const path = (name: string) => `/apis/example.com/v1/namespaces/${ns}/widgets/${name}`

describe("patch", () => {
  test("merge patch (RFC 7386): null removes, objects merge, arrays replace", async () => {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "m", labels: { a: "1", b: "2" } }, data: { x: "1", y: "2" } } })
    const out = await core.patchNamespacedConfigMap({ namespace: ns, name: "m", body: { metadata: { labels: { a: null, c: "3" } }, data: { y: "two" } } }, merge)
    expect(out.metadata!.labels).toEqual({ b: "2", c: "3" })
    expect(out.data).toEqual({ x: "1", y: "two" })
  })

  test("JSON patch (RFC 6902) with a failing test op is 422 and changes nothing", async () => {
    await co.createNamespacedCustomObject({ ...W, body: widget("jp") })
    const ok = (await co.patchNamespacedCustomObject({
      ...W,
      name: "jp",
      body: [
        { op: "test", path: "/spec/size", value: "small" },
        { op: "replace", path: "/spec/size", value: "large" },
      ],
    })) as any
    expect(ok.spec.size).toBe("large")
    const failed = await http(api.url, "PATCH", path("jp"), [{ op: "test", path: "/spec/size", value: "small" }, { op: "remove", path: "/spec" }], {
      "Content-Type": "application/json-patch+json",
    })
    expect(failed.status).toBe(422)
    expect(failed.body.kind).toBe("Status")
    expect(api.get("example.com", "widgets", ns, "jp").spec.size).toBe("large")
  })

  test("a patch carrying a stale metadata.resourceVersion is 409; without one it never conflicts", async () => {
    const w = (await co.createNamespacedCustomObject({ ...W, body: widget("prv") })) as any
    await co.patchNamespacedCustomObject({ ...W, name: "prv", body: { spec: { colour: "red" } } }, merge)
    const stale = await apiError(
      co.patchNamespacedCustomObject({ ...W, name: "prv", body: { metadata: { resourceVersion: w.metadata.resourceVersion }, spec: { colour: "green" } } }, merge),
    )
    expect(stale.code).toBe(409)
    const fine = (await co.patchNamespacedCustomObject({ ...W, name: "prv", body: { spec: { colour: "green" } } }, merge)) as any
    expect(fine.spec.colour).toBe("green")
  })

  test("strategic merge patch merges containers by name on built-ins and is 415 on custom resources", async () => {
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "smp" },
        spec: {
          selector: { matchLabels: { app: "smp" } },
          template: { metadata: { labels: { app: "smp" } }, spec: { containers: [{ name: "a", image: "a:1" }, { name: "b", image: "b:1" }] } },
        },
      },
    })
    const out = await apps.patchNamespacedDeployment(
      { namespace: ns, name: "smp", body: { spec: { template: { spec: { containers: [{ name: "b", image: "b:2" }] } } } } },
      strategic,
    )
    expect(out.spec!.template.spec!.containers.map((c) => `${c.name}=${c.image}`)).toEqual(["a=a:1", "b=b:2"])
    const cr = await http(api.url, "PATCH", path("jp"), { spec: { size: "small" } }, { "Content-Type": "application/strategic-merge-patch+json" })
    expect(cr.status).toBe(415)
    expect(cr.body.reason).toBe("UnsupportedMediaType")
  })

  test("apply patches are refused with 415", async () => {
    const res = await http(api.url, "PATCH", `/api/v1/namespaces/${ns}/configmaps/m?fieldManager=t`, "{}", { "Content-Type": "application/apply-patch+yaml" })
    expect(res.status).toBe(415)
    expect(res.body).toMatchObject({ kind: "Status", reason: "UnsupportedMediaType", code: 415 })
  })

  test("patching a missing object is 404", async () => {
    const res = await http(api.url, "PATCH", path("nope"), { spec: {} }, { "Content-Type": "application/merge-patch+json" })
    expect(res.status).toBe(404)
    expect(res.body.message).toBe('widgets.example.com "nope" not found')
  })
})

describe("status subresource of built-ins", () => {
  test("Deployment status is written only through /status", async () => {
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: { metadata: { name: "ds" }, spec: { selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "i" }] } } } },
    })
    const main = await apps.patchNamespacedDeployment({ namespace: ns, name: "ds", body: { status: { replicas: 5 } } }, merge)
    expect(main.status?.replicas).toBeUndefined()
    const st = await apps.patchNamespacedDeploymentStatus({ namespace: ns, name: "ds", body: { status: { replicas: 5 }, spec: { replicas: 9 } } }, merge)
    expect(st.status?.replicas).toBe(5)
    expect(st.spec?.replicas).toBe(1)
  })
})

describe("scale subresource", () => {
  test("custom resources map Scale through specReplicasPath, statusReplicasPath and labelSelectorPath", async () => {
    await co.createNamespacedCustomObject({ ...W, body: widget("sc", { size: "small", replicas: 2 }) })
    await co.patchNamespacedCustomObjectStatus({ ...W, name: "sc", body: { status: { replicas: 2, selector: "app=sc" } } }, merge)
    const scale = (await co.getNamespacedCustomObjectScale({ ...W, name: "sc" })) as any
    expect(scale).toMatchObject({
      kind: "Scale",
      apiVersion: "autoscaling/v1",
      metadata: { name: "sc", namespace: ns },
      spec: { replicas: 2 },
      status: { replicas: 2, selector: "app=sc" },
    })
    const patched = (await co.patchNamespacedCustomObjectScale({ ...W, name: "sc", body: { spec: { replicas: 4 } } }, merge)) as any
    expect(patched.spec.replicas).toBe(4)
    const w = api.get("example.com", "widgets", ns, "sc")
    expect(w.spec.replicas).toBe(4)
    expect(w.metadata.generation).toBe(2)
    const put = (await co.replaceNamespacedCustomObjectScale({
      ...W,
      name: "sc",
      body: { apiVersion: "autoscaling/v1", kind: "Scale", metadata: { name: "sc", namespace: ns }, spec: { replicas: 0 } },
    })) as any
    // Scale's spec.replicas is omitempty: the real server answers 0 replicas as an empty spec.
    expect(put.spec).toEqual({})
    expect(api.get("example.com", "widgets", ns, "sc").spec.replicas).toBe(0)
  })

  test("Deployment scale reads spec.replicas, status.replicas and the selector", async () => {
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: "dsc" },
        spec: { replicas: 2, selector: { matchLabels: { app: "dsc" } }, template: { metadata: { labels: { app: "dsc" } }, spec: { containers: [{ name: "c", image: "i" }] } } },
      },
    })
    const scale = await apps.readNamespacedDeploymentScale({ namespace: ns, name: "dsc" })
    expect(scale.spec?.replicas).toBe(2)
    expect(scale.status?.replicas).toBe(0)
    expect(scale.status?.selector).toBe("app=dsc")
    const out = await apps.patchNamespacedDeploymentScale({ namespace: ns, name: "dsc", body: { spec: { replicas: 3 } } }, merge)
    expect(out.spec?.replicas).toBe(3)
    expect((await apps.readNamespacedDeployment({ namespace: ns, name: "dsc" })).spec?.replicas).toBe(3)
  })

  test("a negative replica count is 422", async () => {
    const res = await http(api.url, "PATCH", path("sc") + "/scale", { spec: { replicas: -1 } }, { "Content-Type": "application/merge-patch+json" })
    expect(res.status).toBe(422)
    expect(res.body.details.causes[0].field).toBe("spec.replicas")
  })
})
