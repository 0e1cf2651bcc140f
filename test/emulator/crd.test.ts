import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import * as k8s from "@kubernetes/client-node"
import { startEmulator, type Emulator } from "./index.ts"
import { apiError, fixtureCRD, HAVE_FIXTURES, http, waitFor, widget, widgetCRD } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator
let co: k8s.CustomObjectsApi
const ns = "crs"
const W = { group: "example.com", version: "v1", namespace: ns, plural: "widgets" }
const merge = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)

beforeAll(async () => {
  api = await startEmulator({ namespaces: [ns], crds: [widgetCRD()] })
  co = api.kubeConfig().makeApiClient(k8s.CustomObjectsApi)
})
afterAll(() => api.stop())

describe("CustomResourceDefinitions", () => {
  test("an installed CRD is Established with its accepted names", async () => {
    const crd = await api.kubeConfig().makeApiClient(k8s.ApiextensionsV1Api).readCustomResourceDefinition({ name: "widgets.example.com" })
    const conds = Object.fromEntries((crd.status?.conditions ?? []).map((c) => [c.type, c.status]))
    expect(conds).toMatchObject({ Established: "True", NamesAccepted: "True" })
    expect(crd.status?.acceptedNames).toMatchObject({ plural: "widgets", singular: "widget", kind: "Widget", listKind: "WidgetList", shortNames: ["wd"] })
    expect(crd.status?.storedVersions).toEqual(["v1"])
    expect(crd.metadata?.generation).toBe(1)
  })

  test("a CRD whose name is not plural.group is 422", async () => {
    const bad = widgetCRD()
    bad.metadata.name = "gadgets.example.com"
    const { code, status } = await apiError(api.kubeConfig().makeApiClient(k8s.ApiextensionsV1Api).createCustomResourceDefinition({ body: bad }))
    expect(code).toBe(422)
    expect(status.details.causes).toContainEqual({
      reason: "FieldValueInvalid",
      message: 'Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group',
      field: "metadata.name",
    })
  })
})

