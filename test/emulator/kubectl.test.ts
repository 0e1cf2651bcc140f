import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { startEmulator, type Emulator } from "./index.ts"
import { waitFor, widgetCRD } from "./testing.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

const HAVE_KUBECTL = Bun.which("kubectl") !== null

let api: Emulator
let dir: string

/** Runs kubectl asynchronously: the emulator serves from this same process. */
async function kubectl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const p = Bun.spawn(["kubectl", "--kubeconfig", api.kubeconfigPath, ...args], {
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

function file(name: string, text: string): string {
  const p = join(dir, name)
  writeFileSync(p, text)
  return p
}

describe.skipIf(!HAVE_KUBECTL)("kubectl against the emulator (skipped when kubectl is not installed)", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "emulator-kubectl-"))
    api = await startEmulator({ namespaces: ["k"] })
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
