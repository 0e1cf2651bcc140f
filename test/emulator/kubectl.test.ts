import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parse, stringify } from "yaml"
import { startEmulator, type Emulator } from "./index.ts"
import { forEachServer, startServer, type ServerKind, type TestServer } from "../support/servers.ts"
import { waitFor, widgetCRD } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const HAVE_KUBECTL = Bun.which("kubectl") !== null

let api: Emulator
/** The kubeconfig kubectl uses: the emulator's, or in the suite run on both servers, the server's. */
let kubeconfig = ""
let dir: string

/** Runs kubectl asynchronously: the emulator serves from this same process. */
async function kubectl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(["kubectl", "--kubeconfig", kubeconfig, ...args], {
    env: { ...process.env, KUBECACHEDIR: join(dir, "cache") },
    stdout: "pipe",
    stderr: "pipe",
  })
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited])
  return { code, out, err }
}

async function ok(...args: string[]): Promise<string> {
  const r = await kubectl(...args)
  if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${r.code}): ${r.err}`)
  return r.out
}

function file(name: string, text: string | Uint8Array): string {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

describe.skipIf(!HAVE_KUBECTL)("kubectl against the emulator (skipped when kubectl is not installed)", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "emulator-kubectl-"))
    api = await startEmulator({ namespaces: ["k"] })
    kubeconfig = api.kubeconfigPath
  })
  afterAll(async () => {
    await api?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test("apply -f a CRD, then get/apply/patch/scale/describe/delete custom resources", async () => {
    await ok("apply", "-f", file("crd.json", JSON.stringify(widgetCRD())))
    await waitFor(async () => (await kubectl("get", "wd", "-n", "k")).code === 0, { what: "short name served" })
    const w = file("w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: k\nspec:\n  size: small\n")
    expect(await ok("apply", "-f", w)).toContain("widget.example.com/w1 created")
    const table = await ok("get", "widgets", "-n", "k")
    expect(table.split("\n")[0]!.split(/\s+/)).toEqual(["NAME", "SIZE", "PHASE"])
    expect(table).toMatch(/w1\s+small/)
    writeFileSync(w, "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: k\nspec:\n  size: large\n")
    expect(await ok("apply", "-f", w)).toContain("configured")
    expect(await ok("get", "wd", "w1", "-n", "k", "-o", "jsonpath={.spec.size}")).toBe("large")
    await ok("patch", "wd", "w1", "-n", "k", "--type=json", "-p", '[{"op":"replace","path":"/spec/colour","value":"red"}]')
    await ok("patch", "wd", "w1", "-n", "k", "--type=merge", "-p", '{"spec":{"code":"abc"}}')
    await ok("patch", "wd", "w1", "-n", "k", "--type=merge", "--subresource=status", "-p", '{"status":{"phase":"Ready"}}')
    expect(await ok("scale", "wd", "w1", "-n", "k", "--replicas=3")).toContain("scaled")
    const obj = api.get("example.com", "widgets", "k", "w1")
    expect(obj.spec).toMatchObject({ size: "large", colour: "red", code: "abc", replicas: 3 })
    expect(obj.status.phase).toBe("Ready")
    expect(await ok("get", "wd", "w1", "-n", "k", "-o", "yaml")).toContain("phase: Ready")
    expect(await ok("describe", "wd", "w1", "-n", "k")).toMatch(/Name:\s+w1/)
    const bad = await kubectl("patch", "wd", "w1", "-n", "k", "--type=merge", "-p", '{"spec":{"size":"huge"}}')
    expect(bad.code).not.toBe(0)
    expect(bad.err).toContain("is invalid")
    expect(await ok("delete", "wd", "w1", "-n", "k")).toContain("deleted")
    expect(api.get("example.com", "widgets", "k", "w1")).toBeUndefined()
  })

  test("create -f built-ins, get with columns, scale a Deployment, get events, describe", async () => {
    const manifest = file(
      "dep.yaml",
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: k}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: k}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Event
metadata: {name: web.1, namespace: k}
involvedObject: {kind: Deployment, name: web, namespace: k, apiVersion: apps/v1}
reason: Testing
message: hello from the test
type: Normal
`,
    )
    await ok("create", "-f", manifest)
    const deploys = await ok("get", "deploy", "-n", "k")
    expect(deploys.split("\n")[0]!.split(/\s+/)).toEqual(["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"])
    const svc = await ok("get", "svc", "web", "-n", "k")
    expect(svc).toMatch(/web\s+ClusterIP\s+\d+\.\d+\.\d+\.\d+\s+<none>\s+80\/TCP/)
    await ok("scale", "deploy", "web", "-n", "k", "--replicas=4")
    expect(api.get("apps", "deployments", "k", "web").spec.replicas).toBe(4)
    expect(await ok("get", "events", "-n", "k")).toContain("hello from the test")
    expect(await ok("describe", "svc", "web", "-n", "k")).toMatch(/Name:\s+web/)
    expect(await ok("apply", "-f", manifest)).toContain("deployment.apps/web configured")
    await ok("delete", "-f", manifest)
    expect(api.get("apps", "deployments", "k", "web")).toBeUndefined()
  })

  test("a missing object is reported as kubectl reports NotFound", async () => {
    const r = await kubectl("get", "configmap", "nope", "-n", "k")
    expect(r.code).not.toBe(0)
    expect(r.err).toContain('Error from server (NotFound): configmaps "nope" not found')
  })
})