describe("custom resources", () => {
  test("undeclared fields are pruned, defaults applied, preserved fields kept", async () => {
    const w = (await co.createNamespacedCustomObject({
      ...W,
      body: widget("pruned", { size: "small", unknown: 1, free: { anything: { deep: true } } }, { labels: { a: "b" } }),
    })) as any
    expect(w.spec).toEqual({ size: "small", replicas: 1, colour: "blue", free: { anything: { deep: true } } })
    expect(w.metadata.generation).toBe(1)
    expect(w.metadata.labels).toEqual({ a: "b" })
  })

  test("fieldValidation: Strict refuses unknown fields (400, sorted), Warn (the default) warns and prunes, Ignore prunes silently", async () => {
    const body = widget("strict", { size: "small", zeta: 1, alpha: { x: 1 } })
    const path = `/apis/example.com/v1/namespaces/${ns}/widgets`
    const strict = await http(api.url, "POST", `${path}?fieldValidation=Strict`, body)
    expect(strict.status).toBe(400)
    expect(strict.body).toMatchObject({
      kind: "Status",
      reason: "BadRequest",
      message: 'Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.alpha", unknown field "spec.zeta"',
    })
    expect(api.get("example.com", "widgets", ns, "strict")).toBeUndefined()
    const warned = await http(api.url, "POST", path, body)
    expect(warned.status).toBe(201)
    expect(warned.headers.get("warning")).toBe('299 - "unknown field \\"spec.alpha\\"", 299 - "unknown field \\"spec.zeta\\""')
    expect(warned.body.spec).toEqual({ size: "small", replicas: 1, colour: "blue" })
    const ignored = await http(api.url, "POST", `${path}?fieldValidation=Ignore`, { ...body, metadata: { name: "ignored" } })
    expect(ignored.status).toBe(201)
    expect(ignored.headers.get("warning")).toBeNull()
    const patched = await http(api.url, "PATCH", `${path}/strict?fieldValidation=Strict`, { spec: { typo: 1 } }, { "Content-Type": "application/merge-patch+json" })
    expect(patched.status).toBe(400)
    expect(patched.body.message).toContain('strict decoding error: unknown field "spec.typo"')
  })

  test("status sent on create is dropped when status is a subresource", async () => {
    const w = (await co.createNamespacedCustomObject({ ...W, body: { ...widget("nostatus"), status: { phase: "Done" } } })) as any
    expect(w.status).toBeUndefined()
  })

  test("schema violations are 422 Invalid with one cause per field", async () => {
    const missing = await apiError(co.createNamespacedCustomObject({ ...W, body: widget("bad1", {}) }))
    expect(missing.code).toBe(422)
    expect(missing.status.reason).toBe("Invalid")
    expect(missing.status.message).toStartWith('Widget.example.com "bad1" is invalid: ')
    expect(missing.status.details).toMatchObject({ name: "bad1", group: "example.com", kind: "Widget" })
    expect(missing.status.details.causes).toContainEqual(expect.objectContaining({ reason: "FieldValueRequired", field: "spec.size" }))
    const badEnum = await apiError(co.createNamespacedCustomObject({ ...W, body: widget("bad2", { size: "huge" }) }))
    expect(badEnum.status.details.causes).toContainEqual(expect.objectContaining({ reason: "FieldValueNotSupported", field: "spec.size" }))
    const badPattern = await apiError(co.createNamespacedCustomObject({ ...W, body: widget("bad3", { size: "small", code: "X1" }) }))
    expect(badPattern.status.details.causes).toContainEqual(expect.objectContaining({ reason: "FieldValueInvalid", field: "spec.code" }))
    const badType = await apiError(co.createNamespacedCustomObject({ ...W, body: widget("bad4", { size: "small", replicas: "two" }) }))
    expect(badType.status.details.causes).toContainEqual(expect.objectContaining({ reason: "FieldValueTypeInvalid", field: "spec.replicas" }))
  })

  test("PUT without resourceVersion is 422 for custom resources; with a stale one 409", async () => {
    const w = (await co.createNamespacedCustomObject({ ...W, body: widget("putrv") })) as any
    const res = await http(api.url, "PUT", `/apis/example.com/v1/namespaces/${ns}/widgets/putrv`, widget("putrv", { size: "large" }))
    expect(res.status).toBe(422)
    expect(res.body.message).toBe('widgets.example.com "putrv" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update')
    await co.replaceNamespacedCustomObject({ ...W, name: "putrv", body: { ...w, spec: { size: "large" } } })
    const stale = await apiError(co.replaceNamespacedCustomObject({ ...W, name: "putrv", body: { ...w, spec: { size: "small" } } }))
    expect(stale.code).toBe(409)
    expect(stale.status.message).toBe(
      'Operation cannot be fulfilled on widgets.example.com "putrv": the object has been modified; please apply your changes to the latest version and try again',
    )
  })

  test("the main endpoint ignores status; generation counts changes outside metadata and status", async () => {
    await co.createNamespacedCustomObject({ ...W, body: widget("gen") })
    const labelled = (await co.patchNamespacedCustomObject({ ...W, name: "gen", body: { metadata: { labels: { x: "1" } }, status: { phase: "Hacked" } } }, merge)) as any
    expect(labelled.metadata.generation).toBe(1)
    expect(labelled.status).toBeUndefined()
    const changed = (await co.patchNamespacedCustomObject({ ...W, name: "gen", body: [{ op: "replace", path: "/spec/size", value: "large" }] })) as any
    expect(changed.metadata.generation).toBe(2)
  })

  test("the /status endpoint changes only status, and does not bump generation", async () => {
    await co.createNamespacedCustomObject({ ...W, body: widget("st", { size: "small" }, { labels: { keep: "me" } }) })
    const out = (await co.patchNamespacedCustomObjectStatus(
      { ...W, name: "st", body: { metadata: { labels: { keep: "changed" } }, spec: { size: "large" }, status: { phase: "Ready", junk: 1 } } },
      merge,
    )) as any
    expect(out.status).toEqual({ phase: "Ready" })
    expect(out.spec.size).toBe("small")
    expect(out.metadata.labels).toEqual({ keep: "me" })
    expect(out.metadata.generation).toBe(1)
    const got = (await co.getNamespacedCustomObjectStatus({ ...W, name: "st" })) as any
    expect(got.status.phase).toBe("Ready")
  })

  test("kubectl's Table output uses the printer columns", async () => {
    const res = await http(api.url, "GET", `/apis/example.com/v1/namespaces/${ns}/widgets?limit=500`, undefined, {
      Accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
    })
    expect(res.body.kind).toBe("Table")
    expect(res.body.apiVersion).toBe("meta.k8s.io/v1")
    expect(res.body.columnDefinitions.map((c: any) => c.name)).toEqual(["Name", "Size", "Phase"])
    const st = res.body.rows.find((r: any) => r.cells[0] === "st")
    expect(st.cells).toEqual(["st", "small", "Ready"])
    expect(st.object).toMatchObject({ kind: "PartialObjectMetadata", metadata: { name: "st" } })
  })

  test("deleting the CRD deletes its custom resources (after their finalizers) and stops serving", async () => {
    const ext = api.kubeConfig().makeApiClient(k8s.ApiextensionsV1Api)
    const crd = widgetCRD()
    crd.metadata.name = "gizmos.example.com"
    crd.spec.names = { plural: "gizmos", singular: "gizmo", kind: "Gizmo" }
    await ext.createCustomResourceDefinition({ body: crd })
    const G = { group: "example.com", version: "v1", namespace: ns, plural: "gizmos" }
    await co.createNamespacedCustomObject({ ...G, body: { apiVersion: "example.com/v1", kind: "Gizmo", metadata: { name: "g1" }, spec: { size: "small" } } })
    await co.createNamespacedCustomObject({
      ...G,
      body: { apiVersion: "example.com/v1", kind: "Gizmo", metadata: { name: "g2", finalizers: ["example.com/hold"] }, spec: { size: "small" } },
    })
    await ext.deleteCustomResourceDefinition({ name: "gizmos.example.com" })
    await waitFor(() => api.get("example.com", "gizmos", ns, "g1") === undefined, { what: "g1 deleted" })
    const held = await waitFor(() => api.get("example.com", "gizmos", ns, "g2")?.metadata.deletionTimestamp && api.get("example.com", "gizmos", ns, "g2"))
    expect(held.metadata.finalizers).toEqual(["example.com/hold"])
    const terminating = await ext.readCustomResourceDefinition({ name: "gizmos.example.com" })
    expect(terminating.metadata?.deletionTimestamp).toBeDefined()
    const refused = await apiError(
      co.createNamespacedCustomObject({ ...G, body: { apiVersion: "example.com/v1", kind: "Gizmo", metadata: { name: "g3" }, spec: { size: "small" } } }),
    )
    expect(refused.code).toBe(405)
    await co.patchNamespacedCustomObject({ ...G, name: "g2", body: { metadata: { finalizers: null } } }, merge)
    await waitFor(async () => (await http(api.url, "GET", `/apis/example.com/v1/namespaces/${ns}/gizmos`)).status === 404, { what: "gizmos unserved" })
    expect((await apiError(ext.readCustomResourceDefinition({ name: "gizmos.example.com" }))).code).toBe(404)
  })
})

