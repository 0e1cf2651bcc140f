import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as k8s from "@kubernetes/client-node"
import { startEmulator, type Emulator } from "./index.ts"
import { apiError, http } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator
let core: k8s.CoreV1Api
let apps: k8s.AppsV1Api
beforeAll(async () => {
  api = await startEmulator({ namespaces: ["crud"] })
  core = api.kubeConfig().makeApiClient(k8s.CoreV1Api)
  apps = api.kubeConfig().makeApiClient(k8s.AppsV1Api)
})
afterAll(() => api.stop())

const ns = "crud"
const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)

function deployment(name: string, replicas?: number): k8s.V1Deployment {
  return {
    metadata: { name },
    spec: {
      ...(replicas === undefined ? {} : { replicas }),
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "c", image: "img:1" }] } },
    },
  }
}

describe("create", () => {
  test("answers 201 with uid, creationTimestamp and a decimal resourceVersion", async () => {
    const res = await http(api.url, "POST", `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: "c1" }, data: { a: "1" } })
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c1", namespace: ns }, data: { a: "1" } })
    expect(res.body.metadata.uid).toMatch(/^[0-9a-f-]{36}$/)
    expect(res.body.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    expect(res.body.metadata.resourceVersion).toMatch(/^[1-9]\d*$/)
  })

  test("resourceVersion is one counter across kinds, increasing with every write", async () => {
    const a = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "rv-a" } } })
    const b = await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "rv-b" } } })
    const c = await core.patchNamespacedConfigMap({ namespace: ns, name: "rv-a", body: { data: { x: "y" } } }, merge)
    const rvs = [a, b, c].map((o) => Number(o.metadata!.resourceVersion))
    expect(rvs[1]!).toBeGreaterThan(rvs[0]!)
    expect(rvs[2]!).toBeGreaterThan(rvs[1]!)
  })

  test("a second create of the same name is 409 AlreadyExists", async () => {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "dup" } } })
    const { code, status } = await apiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "dup" } } }))
    expect(code).toBe(409)
    expect(status).toMatchObject({
      kind: "Status",
      status: "Failure",
      reason: "AlreadyExists",
      message: 'configmaps "dup" already exists',
      details: { name: "dup", kind: "configmaps" },
      code: 409,
    })
    const d = await apiError(apps.createNamespacedDeployment({ namespace: ns, body: deployment("dup") }).then(() => apps.createNamespacedDeployment({ namespace: ns, body: deployment("dup") })))
    expect(d.status.message).toBe('deployments.apps "dup" already exists')
    expect(d.status.details).toEqual({ name: "dup", group: "apps", kind: "deployments" })
  })

  test("an invalid name is 422 Invalid with a metadata.name cause", async () => {
    const { code, status } = await apiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "Bad_Name" } } }))
    expect(code).toBe(422)
    expect(status.reason).toBe("Invalid")
    expect(status.message).toStartWith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"')
    expect(status.details).toMatchObject({ name: "Bad_Name", kind: "ConfigMap" })
    expect(status.details.causes[0]).toMatchObject({ reason: "FieldValueInvalid", field: "metadata.name" })
  })

  test("no name and no generateName is 422; generateName appends five characters", async () => {
    const missing = await apiError(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: {} } }))
    expect(missing.code).toBe(422)
    expect(missing.status.details.causes).toEqual([
      { reason: "FieldValueRequired", message: "Required value: name or generateName is required", field: "metadata.name" },
    ])
    const made = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { generateName: "gen-" } } })
    expect(made.metadata!.name).toMatch(/^gen-[a-z0-9]{5}$/)
    expect(made.metadata!.generateName).toBe("gen-")
  })

  test("a namespaced object needs an existing namespace", async () => {
    const { code, status } = await apiError(core.createNamespacedConfigMap({ namespace: "nowhere", body: { metadata: { name: "x" } } }))
    expect(code).toBe(404)
    expect(status).toMatchObject({ reason: "NotFound", message: 'namespaces "nowhere" not found', details: { name: "nowhere", kind: "namespaces" } })
  })

  test("a body namespace different from the URL's is 400 BadRequest", async () => {
    const res = await http(api.url, "POST", `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: "x", namespace: "default" } })
    expect(res.status).toBe(400)
    expect(res.body).toMatchObject({ reason: "BadRequest", message: "the namespace of the provided object does not match the namespace sent on the request" })
  })

  test("namespaces get the kubernetes.io/metadata.name label and phase Active", async () => {
    const n = await core.createNamespace({ body: { metadata: { name: "labelled" } } })
    expect(n.metadata!.labels).toEqual({ "kubernetes.io/metadata.name": "labelled" })
    expect(n.status!.phase).toBe("Active")
    expect(n.spec!.finalizers).toEqual(["kubernetes"])
  })

  test("dryRun=All validates and answers without storing", async () => {
    const res = await http(api.url, "POST", `/api/v1/namespaces/${ns}/configmaps?dryRun=All`, { metadata: { name: "dry" } })
    expect(res.status).toBe(201)
    expect(api.get("", "configmaps", ns, "dry")).toBeUndefined()
  })
})