/** Starts `kubectl args…` and hands back its stdout line by line (for `get -w`), and a way to stop it. */
function spawnKubectl(...args: string[]) {
  const p = Bun.spawn(["kubectl", "--kubeconfig", kubeconfig, ...args], {
    env: { ...process.env, KUBECACHEDIR: join(dir, "cache") },
    stdout: "pipe",
    stderr: "pipe",
  })
  const reader = p.stdout.getReader()
  const dec = new TextDecoder()
  let buf = ""
  const lines: string[] = []
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      buf += dec.decode(value, { stream: true })
      let i: number
      while ((i = buf.indexOf("\n")) >= 0) {
        lines.push(buf.slice(0, i))
        buf = buf.slice(i + 1)
      }
    }
  })()
  return { proc: p, lines, done: pump, stop: () => p.kill("SIGTERM") }
}

const PROJECT_CRD = join(import.meta.dir, "..", "..", "deploy", "crd-analyticsworkspacebindings.yaml")

const binding = (name: string, spec: Record<string, unknown>, labels?: Record<string, string>) =>
  stringify({ apiVersion: "xlscsde.nhs.uk/v1", kind: "AnalyticsWorkspaceBinding", metadata: { name, namespace: "kc", ...(labels ? { labels } : {}) }, spec })

const WRITE_VERBS = new Set(["create", "update", "patch", "delete", "deletecollection"])

/** Where the server's record of writes stands (the emulator's request log, the real server's audit log). */
interface Mark {
  readonly n: number
  readonly at: number
}

/**
 * The suite run on both servers (the same test code; see test/support/servers.ts).
 * kubectl's writes since `mark`, as the server recorded them (controllers' and
 * other system users' writes left out).
 */
function onServer(kind: ServerKind) {
  let server: TestServer
  const mark = (): Mark => ({ n: server.emulator?.requests.all().length ?? 0, at: Date.now() })
  const writesSince = (m: Mark): { verb: string; resource: string; uri: string }[] => {
    const emulator = server.emulator
    if (emulator) {
      return emulator.requests
        .all()
        .slice(m.n)
        .filter((r) => WRITE_VERBS.has(r.verb))
        .map((r) => ({ verb: r.verb, resource: r.resource, uri: r.path }))
    }
    return server
      .controlPlane!.audit()
      // kubectl's own: KWOK renews its node's Lease as the same admin user, every few seconds.
      .filter((e) => WRITE_VERBS.has(e.verb) && (e.userAgent ?? "").startsWith("kubectl") && Date.parse(e.requestReceivedTimestamp) >= m.at)
      .map((e) => ({ verb: e.verb, resource: e.objectRef?.resource ?? "", uri: String((e as { requestURI?: string }).requestURI ?? "") }))
  }
  const getBinding = (name: string) => server.get("xlscsde.nhs.uk", "analyticsworkspacebindings", "kc", name)
  return { server: () => server, set: (s: TestServer) => (server = s), mark, writesSince, getBinding }
}

