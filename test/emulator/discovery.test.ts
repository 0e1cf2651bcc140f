import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as k8s from "@kubernetes/client-node"
import { startEmulator, type Emulator } from "./index.ts"
import { http, waitFor, widgetCRD } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator
beforeAll(async () => {
  api = await startEmulator()
})
afterAll(() => api.stop())

describe("discovery", () => {
  test("/version answers a 1.32 version.Info", async () => {
    const v = await api.kubeConfig().makeApiClient(k8s.VersionApi).getCode()
    expect(v.gitVersion).toMatch(/^v1\.32\./)
    const raw = await http(api.url, "GET", "/version")
    expect(raw.status).toBe(200)
    expect(raw.body.major).toBe("1")
    expect(raw.body.minor).toBe("32")
    expect(raw.body.gitVersion).toMatch(/^v1\.32\./)
  })

  test("/api lists v1 and /api/v1 the core resources with verbs, kinds, short names and subresources", async () => {
    const root = await http(api.url, "GET", "/api")
    expect(root.body).toMatchObject({ kind: "APIVersions", versions: ["v1"] })
    const core = await api.kubeConfig().makeApiClient(k8s.CoreV1Api).getAPIResources()
    const byName = new Map(core.resources.map((r) => [r.name, r]))
    for (const r of ["namespaces", "configmaps", "secrets", "services", "events"]) expect(byName.has(r)).toBe(true)
    expect(byName.get("configmaps")).toMatchObject({ kind: "ConfigMap", namespaced: true, shortNames: ["cm"] })
    expect(byName.get("namespaces")).toMatchObject({ kind: "Namespace", namespaced: false, shortNames: ["ns"] })
    expect(byName.get("configmaps")!.verbs.sort()).toEqual(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"])
    expect(byName.get("services/status")).toMatchObject({ kind: "Service", verbs: ["get", "patch", "update"] })
  })

  test("/apis lists every built-in group with its preferred version", async () => {
    const groups = await api.kubeConfig().makeApiClient(k8s.ApisApi).getAPIVersions()
    const names = groups.groups.map((g) => g.name)
    for (const g of ["apps", "events.k8s.io", "coordination.k8s.io", "apiextensions.k8s.io", "rbac.authorization.k8s.io", "networking.k8s.io"]) {
      expect(names).toContain(g)
    }
    const apps = groups.groups.find((g) => g.name === "apps")!
    expect(apps.preferredVersion?.groupVersion).toBe("apps/v1")
    const one = await http(api.url, "GET", "/apis/apps")
    expect(one.body).toMatchObject({ kind: "APIGroup", name: "apps", preferredVersion: { groupVersion: "apps/v1", version: "v1" } })
  })

  test("/apis/apps/v1 has deployments with status and an autoscaling/v1 Scale subresource", async () => {
    const list = await api.kubeConfig().makeApiClient(k8s.AppsV1Api).getAPIResources()
    const dep = list.resources.find((r) => r.name === "deployments")!
    expect(dep).toMatchObject({ kind: "Deployment", namespaced: true, shortNames: ["deploy"], categories: ["all"] })
    expect(list.resources.find((r) => r.name === "deployments/status")).toBeDefined()
    expect(list.resources.find((r) => r.name === "deployments/scale")).toMatchObject({ group: "autoscaling", version: "v1", kind: "Scale" })
  })

  test("a created CRD is served with scope, short names, categories and subresources; deleting it stops serving", async () => {
    const ext = api.kubeConfig().makeApiClient(k8s.ApiextensionsV1Api)
    await ext.createCustomResourceDefinition({ body: widgetCRD() })
    const list = await http(api.url, "GET", "/apis/example.com/v1")
    expect(list.status).toBe(200)
    const names = list.body.resources.map((r: any) => r.name)
    expect(names).toEqual(["widgets", "widgets/status", "widgets/scale"])
    expect(list.body.resources[0]).toMatchObject({ kind: "Widget", singularName: "widget", namespaced: true, shortNames: ["wd"], categories: ["gadgets"] })
    const groups = await http(api.url, "GET", "/apis")
    expect(groups.body.groups.map((g: any) => g.name)).toContain("example.com")
    await ext.deleteCustomResourceDefinition({ name: "widgets.example.com" })
    await waitFor(async () => (await http(api.url, "GET", "/apis/example.com/v1")).status === 404, { what: "group to disappear" })
    const gone = await http(api.url, "GET", "/apis/example.com/v1/namespaces/default/widgets")
    expect(gone.status).toBe(404)
    expect(gone.body).toMatchObject({ kind: "Status", reason: "NotFound", code: 404 })
  })

  test("an unknown path is a 404 Status", async () => {
    const res = await http(api.url, "GET", "/apis/nope.example/v1/things")
    expect(res.status).toBe(404)
    expect(res.body).toEqual({
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: "the server could not find the requested resource",
      reason: "NotFound",
      details: {},
      code: 404,
    })
  })

  test("/openapi/v3 indexes every group-version, each document naming its kinds' schemas", async () => {
    const root = await http(api.url, "GET", "/openapi/v3")
    expect(Object.keys(root.body.paths)).toContain("apis/apps/v1")
    const doc = await http(api.url, "GET", root.body.paths["apis/apps/v1"].serverRelativeURL)
    const patch = doc.body.paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].patch
    expect(patch["x-kubernetes-group-version-kind"]).toEqual({ group: "apps", version: "v1", kind: "Deployment" })
    const schema = doc.body.components.schemas["io.k8s.api.apps.v1.Deployment"]
    expect(schema["x-kubernetes-group-version-kind"]).toEqual([{ group: "apps", version: "v1", kind: "Deployment" }])
    expect(schema.properties.metadata.allOf).toEqual([{ $ref: "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" }])
    expect(doc.body.components.schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].properties.labels.additionalProperties).toEqual({ type: "string" })
  })

  test("/openapi/v2 is protobuf for client-go (and JSON when asked for): every kind's definition with its group-version-kind", async () => {
    const json = await http(api.url, "GET", "/openapi/v2")
    expect(json.status).toBe(200)
    expect(json.body.swagger).toBe("2.0")
    expect(json.body.definitions["io.k8s.api.core.v1.ConfigMap"]).toMatchObject({
      type: "object",
      properties: { data: { type: "object", additionalProperties: { type: "string" } }, metadata: { $ref: "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" } },
      "x-kubernetes-group-version-kind": [{ group: "", version: "v1", kind: "ConfigMap" }],
    })
    const pb = await fetch(api.url + "/openapi/v2", { headers: { Accept: "application/com.github.proto-openapi.spec.v2@v1.0+protobuf" } })
    expect(pb.headers.get("content-type")).toContain("protobuf")
    const bytes = new Uint8Array(await pb.arrayBuffer())
    // Document.swagger (field 1) comes first: tag 0x0a, length 3, "2.0".
    expect([...bytes.subarray(0, 5)]).toEqual([0x0a, 3, ...Buffer.from("2.0")])
    expect(Buffer.from(bytes).includes(Buffer.from("io.k8s.api.core.v1.ConfigMap"))).toBe(true)
  })
})