describe("get and list", () => {
  test("a missing object is 404 NotFound with the qualified resource", async () => {
    const { code, status } = await apiError(apps.readNamespacedDeployment({ namespace: ns, name: "ghost" }))
    expect(code).toBe(404)
    expect(status).toMatchObject({ reason: "NotFound", message: 'deployments.apps "ghost" not found', details: { name: "ghost", group: "apps", kind: "deployments" } })
  })

  test("a list carries kind, apiVersion and the store's resourceVersion", async () => {
    const list = await http(api.url, "GET", `/api/v1/namespaces/${ns}/configmaps`)
    expect(list.body.kind).toBe("ConfigMapList")
    expect(list.body.apiVersion).toBe("v1")
    const newest = Math.max(...list.body.items.map((i: any) => Number(i.metadata.resourceVersion)))
    expect(Number(list.body.metadata.resourceVersion)).toBeGreaterThanOrEqual(newest)
  })
})

describe("update", () => {
  test("PUT with a stale resourceVersion is 409 Conflict with the real message", async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "stale" }, data: { v: "1" } } })
    await core.replaceNamespacedConfigMap({ namespace: ns, name: "stale", body: { ...cm, data: { v: "2" } } })
    const { code, status } = await apiError(core.replaceNamespacedConfigMap({ namespace: ns, name: "stale", body: { ...cm, data: { v: "3" } } }))
    expect(code).toBe(409)
    expect(status).toMatchObject({
      reason: "Conflict",
      message: 'Operation cannot be fulfilled on configmaps "stale": the object has been modified; please apply your changes to the latest version and try again',
      details: { name: "stale", kind: "configmaps" },
    })
  })

  test("PUT without resourceVersion is an unconditional update for built-in kinds", async () => {
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "uncond" }, data: { v: "1" } } })
    const out = await core.replaceNamespacedConfigMap({ namespace: ns, name: "uncond", body: { metadata: { name: "uncond" }, data: { v: "2" } } })
    expect(out.data).toEqual({ v: "2" })
  })

  test("PUT of a missing object is 404; a mismatched name is 400", async () => {
    const missing = await apiError(core.replaceNamespacedConfigMap({ namespace: ns, name: "absent", body: { metadata: { name: "absent" } } }))
    expect(missing.code).toBe(404)
    const res = await http(api.url, "PUT", `/api/v1/namespaces/${ns}/configmaps/uncond`, { metadata: { name: "other" } })
    expect(res.status).toBe(400)
    expect(res.body.message).toBe("the name of the object (other) does not match the name on the URL (uncond)")
  })

  test("a write that changes nothing keeps the resourceVersion and emits no event", async () => {
    const cm = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "noop", labels: { a: "b" } }, data: { k: "v" } } })
    const again = await core.replaceNamespacedConfigMap({ namespace: ns, name: "noop", body: cm })
    const patched = await core.patchNamespacedConfigMap({ namespace: ns, name: "noop", body: { data: { k: "v" } } }, merge)
    expect(again.metadata!.resourceVersion).toBe(cm.metadata!.resourceVersion)
    expect(patched.metadata!.resourceVersion).toBe(cm.metadata!.resourceVersion)
    const watch = await http(api.url, "GET", `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${cm.metadata!.resourceVersion}&timeoutSeconds=1&fieldSelector=metadata.name%3Dnoop`)
    expect(String(watch.body).trim()).toBe("")
  })

  test("uid, creationTimestamp and generation cannot be changed by a client", async () => {
    const d = await apps.createNamespacedDeployment({ namespace: ns, body: deployment("immut", 1) })
    const out = await apps.replaceNamespacedDeployment({
      namespace: ns,
      name: "immut",
      body: { ...d, metadata: { ...d.metadata, generation: 99, creationTimestamp: new Date(0) } },
    })
    expect(out.metadata!.generation).toBe(1)
    expect(out.metadata!.uid).toBe(d.metadata!.uid)
    expect(out.metadata!.creationTimestamp).toEqual(d.metadata!.creationTimestamp)
  })
})

