/**
 * What the operator depends on, asked of the emulator and of kube-apiserver
 * with the same test code (test/support/servers.ts): every expectation here is
 * the real server's answer, so a failure on the emulator is a divergence to fix.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { parse } from "yaml"
import { desiredDeployment, desiredSecret, desiredService } from "../../src/domain/desired.ts"
import { bindingOf, settings } from "../domain/fixtures.ts"
import { forEachServer, startServer, type TestServer } from "../support/servers.ts"
import { http, readWatch, waitFor, type HttpTarget } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(120_000)

const PROJECT_CRD = parse(readFileSync(join(import.meta.dir, "..", "..", "deploy", "crd-analyticsworkspacebindings.yaml"), "utf8"))
const NS = "guacamole"
const BNS = "jupyterhub"
const DEPLOYMENT = "cee3c61f22f5523cab33ca6ab9cfc699"

/** The fields every server sets differently each time, replaced by their shape. */
function normalise(o: any): any {
  const out = structuredClone(o)
  const m = out.metadata ?? {}
  for (const k of ["uid", "resourceVersion", "creationTimestamp"]) if (m[k] !== undefined) m[k] = `<${k}>`
  delete m.managedFields
  // An allocated ClusterIP differs; a headless Service's "None" does not.
  if (out.spec?.clusterIP && out.spec.clusterIP !== "None") out.spec.clusterIP = "<ip>"
  if (Array.isArray(out.spec?.clusterIPs)) out.spec.clusterIPs = out.spec.clusterIPs.map((ip: string) => (ip === "None" ? ip : "<ip>"))
  return out
}