forEachServer("kubectl as people use it, on the project's CRD", (kind) => {
  const on = onServer(kind)
  const admin = kind === "emulator" ? "kubernetes-admin" : "admin"
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "emulator-kubectl-"))
    on.set(await startServer(kind, { namespaces: ["kc"], crds: [parse(readFileSync(PROJECT_CRD, "utf8"))], rbac: false }))
    kubeconfig = on.server().kubeconfigPath
  }, 120_000)
  afterAll(async () => {
    await on.server()?.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  if (!HAVE_KUBECTL) return

  test("create namespace, configmap and secret generic: kubectl sends protobuf and the objects are what it asked for", async () => {
    expect(await ok("create", "namespace", "made-by-kubectl")).toBe("namespace/made-by-kubectl created\n")
    expect(await ok("create", "configmap", "cm1", "-n", "made-by-kubectl", "--from-literal=a=b", "--from-file=bin=" + file("bin.dat", Buffer.from([0, 0xff])))).toBe(
      "configmap/cm1 created\n",
    )
    expect(await ok("create", "secret", "generic", "s1", "-n", "made-by-kubectl", "--from-literal=a=b")).toBe("secret/s1 created\n")
    const emulator = on.server().emulator
    if (emulator) {
      // What kubectl sent (only the emulator's log records the content type).
      const posts = emulator.requests.writes({ verb: "create" }).filter((r) => r.namespace === "made-by-kubectl" || r.resource === "namespaces")
      expect(posts.map((r) => [r.resource, r.contentType, r.status])).toEqual([
        ["namespaces", "application/vnd.kubernetes.protobuf", 201],
        ["configmaps", "application/vnd.kubernetes.protobuf", 201],
        ["secrets", "application/vnd.kubernetes.protobuf", 201],
      ])
    }
    const ns = JSON.parse(await ok("get", "namespace", "made-by-kubectl", "-o", "json"))
    expect(ns.status.phase).toBe("Active")
    expect(ns.metadata.labels).toEqual({ "kubernetes.io/metadata.name": "made-by-kubectl" })
    const cm = JSON.parse(await ok("get", "configmap", "cm1", "-n", "made-by-kubectl", "-o", "json"))
    expect(cm.data).toEqual({ a: "b" })
    expect(cm.binaryData).toEqual({ bin: Buffer.from([0, 0xff]).toString("base64") })
    expect(cm.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT/)
    const secret = JSON.parse(await ok("get", "secret", "s1", "-n", "made-by-kubectl", "-o", "json"))
    expect(secret.type).toBe("Opaque")
    expect(secret.data).toEqual({ a: Buffer.from("b").toString("base64") })
    // The protobuf path keeps the server's answers: a second create is AlreadyExists, a bad name is Invalid.
    const again = await kubectl("create", "configmap", "cm1", "-n", "made-by-kubectl", "--from-literal=a=b")
    expect(again.code).not.toBe(0)
    expect(again.err).toContain('configmaps "cm1" already exists')
    const bad = await kubectl("create", "namespace", "Not_A_Name")
    expect(bad.code).not.toBe(0)
    expect(bad.err).toContain('Namespace "Not_A_Name" is invalid')
  })

  test("create serviceaccount, role and rolebinding, and auth can-i (protobuf too)", async () => {
    await ok("create", "serviceaccount", "robot", "-n", "kc")
    await ok("create", "role", "reader", "-n", "kc", "--verb=get,list", "--resource=configmaps")
    await ok("create", "rolebinding", "robot-reads", "-n", "kc", "--role=reader", "--serviceaccount=kc:robot")
    const rb = JSON.parse(await ok("get", "rolebinding", "robot-reads", "-n", "kc", "-o", "json"))
    expect(rb.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "reader" })
    expect(rb.subjects).toEqual([{ kind: "ServiceAccount", name: "robot", namespace: "kc" }])
    const role = JSON.parse(await ok("get", "role", "reader", "-n", "kc", "-o", "json"))
    expect(role.rules).toEqual([{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] }])
    expect(await ok("auth", "can-i", "create", "configmaps", "-n", "kc")).toBe("yes\n")
    expect((await ok("auth", "whoami")).split("\n").slice(0, 2).map((l) => l.split(/\s+/))).toEqual([
      ["ATTRIBUTE", "VALUE"],
      ["Username", admin],
    ])
  })

  test("create deployment and create service clusterip (protobuf), defaulted as the real server defaults them", async () => {
    await ok("create", "deployment", "web", "-n", "kc", "--image=nginx:1.27", "--replicas=2", "--port=80")
    const d = JSON.parse(await ok("get", "deployment", "web", "-n", "kc", "-o", "json"))
    expect(d.spec.replicas).toBe(2)
    expect(d.spec.selector).toEqual({ matchLabels: { app: "web" } })
    expect(d.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } })
    expect(d.spec.template.spec.containers).toEqual([
      {
        name: "nginx",
        image: "nginx:1.27",
        imagePullPolicy: "IfNotPresent",
        ports: [{ containerPort: 80, protocol: "TCP" }],
        resources: {},
        terminationMessagePath: "/dev/termination-log",
        terminationMessagePolicy: "File",
      },
    ])
    await ok("create", "service", "clusterip", "web", "-n", "kc", "--tcp=80:8080")
    const svc = JSON.parse(await ok("get", "service", "web", "-n", "kc", "-o", "json"))
    expect(svc.spec.ports).toEqual([{ name: "80-8080", port: 80, protocol: "TCP", targetPort: 8080 }])
    expect(svc.spec.selector).toEqual({ app: "web" })
    expect(svc.spec.clusterIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
  })

  test("apply -f of a kind: List, of a multi-document file and of a directory; applying again is unchanged", async () => {
    const list = file(
      "list.yaml",
      stringify({
        apiVersion: "v1",
        kind: "List",
        items: [
          { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "from-list", namespace: "kc" }, data: { a: "1" } },
          { apiVersion: "xlscsde.nhs.uk/v1", kind: "AnalyticsWorkspaceBinding", metadata: { name: "listed", namespace: "kc" }, spec: { workspace: "ws1", username: "ann", expires: "2099-01-01" } },
        ],
      }),
    )
    expect(await ok("apply", "-f", list)).toBe("configmap/from-list created\nanalyticsworkspacebinding.xlscsde.nhs.uk/listed created\n")
    const multi = file("multi.yaml", binding("multi-a", { workspace: "ws1", username: "a", expires: "2099-01-01" }) + "---\n" + binding("multi-b", { workspace: "ws2", username: "b", expires: "2099-01-01" }))
    expect(await ok("apply", "-f", multi)).toBe("analyticsworkspacebinding.xlscsde.nhs.uk/multi-a created\nanalyticsworkspacebinding.xlscsde.nhs.uk/multi-b created\n")
    const d = join(dir, "manifests")
    mkdirSync(d)
    writeFileSync(join(d, "one.yaml"), binding("dir-one", { workspace: "ws1", username: "c", expires: "2099-01-01" }))
    writeFileSync(join(d, "two.json"), JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "dir-two", namespace: "kc" }, data: { b: "2" } }))
    writeFileSync(join(d, "notes.txt"), "not a manifest: kubectl skips files without a manifest extension")
    expect(await ok("apply", "-f", d)).toBe("analyticsworkspacebinding.xlscsde.nhs.uk/dir-one created\nconfigmap/dir-two created\n")
    const before = on.mark()
    expect(await ok("apply", "-f", list, "-f", multi, "-f", d)).toBe(
      [
        "configmap/from-list unchanged",
        "analyticsworkspacebinding.xlscsde.nhs.uk/listed unchanged",
        "analyticsworkspacebinding.xlscsde.nhs.uk/multi-a unchanged",
        "analyticsworkspacebinding.xlscsde.nhs.uk/multi-b unchanged",
        "analyticsworkspacebinding.xlscsde.nhs.uk/dir-one unchanged",
        "configmap/dir-two unchanged",
        "",
      ].join("\n"),
    )
    expect(on.writesSince(before)).toEqual([])
    expect(JSON.parse(await ok("get", "awsb", "listed", "-n", "kc", "-o", "json")).metadata.generation).toBe(1)
    // Empty metadata maps are not stored (Go's omitempty), so kubectl's three-way patch re-sends them: "configured", not "unchanged".
    const empty = file("empty-labels.yaml", binding("empty-labels", { workspace: "ws1", username: "e", expires: "2099-01-01" }, {}))
    expect(await ok("apply", "-f", empty)).toBe("analyticsworkspacebinding.xlscsde.nhs.uk/empty-labels created\n")
    expect(await ok("apply", "-f", empty)).toBe("analyticsworkspacebinding.xlscsde.nhs.uk/empty-labels configured\n")
    const stored = await on.getBinding("empty-labels")
    expect(stored.metadata.labels).toBeUndefined()
    expect(stored.metadata.generation).toBe(1)
  })

  test("a List item with a field its schema lacks is refused by kubectl's own validation (from /openapi/v2), as against a real server", async () => {
    const list = file(
      "bad-list.yaml",
      stringify({
        apiVersion: "v1",
        kind: "List",
        items: [{ apiVersion: "xlscsde.nhs.uk/v1", kind: "AnalyticsWorkspaceBinding", metadata: { name: "typo", namespace: "kc" }, spec: { workspace: "ws1", username: "ann", expires: "2099-01-01", replica: 1 } }],
      }),
    )
    const r = await kubectl("apply", "-f", list)
    expect(r.code).not.toBe(0)
    expect(r.err).toContain('unknown field "replica"')
    expect(await on.getBinding("typo")).toBeUndefined()
  })

  test("apply of a binding with a misspelt field is refused by the server (kubectl asks for Strict); --validate=warn creates it without the field", async () => {
    const f = file("typo.yaml", binding("typo2", { workspace: "ws1", usernme: "ann", username: "ann", expires: "2099-01-01" }))
    const r = await kubectl("apply", "-f", f)
    expect(r.code).not.toBe(0)
    expect(r.err).toContain('strict decoding error: unknown field "spec.usernme"')
    const warned = await kubectl("apply", "-f", f, "--validate=warn")
    expect(warned.code).toBe(0)
    expect(warned.err).toContain('Warning: unknown field "spec.usernme"')
    expect(JSON.parse(await ok("get", "awsb", "typo2", "-n", "kc", "-o", "json")).spec).toEqual({ workspace: "ws1", username: "ann", expires: "2099-01-01", replicas: 0 })
  })

  test("diff: exit 0 and nothing when unchanged, exit 1 and the change when not; nothing is written", async () => {
    const f = file("diff.yaml", binding("diffed", { workspace: "ws1", username: "dee", expires: "2099-01-01" }))
    await ok("apply", "-f", f)
    const same = await kubectl("diff", "-f", f)
    expect([same.code, same.out]).toEqual([0, ""])
    writeFileSync(f, binding("diffed", { workspace: "ws1", username: "dee", expires: "2100-01-01" }))
    const before = on.mark()
    const changed = await kubectl("diff", "-f", f)
    expect(changed.code).toBe(1)
    expect(changed.out).toMatch(/^-\s+expires: "2099-01-01"$/m)
    expect(changed.out).toMatch(/^\+\s+expires: "2100-01-01"$/m)
    const writes = on.writesSince(before)
    expect(writes.length).toBeGreaterThan(0)
    expect(writes.filter((w) => !w.uri.includes("dryRun=All"))).toEqual([])
    expect(JSON.parse(await ok("get", "awsb", "diffed", "-n", "kc", "-o", "json")).spec.expires).toBe("2099-01-01")
  })

  test("explain awsb and awsb.spec describe the installed CRD's schema (OpenAPI v3)", async () => {
    const top = await ok("explain", "awsb")
    expect(top).toContain("KIND:       AnalyticsWorkspaceBinding")
    expect(top).toMatch(/^  metadata\t<ObjectMeta>$/m)
    expect(top).toMatch(/^  spec\t<Object>$/m)
    const spec = await ok("explain", "awsb.spec")
    expect(spec).toMatch(/^  workspace\t<string> -required-$/m)
    expect(spec).toMatch(/^  expires\t<string> -required-$/m)
    expect(spec).toContain("The workspace (AnalyticsWorkspace name) this binding grants.")
    expect(await ok("explain", "awsb.metadata.labels")).toContain("FIELD: labels <map[string]string>")
    expect(await ok("explain", "configmap.data")).toContain("FIELD: data <map[string]string>")
    const missing = await kubectl("explain", "awsb.spec.nope")
    expect(missing.code).not.toBe(0)
    expect(missing.err).toContain('field "nope" does not exist')
  })

  test("get -o wide, --show-labels and -l print the CRD's columns, the labels and the selected rows", async () => {
    await ok("apply", "-f", file("labelled.yaml", binding("red-one", { workspace: "ws-red", username: "r", expires: "2099-01-01" }, { team: "red" }) + "---\n" + binding("blue-one", { workspace: "ws-blue", username: "b", expires: "2099-01-01", replicas: 1 }, { team: "blue" })))
    const wide = (await ok("get", "awsb", "-n", "kc", "-o", "wide", "-l", "team")).trimEnd().split("\n")
    const columns = ["NAME", "WORKSPACE", "USERNAME", "EXPIRES", "STATUS", "READY", "DEPLOYMENT", "AGE"]
    expect(wide[0]!.split(/\s+/)).toEqual(columns)
    // No operator runs here: the status columns are empty, and kubectl leaves them blank.
    const rows = wide.slice(1).map((l) => l.split(/\s+/))
    expect(rows.map((r) => r.slice(0, 4))).toEqual([
      ["blue-one", "ws-blue", "b", "2099-01-01"],
      ["red-one", "ws-red", "r", "2099-01-01"],
    ])
    for (const r of rows) expect(r.at(-1)).toMatch(/^\d+s$/)
    const labels = (await ok("get", "awsb", "-n", "kc", "--show-labels", "-l", "team")).trimEnd().split("\n")
    expect(labels[0]!.split(/\s+/).at(-1)).toBe("LABELS")
    expect(labels.slice(1).map((l) => l.split(/\s+/).at(-1))).toEqual(["team=blue", "team=red"])
    expect(await ok("get", "awsb", "-n", "kc", "-l", "team=red", "-o", "name")).toBe("analyticsworkspacebinding.xlscsde.nhs.uk/red-one\n")
    expect(await ok("get", "awsb", "-n", "kc", "-l", "team in (green)", "-o", "name")).toBe("")
  })

  test("get -w prints the current rows, then each change as it happens", async () => {
    await ok("apply", "-f", file("watched.yaml", binding("watched", { workspace: "ws-w", username: "w", expires: "2099-01-01" }, { watched: "here" })))
    const w = spawnKubectl("get", "awsb", "-n", "kc", "-l", "watched=here", "-w")
    try {
      await waitFor(() => w.lines.length >= 2, { what: "header and first row" })
      expect(w.lines[0]!.split(/\s+/)).toEqual(["NAME", "WORKSPACE", "USERNAME", "EXPIRES", "STATUS", "READY", "DEPLOYMENT", "AGE"])
      expect(w.lines[1]).toMatch(/^watched\s+ws-w\s+w\s+2099-01-01\s+\d+s$/)
      await ok("scale", "awsb", "watched", "-n", "kc", "--replicas=1")
      await waitFor(() => w.lines.length >= 3, { what: "the change" })
      expect(w.lines[2]).toMatch(/^watched\s+ws-w\s+w\s+2099-01-01\s+\d+s$/)
    } finally {
      w.stop()
      await w.proc.exited
    }
  })

  test("describe shows the binding's spec and the Events about it", async () => {
    await ok("apply", "-f", file("described.yaml", binding("described", { workspace: "ws-d", username: "d", expires: "2099-01-01" })))
    const uid = JSON.parse(await ok("get", "awsb", "described", "-n", "kc", "-o", "json")).metadata.uid
    await ok(
      "create",
      "-f",
      file(
        "described-event.yaml",
        stringify({
          apiVersion: "v1",
          kind: "Event",
          metadata: { name: "described.1", namespace: "kc" },
          involvedObject: { apiVersion: "xlscsde.nhs.uk/v1", kind: "AnalyticsWorkspaceBinding", name: "described", namespace: "kc", uid },
          reason: "Provisioned",
          message: "browser ready",
          type: "Normal",
          source: { component: "test" },
          firstTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          lastTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          count: 1,
        }),
      ),
    )
    const out = await ok("describe", "awsb", "described", "-n", "kc")
    expect(out).toMatch(/^Name:\s+described$/m)
    expect(out).toMatch(/^\s+Workspace:\s+ws-d$/m)
    expect(out).toMatch(/^\s+Normal\s+Provisioned\s+\S+\s+test\s+browser ready$/m)
  })

  test("get events --sort-by=.lastTimestamp orders the events by time, not by name", async () => {
    const at = (mins: number) => new Date(Date.UTC(2026, 0, 1, 12, mins)).toISOString().replace(/\.\d+Z$/, "Z")
    const ev = (name: string, mins: number, message: string) => ({
      apiVersion: "v1",
      kind: "Event",
      metadata: { name, namespace: "sorted" },
      involvedObject: { kind: "ConfigMap", name: "x", namespace: "sorted" },
      reason: "Test",
      message,
      type: "Normal",
      firstTimestamp: at(mins),
      lastTimestamp: at(mins),
      count: 1,
    })
    await ok("create", "namespace", "sorted")
    await ok("create", "-f", file("events.yaml", stringify({ apiVersion: "v1", kind: "List", items: [ev("a", 30, "third"), ev("b", 10, "first"), ev("c", 20, "second")] })))
    const rows = (await ok("get", "events", "-n", "sorted", "--sort-by=.lastTimestamp")).trimEnd().split("\n").slice(1)
    expect(rows.map((r) => r.split(/\s+/).at(-1))).toEqual(["first", "second", "third"])
  })

  test("delete --wait returns once the object is gone, which its finalizer holds up", async () => {
    await ok("apply", "-f", file("held.yaml", stringify({ apiVersion: "xlscsde.nhs.uk/v1", kind: "AnalyticsWorkspaceBinding", metadata: { name: "held", namespace: "kc", finalizers: ["example.com/hold"] }, spec: { workspace: "ws1", username: "h", expires: "2099-01-01" } })))
    const del = spawnKubectl("delete", "awsb", "held", "-n", "kc", "--wait", "--timeout=30s")
    try {
      await waitFor(async () => (await on.getBinding("held"))?.metadata.deletionTimestamp, { what: "deletion requested" })
      await waitFor(() => del.lines.length >= 1, { what: "kubectl reports the deletion" })
      expect(del.lines[0]).toBe('analyticsworkspacebinding.xlscsde.nhs.uk "held" deleted')
      // Still held: kubectl must still be waiting.
      expect(del.proc.exitCode).toBeNull()
      await ok("patch", "awsb", "held", "-n", "kc", "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
      expect(await del.proc.exited).toBe(0)
      expect(await on.getBinding("held")).toBeUndefined()
    } finally {
      del.stop()
    }
  })
})

describe("standalone emulator", () => {
  test("prints one ready line with the kubeconfig and exits 0 on SIGTERM", async () => {
    const d = mkdtempSync(join(tmpdir(), "emulator-main-"))
    const kc = join(d, "kubeconfig")
    const proc = Bun.spawn(["bun", "run", join(import.meta.dir, "main.ts"), "--port", "0", "--kubeconfig", kc], { stdout: "pipe", stderr: "pipe" })
    try {
      const reader = proc.stdout.getReader()
      let out = ""
      await waitFor(async () => {
        const { value } = await reader.read()
        out += new TextDecoder().decode(value)
        return out.includes("\n")
      }, { timeoutMs: 10000, what: "ready line" })
      expect(out).toBe(`emulator ready: KUBECONFIG=${kc}\n`)
      const text = await Bun.file(kc).text()
      const server = /server: (http:\/\/127\.0\.0\.1:\d+)/.exec(text)![1]!
      expect((await fetch(`${server}/api/v1/namespaces/kube-system`)).status).toBe(200)
      reader.releaseLock()
      proc.kill("SIGTERM")
      expect(await proc.exited).toBe(0)
    } finally {
      proc.kill()
      rmSync(d, { recursive: true, force: true })
    }
  })
})