describe.skipIf(!HAVE_FIXTURES)("fixture CRDs from ../shared/fixtures (skipped when that directory is absent)", () => {
  const B = { group: "xlscsde.nhs.uk", version: "v1", namespace: "jupyterhub", plural: "analyticsworkspacebindings" }
  let fx: Emulator
  let fco: k8s.CustomObjectsApi
  beforeAll(async () => {
    fx = await startEmulator({ namespaces: ["jupyterhub"], crds: [fixtureCRD("analyticsworkspacebindings"), fixtureCRD("analyticsworkspaces")] })
    fco = fx.kubeConfig().makeApiClient(k8s.CustomObjectsApi)
  })
  afterAll(() => fx?.stop())

  const binding = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: "xlscsde.nhs.uk/v1",
    kind: "AnalyticsWorkspaceBinding",
    metadata: { name },
    spec,
  })

  test("a binding gets replicas 0 by default and keeps only declared fields", async () => {
    const b = (await fco.createNamespacedCustomObject({ ...B, body: binding("b1", { workspace: "ws1", username: "alice", expires: "2030-01-01", extra: "x" }) })) as any
    expect(b.spec).toEqual({ workspace: "ws1", username: "alice", expires: "2030-01-01", replicas: 0 })
  })

  test("a binding without workspace/expires, or with neither username nor claims, is 422", async () => {
    const noExpiry = await apiError(fco.createNamespacedCustomObject({ ...B, body: binding("b2", { workspace: "ws1", username: "a" }) }))
    expect(noExpiry.code).toBe(422)
    expect(noExpiry.status.details.causes).toContainEqual(expect.objectContaining({ reason: "FieldValueRequired", field: "spec.expires" }))
    const nobody = await apiError(fco.createNamespacedCustomObject({ ...B, body: binding("b3", { workspace: "ws1", expires: "2030-01-01" }) }))
    expect(nobody.code).toBe(422)
    const claims = await fco.createNamespacedCustomObject({
      ...B,
      body: binding("b4", { workspace: "ws1", expires: "2030-01-01", claims: [{ name: "group", operator: "EQUALS", value: "x" }] }),
    })
    expect((claims as any).spec.claims).toHaveLength(1)
  })

  test("undeclared status fields are pruned; status.replicas is the scale status path", async () => {
    await fco.createNamespacedCustomObject({ ...B, body: binding("b5", { workspace: "ws1", username: "bob", expires: "2030-01-01" }) })
    const st = (await fco.patchNamespacedCustomObjectStatus(
      { ...B, name: "b5", body: { status: { statusText: "READY", deploymentName: "d", replicas: 1, ready: true } } },
      merge,
    )) as any
    expect(st.status).toEqual({ statusText: "READY", deploymentName: "d", replicas: 1 })
    await fco.patchNamespacedCustomObject({ ...B, name: "b5", body: [{ op: "replace", path: "/spec/replicas", value: 1 }] })
    const scale = (await fco.getNamespacedCustomObjectScale({ ...B, name: "b5" })) as any
    expect(scale).toMatchObject({ kind: "Scale", apiVersion: "autoscaling/v1", spec: { replicas: 1 }, status: { replicas: 1 } })
  })

  test("short name and categories are in discovery; printer columns in tables", async () => {
    const list = await http(fx.url, "GET", "/apis/xlscsde.nhs.uk/v1")
    const r = list.body.resources.find((x: any) => x.name === "analyticsworkspacebindings")
    expect(r).toMatchObject({ shortNames: ["awsb"], categories: ["krap"], kind: "AnalyticsWorkspaceBinding" })
    const table = await http(fx.url, "GET", "/apis/xlscsde.nhs.uk/v1/namespaces/jupyterhub/analyticsworkspacebindings", undefined, {
      Accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
    })
    expect(table.body.columnDefinitions.map((c: any) => c.name)).toEqual(["Name", "Workspace", "Expires", "Status", "Deployment", "Replicas"])
  })
})