forEachServer("API semantics the operator depends on", (kind) => {
  let server: TestServer
  let target: HttpTarget
  const req = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => http(target, method, path, body, headers)

  beforeAll(async () => {
    server = await startServer(kind, { namespaces: [NS, BNS], crds: [PROJECT_CRD], rbac: false })
    const dir = server.controlPlane?.dir
    target = dir
      ? { url: server.url, tls: { ca: readFileSync(join(dir, "ca.crt"), "utf8"), cert: readFileSync(join(dir, "admin.crt"), "utf8"), key: readFileSync(join(dir, "admin.key"), "utf8") } }
      : { url: server.url }
  }, 180_000)
  afterAll(() => server?.stop())

  const deployments = `/apis/apps/v1/namespaces/${NS}/deployments`
  const bindings = `/apis/xlscsde.nhs.uk/v1/namespaces/${BNS}/analyticsworkspacebindings`
  const merge = { "Content-Type": "application/merge-patch+json" }
  const jsonPatch = { "Content-Type": "application/json-patch+json" }
  const binding = (name: string, spec: Record<string, unknown>, finalizers?: string[]) => ({
    apiVersion: "xlscsde.nhs.uk/v1",
    kind: "AnalyticsWorkspaceBinding",
    metadata: { name, ...(finalizers ? { finalizers } : {}) },
    spec,
  })

  test("the operator's desired Deployment, Service and Secret come back defaulted field for field as kube-apiserver 1.34 defaults them", async () => {
    const recorded = JSON.parse(readFileSync(join(import.meta.dir, "recorded", "operator-objects.json"), "utf8"))
    const b = bindingOf()
    const d = await req("POST", deployments, desiredDeployment(b, DEPLOYMENT, 1, settings))
    const s = await req("POST", `/api/v1/namespaces/${NS}/services`, desiredService(b, DEPLOYMENT, settings))
    const sec = await req("POST", `/api/v1/namespaces/${NS}/secrets`, desiredSecret(b, DEPLOYMENT, "pw123456", settings))
    expect([d.status, s.status, sec.status]).toEqual([201, 201, 201])
    // RECORD_OPERATOR_OBJECTS=1 on kube-apiserver records its answers afresh (after a change to the desired objects).
    if (kind === "real" && process.env.RECORD_OPERATOR_OBJECTS === "1") {
      const fresh = { deployment: normalise(d.body), service: normalise(s.body), secret: normalise(sec.body) }
      writeFileSync(join(import.meta.dir, "recorded", "operator-objects.json"), JSON.stringify(fresh, null, 2) + "\n")
      Object.assign(recorded, fresh)
    }
    expect(normalise(d.body)).toEqual(recorded.deployment)
    expect(normalise(s.body)).toEqual(recorded.service)
    expect(normalise(sec.body)).toEqual(recorded.secret)
  })

  test("409 AlreadyExists and Conflict, 404 NotFound: the real Status bodies", async () => {
    const dep = desiredDeployment(bindingOf({}, { name: "bob-ws1" }), "d409", 1, settings)
    const first = await req("POST", deployments, { ...dep, metadata: { ...dep.metadata, name: "d409" } })
    expect(first.status).toBe(201)
    const again = await req("POST", deployments, { ...dep, metadata: { ...dep.metadata, name: "d409" } })
    const details = { name: "d409", group: "apps", kind: "deployments" }
    expect([again.status, again.body]).toEqual([
      409,
      { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: 'deployments.apps "d409" already exists', reason: "AlreadyExists", details, code: 409 },
    ])
    await req("PATCH", `${deployments}/d409`, { spec: { replicas: 0 } }, merge)
    const stale = await req("PUT", `${deployments}/d409`, first.body)
    expect([stale.status, stale.body]).toEqual([
      409,
      {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: 'Operation cannot be fulfilled on deployments.apps "d409": the object has been modified; please apply your changes to the latest version and try again',
        reason: "Conflict",
        details,
        code: 409,
      },
    ])
    const missing = await req("GET", `${deployments}/nope`)
    expect([missing.status, missing.body]).toEqual([
      404,
      { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: 'deployments.apps "nope" not found', reason: "NotFound", details: { name: "nope", group: "apps", kind: "deployments" }, code: 404 },
    ])
  })

  test("a JSON patch that cannot apply is 422 with empty details; a merge patch sets what it says", async () => {
    const r = await req("PATCH", `${deployments}/d409`, [{ op: "test", path: "/spec/replicas", value: 5 }], jsonPatch)
    expect([r.status, r.body]).toEqual([
      422,
      { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "the server rejected our request due to an error in our request", reason: "Invalid", details: {}, code: 422 },
    ])
    const ok = await req("PATCH", `${deployments}/d409`, [{ op: "test", path: "/spec/replicas", value: 0 }, { op: "replace", path: "/spec/replicas", value: 2 }], jsonPatch)
    expect([ok.status, ok.body.spec.replicas, ok.body.metadata.generation]).toEqual([200, 2, 3])
  })

  test("422 Invalid of built-ins prints invalid values as JSON (1.34), with one cause per field", async () => {
    const web = (sel: unknown) => ({ metadata: { name: "web" }, spec: { selector: sel, template: { metadata: { labels: { app: "web", tier: "x" } }, spec: { containers: [] } } } })
    const empty = await req("POST", deployments, web({}))
    expect(empty.status).toBe(422)
    expect(empty.body.details).toEqual({
      name: "web",
      group: "apps",
      kind: "Deployment",
      causes: [
        { reason: "FieldValueInvalid", message: "Invalid value: {}: empty selector is invalid for deployment", field: "spec.selector" },
        { reason: "FieldValueRequired", message: "Required value", field: "spec.template.spec.containers" },
      ],
    })
    const mismatch = await req("POST", deployments, { ...web({ matchLabels: { app: "other" } }) })
    expect(mismatch.body.message).toBe(
      'Deployment.apps "web" is invalid: [spec.template.metadata.labels: Invalid value: {"app":"web","tier":"x"}: `selector` does not match template `labels`, spec.template.spec.containers: Required value]',
    )
    const dup = await req("POST", `/api/v1/namespaces/${NS}/services`, { metadata: { name: "dup" }, spec: { ports: [{ name: "a", port: 80 }, { name: "a", port: 80 }] } })
    expect(dup.body.message).toBe('Service "dup" is invalid: [spec.ports[1].name: Duplicate value: "a", spec.ports[1]: Duplicate value: {"Name":"","Protocol":"TCP","AppProtocol":null,"Port":80,"TargetPort":0,"NodePort":0}]')
    const owners = [
      { apiVersion: "v1", kind: "A", name: "a", uid: "1", controller: true },
      { apiVersion: "v1", kind: "B", name: "b", uid: "2", controller: true },
    ]
    const own = await req("POST", `/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: "own", ownerReferences: owners } })
    expect(own.body.message).toBe(
      `ConfigMap "own" is invalid: metadata.ownerReferences: Invalid value: ${JSON.stringify(owners)}: Only one reference can have Controller set to true. Found "true" in references for A/a and B/b`,
    )
  })

  test("Secret data that is not base64 is 400 before validation", async () => {
    const r = await req("POST", `/api/v1/namespaces/${NS}/secrets`, { metadata: { name: "b64" }, data: { k: "not base64!" } })
    expect([r.status, r.body.reason, r.body.message]).toEqual([400, "BadRequest", 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3'])
  })

  test("a binding failing its schema is 422 with the schema's causes and the scale subresource's own", async () => {
    const r = await req("POST", bindings, binding("bad", { replicas: "x" }))
    expect(r.status).toBe(422)
    expect(r.body.details.causes).toEqual([
      { reason: "FieldValueTypeInvalid", message: 'Invalid value: "string": spec.replicas in body must be of type integer: "string"', field: "spec.replicas" },
      { reason: "FieldValueRequired", message: "Required value", field: "spec.workspace" },
      { reason: "FieldValueRequired", message: "Required value", field: "spec.expires" },
      { reason: "FieldValueInvalid", message: "Invalid value: 0: .spec.replicas accessor error: x is of the type string, expected int64", field: ".spec.replicas" },
      // Last: the CRD's CEL rule (a binding needs username or claims) was not run on an object refused already.
      {
        reason: "FieldValueInvalid",
        message: "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
        field: "<nil>",
      },
    ])
  })

  test("status and scale subresources of a binding: /status writes only status, the main endpoint only the rest; Scale leaves 0 replicas out", async () => {
    const created = await req("POST", bindings, binding("sub", { workspace: "ws1", username: "alice", expires: "2030-12-31" }))
    expect([created.status, created.body.spec.replicas, created.body.metadata.generation]).toEqual([201, 0, 1])
    const scale = await req("GET", `${bindings}/sub/scale`)
    expect(normalise(scale.body)).toEqual({
      kind: "Scale",
      apiVersion: "autoscaling/v1",
      metadata: { name: "sub", namespace: BNS, uid: "<uid>", resourceVersion: "<resourceVersion>", creationTimestamp: "<creationTimestamp>" },
      spec: {},
      status: { replicas: 0 },
    })
    const status = await req("PATCH", `${bindings}/sub/status`, { status: { statusText: "READY", replicas: 1 }, spec: { workspace: "other" } }, merge)
    expect([status.body.spec.workspace, status.body.status, status.body.metadata.generation]).toEqual(["ws1", { statusText: "READY", replicas: 1 }, 1])
    const main = await req("PATCH", `${bindings}/sub`, { status: { statusText: "X" }, spec: { replicas: 1 } }, merge)
    expect([main.body.spec.replicas, main.body.status.statusText, main.body.metadata.generation]).toEqual([1, "READY", 2])
    const scaled = await req("GET", `${bindings}/sub/scale`)
    expect([scaled.body.spec, scaled.body.status]).toEqual([{ replicas: 1 }, { replicas: 1 }])
    const strategic = await req("PATCH", `${bindings}/sub`, { spec: { replicas: 0 } }, { "Content-Type": "application/strategic-merge-patch+json" })
    expect([strategic.status, strategic.body.reason, strategic.body.details]).toEqual([415, "UnsupportedMediaType", undefined])
  })

  test("finalizers: DELETE marks the binding (grace 0, generation +1), no new finalizer while deleting, removing the last one deletes it", async () => {
    await req("POST", bindings, binding("held", { workspace: "ws1", username: "alice", expires: "2030-12-31" }, ["example.com/hold"]))
    const del = await req("DELETE", `${bindings}/held`)
    expect([del.status, del.body.metadata.deletionGracePeriodSeconds, del.body.metadata.generation, del.body.metadata.finalizers]).toEqual([200, 0, 2, ["example.com/hold"]])
    expect(del.body.metadata.deletionTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    const more = await req("PATCH", `${bindings}/held`, { metadata: { finalizers: ["example.com/hold", "example.com/more"] } }, merge)
    expect([more.status, more.body.reason]).toEqual([422, "Invalid"])
    // kube-apiserver reports this cause twice (its update validation runs the check twice); the emulator once.
    expect(more.body.details.causes[0]).toEqual({
      reason: "FieldValueForbidden",
      message: 'Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/more"}',
      field: "metadata.finalizers",
    })
    const released = await req("PATCH", `${bindings}/held`, { metadata: { finalizers: null } }, merge)
    expect(released.status).toBe(200)
    await waitFor(async () => (await req("GET", `${bindings}/held`)).status === 404, { what: "the released binding to be gone" })
  })

  test("DELETE of a Deployment answers Success with its uid; a terminating namespace refuses new content with 403", async () => {
    const dep = desiredDeployment(bindingOf({}, { name: "del" }), "to-delete", 0, settings)
    const made = await req("POST", deployments, { ...dep, metadata: { ...dep.metadata, name: "to-delete" } })
    const del = await req("DELETE", `${deployments}/to-delete`)
    expect([del.status, del.body]).toEqual([
      200,
      { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name: "to-delete", group: "apps", kind: "deployments", uid: made.body.metadata.uid } },
    ])
    expect((await req("POST", "/api/v1/namespaces", { metadata: { name: "doomed" } })).status).toBe(201)
    const ns = await req("DELETE", "/api/v1/namespaces/doomed")
    expect([ns.status, ns.body.status.phase, ns.body.metadata.deletionGracePeriodSeconds, ns.body.spec.finalizers]).toEqual([200, "Terminating", undefined, ["kubernetes"]])
    const late = await req("POST", "/api/v1/namespaces/doomed/configmaps", { metadata: { name: "late" } })
    // The namespace may already be gone on a fast server: then it is 404.
    if (late.status === 403) {
      expect(late.body).toEqual({
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: 'configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated',
        reason: "Forbidden",
        details: { name: "late", kind: "configmaps", causes: [{ reason: "NamespaceTerminating", message: "namespace doomed is being terminated", field: "metadata.namespace" }] },
        code: 403,
      })
    } else expect(late.status).toBe(404)
  })

  test("list limit and continue page through a list; a malformed continue token is 400; resourceVersion=0 answers with every object", async () => {
    // Objects of this test's own (namespaces come and go as other tests end: a terminating one may finish meanwhile).
    for (let i = 0; i < 4; i++) {
      const made = await req("POST", `/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: `page-${i}`, labels: { paged: "yes" } } })
      expect(made.status).toBe(201)
    }
    const pages = `/api/v1/namespaces/${NS}/configmaps?labelSelector=paged%3Dyes`
    const first = await req("GET", `${pages}&limit=1`)
    expect(first.body.items).toHaveLength(1)
    expect(first.body.metadata.continue).toEqual(expect.any(String))
    // remainingItemCount is only sent for lists without a label selector, on both servers.
    const rest = await req("GET", `${pages}&limit=100&continue=${encodeURIComponent(first.body.metadata.continue)}`)
    expect(rest.body.items.length).toBe(3)
    expect(rest.body.metadata.continue).toBeUndefined()
    const bad = await req("GET", "/api/v1/namespaces?limit=1&continue=bm9wZQ")
    expect([bad.status, bad.body.reason]).toEqual([400, "BadRequest"])
    // From the watch cache (resourceVersion=0), as an informer's first list asks: every object in one answer.
    const cached = await req("GET", `${pages}&limit=1&resourceVersion=0`)
    expect(cached.body.items.length).toBe(4)
    expect(cached.body.metadata.continue).toBeUndefined()
    expect(Number(cached.body.metadata.resourceVersion)).toBeGreaterThan(0)
  })

  test("a watch from a resourceVersion sends every later event in order; watch=True is a watch", async () => {
    const a = await req("POST", `/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: "w1" } })
    await req("PATCH", `/api/v1/namespaces/${NS}/configmaps/w1`, { data: { a: "1" } }, merge)
    await req("POST", `/api/v1/namespaces/${NS}/configmaps`, { metadata: { name: "w2" } })
    await req("DELETE", `/api/v1/namespaces/${NS}/configmaps/w1`)
    const { events } = await readWatch(target, `/api/v1/namespaces/${NS}/configmaps?watch=True&resourceVersion=${a.body.metadata.resourceVersion}`, (e) => e.length >= 3, { timeoutMs: 10_000 })
    expect(events.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(["MODIFIED w1", "ADDED w2", "DELETED w1"])
  })
})