describe("built-in defaulting", () => {
  test("Deployments are defaulted and generation follows spec changes only", async () => {
    const d = await apps.createNamespacedDeployment({ namespace: ns, body: deployment("defaults") })
    expect(d.metadata!.generation).toBe(1)
    expect(d.spec!.replicas).toBe(1)
    expect(d.spec!.revisionHistoryLimit).toBe(10)
    expect(d.spec!.progressDeadlineSeconds).toBe(600)
    expect(d.spec!.strategy?.type).toBe("RollingUpdate")
    expect(d.spec!.template.spec!.restartPolicy).toBe("Always")
    expect(d.spec!.template.spec!.containers[0]!.terminationMessagePath).toBe("/dev/termination-log")
    const labelled = await apps.patchNamespacedDeployment({ namespace: ns, name: "defaults", body: { metadata: { labels: { x: "y" } } } }, merge)
    expect(labelled.metadata!.generation).toBe(1)
    const scaled = await apps.patchNamespacedDeployment({ namespace: ns, name: "defaults", body: { spec: { replicas: 3 } } }, merge)
    expect(scaled.metadata!.generation).toBe(2)
  })

  test("Services get a cluster IP unless headless; ports get protocol and targetPort", async () => {
    const svc = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "svc" }, spec: { selector: { a: "b" }, ports: [{ port: 80 }] } } })
    expect(svc.spec!.type).toBe("ClusterIP")
    expect(svc.spec!.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
    expect(svc.spec!.clusterIPs).toEqual([svc.spec!.clusterIP!])
    expect(svc.spec!.ports![0]).toMatchObject({ port: 80, protocol: "TCP", targetPort: 80 })
    const other = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "svc2" }, spec: { ports: [{ port: 81 }] } } })
    expect(other.spec!.clusterIP).not.toBe(svc.spec!.clusterIP)
    const headless = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: "headless" }, spec: { clusterIP: "None", ports: [{ port: 5900 }] } } })
    expect(headless.spec!.clusterIP).toBe("None")
  })

  test("Secrets default to Opaque and fold stringData into base64 data", async () => {
    const s = await core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: "sec" }, stringData: { password: "hunter2" }, data: { other: "eA==" } } })
    expect(s.type).toBe("Opaque")
    expect(s.stringData).toBeUndefined()
    expect(s.data).toEqual({ other: "eA==", password: Buffer.from("hunter2").toString("base64") })
  })
})

describe("events", () => {
  test("core v1 and events.k8s.io/v1 events are one object under two APIs", async () => {
    const evApi = api.kubeConfig().makeApiClient(k8s.EventsV1Api)
    const now = new Date()
    await evApi.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { name: "ev1" },
        eventTime: now as any,
        reportingController: "example.com/operator",
        reportingInstance: "op-1",
        action: "Reconcile",
        reason: "Ready",
        type: "Normal",
        note: "it worked",
        regarding: { kind: "ConfigMap", name: "c1", namespace: ns, apiVersion: "v1" },
      },
    })
    const asCore = await core.readNamespacedEvent({ namespace: ns, name: "ev1" })
    expect(asCore.message).toBe("it worked")
    expect(asCore.involvedObject).toMatchObject({ kind: "ConfigMap", name: "c1" })
    expect(asCore.reportingComponent).toBe("example.com/operator")
    await core.createNamespacedEvent({
      namespace: ns,
      body: { metadata: { name: "ev2" }, involvedObject: { kind: "ConfigMap", name: "c1", namespace: ns }, reason: "Old", message: "core", type: "Warning" },
    })
    const list = await evApi.listNamespacedEvent({ namespace: ns })
    expect(list.items.map((e) => e.metadata?.name).sort()).toEqual(["ev1", "ev2"])
    expect(list.items.find((e) => e.metadata?.name === "ev2")!.note).toBe("core")
    const selected = await core.listNamespacedEvent({ namespace: ns, fieldSelector: "involvedObject.name=c1,reason=Old" })
    expect(selected.items.map((e) => e.metadata?.name)).toEqual(["ev2"])
  })
})
