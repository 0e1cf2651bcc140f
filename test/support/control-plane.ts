/**
 * A real Kubernetes control plane for tests, started like the emulator and
 * with the same handle shape (url, kubeconfigPath, kubeConfig(), stop()):
 *
 * - etcd on a temporary data dir and loopback ports;
 * - kube-apiserver over HTTPS with a CA made for this run, client-certificate
 *   and static-token authentication, RBAC, service-account tokens
 *   (TokenRequest), the default admission plugins and an audit log of writes;
 * - kube-controller-manager (garbage collection, namespaces, Deployments →
 *   ReplicaSets → Pods, service accounts), kube-scheduler, and KWOK faking one
 *   node and its pods' lifecycle, so a Deployment's status moves as on a
 *   cluster.
 *
 * The binaries come from test/control-plane/tools.ts (KUBEBUILDER_ASSETS or
 * the build cache); `controlPlaneAvailable()` says whether they are there.
 * Without kube-controller-manager, kube-scheduler or KWOK (an envtest folder
 * holds only kube-apiserver and etcd), the control plane runs without them and
 * says so in `components`.
 */
import { spawnSync, type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { KubeConfig } from "@kubernetes/client-node"
import { Effect } from "effect"
import { stringify } from "yaml"
import { make as makeKubeClient, type KubeClientService } from "../../src/runtime/client.ts"
import { findTool, type Tool } from "../control-plane/tools.ts"
import { resourceType } from "./resource-types.ts"
import { waitFor } from "./wait.ts"

export interface ControlPlaneOptions {
  /** created at start (beside default, kube-system, kube-public) */
  readonly namespaces?: ReadonlyArray<string>
  /** CRD objects to install at start (parsed YAML); start waits until they are Established */
  readonly crds?: ReadonlyArray<unknown>
  /** Run kube-controller-manager, kube-scheduler and KWOK when built (default true). */
  readonly workloads?: boolean
  /**
   * Client QPS of kube-controller-manager and kube-scheduler (burst twice that); default theirs (20).
   * The benchmark raises it so that thousands of Deployments are rolled out at the operator's pace.
   */
  readonly controllerQps?: number
}

/** One entry of the API server's audit log (the fields tests read). */
export interface AuditEvent {
  readonly verb: string
  readonly user: { readonly username: string; readonly groups?: ReadonlyArray<string> }
  readonly objectRef?: {
    readonly resource?: string
    readonly namespace?: string
    readonly name?: string
    readonly apiGroup?: string
    readonly subresource?: string
  }
  readonly responseStatus?: { readonly code?: number }
  readonly userAgent?: string
  readonly requestReceivedTimestamp: string
}

export interface ControlPlane {
  readonly kind: "real"
  readonly url: string
  /** The admin's kubeconfig (client certificate in system:masters). */
  readonly kubeconfigPath: string
  readonly version: string
  readonly components: { readonly controllerManager: boolean; readonly scheduler: boolean; readonly kwok: boolean }
  /** Seconds from start to a ready API server with its namespaces and CRDs. */
  readonly startSeconds: number
  /** The PEM of this run's CA. */
  readonly caPem: string
  /** A static token the API server knows, for user `token-user` (no RBAC grants). */
  readonly staticToken: string
  /** Files of this run: ca.crt, admin.crt/key, … */
  readonly dir: string
  kubeConfig(): KubeConfig
  /** A KubeConfig for this server that authenticates with `token`. */
  kubeConfigFor(token: string): KubeConfig
  writeKubeconfigFor(token: string, path: string): void
  /** The admin's client for the test's own reads and writes. */
  readonly admin: KubeClientService
  /** A token for a ServiceAccount through TokenRequest. */
  serviceAccountToken(namespace: string, name: string, expirationSeconds?: number): Promise<string>
  /** The audit log's entries so far: every request of a service account, and every write. */
  audit(): AuditEvent[]
  stop(): Promise<void>
}

/** Whether this machine has the binaries of a real control plane (built by `bun run tools:build`). */
export const controlPlaneAvailable = (): boolean => findTool("kube-apiserver") !== undefined && findTool("etcd") !== undefined

export const controlPlaneSkipReason =
  "the real control plane is not built here (needs Go: bun run tools:build, or KUBEBUILDER_ASSETS)"

const STATIC_TOKEN = "static-token-for-tests"

// The built-in resource types the control plane's own set-up reads and writes.
const NODES = resourceType("", "nodes")
const NAMESPACES = resourceType("", "namespaces")
const SERVICE_ACCOUNTS = resourceType("", "serviceaccounts")
const CRDS = resourceType("apiextensions.k8s.io", "customresourcedefinitions")
const ADMIN = "admin"

const freePort = (): number => {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } })
  const port = listener.port
  listener.stop(true)
  return port
}

const openssl = (dir: string, args: string[]) => {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" })
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`)
}

/** A CA for this run, the API server's serving certificate, an admin client certificate and the service-account key. */
const makePki = (dir: string) => {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
  openssl(dir, [
    "req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=awms-test-ca",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ])
  const sign = (name: string, subject: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext)
    openssl(dir, ["req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject])
    openssl(dir, [
      "x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
      "-out", `${name}.crt`, "-days", "2", "-extfile", `${name}.ext`,
    ])
  }
  sign(
    "apiserver",
    "/CN=kube-apiserver",
    "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,DNS:control-plane.test\n" +
      "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
  )
  sign("admin", `/O=system:masters/CN=${ADMIN}`, "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
  openssl(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", "sa.key"])
  openssl(dir, ["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"])
  writeFileSync(join(dir, "tokens.csv"), `${STATIC_TOKEN},token-user,token-user-uid\n`, { mode: 0o600 })
}

const AUDIT_POLICY = stringify({
  apiVersion: "audit.k8s.io/v1",
  kind: "Policy",
  omitStages: ["RequestReceived", "ResponseStarted", "Panic"],
  rules: [
    // Every request of a service account (the operator's, reads included), and everyone's writes.
    { level: "Metadata", userGroups: ["system:serviceaccounts"] },
    { level: "Metadata", verbs: ["create", "update", "patch", "delete", "deletecollection"] },
    { level: "None" },
  ],
})

interface Process {
  readonly name: string
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
}

const run = (dir: string, name: string, bin: string, args: string[]): Process => {
  const log = createWriteStream(join(dir, `${name}.log`))
  const child = spawn(bin, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HOME: dir } })
  child.stdout?.pipe(log)
  child.stderr?.pipe(log)
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return { name, child, exited }
}

const stopProcess = async (p: Process) => {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return
  p.child.kill("SIGTERM")
  const killed = await Promise.race([p.exited.then(() => true), Bun.sleep(10_000).then(() => false)])
  if (!killed) {
    p.child.kill("SIGKILL")
    await p.exited
  }
}

const tail = (dir: string, name: string) => {
  const path = join(dir, `${name}.log`)
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").slice(-15).join("\n") : ""
}

const kubeconfigYaml = (url: string, caPem: string, user: Record<string, unknown>) =>
  stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "control-plane", cluster: { server: url, "certificate-authority-data": Buffer.from(caPem).toString("base64") } }],
    users: [{ name: "user", user }],
    contexts: [{ name: "control-plane", context: { cluster: "control-plane", user: "user", namespace: "default" } }],
    "current-context": "control-plane",
  })

/**
 * Starts a control plane. Its ports are picked free just before each server
 * binds them, so another process on the machine can take one in between: a
 * start that fails because a port was taken is tried again with new ports.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options)
    } catch (error) {
      const portTaken = error instanceof Error && /address already in use/i.test(error.message)
      if (!portTaken || attempt >= 3) throw error
    }
  }
}

async function startOnce(options: ControlPlaneOptions): Promise<ControlPlane> {
  const bin = (t: Tool) => {
    const path = findTool(t)
    if (!path) throw new Error(controlPlaneSkipReason)
    return path
  }
  const started = performance.now()
  const dir = mkdtempSync(join(tmpdir(), "control-plane-"))
  const processes: Process[] = []
  const stopAll = async () => {
    for (const p of [...processes].reverse()) await stopProcess(p)
  }
  try {
    makePki(dir)
    writeFileSync(join(dir, "audit-policy.yaml"), AUDIT_POLICY)
    const caPem = readFileSync(join(dir, "ca.crt"), "utf8")

    const etcdClient = freePort()
    const etcdPeer = freePort()
    mkdirSync(join(dir, "etcd"))
    const etcd = run(dir, "etcd", bin("etcd"), [
      "--name=default",
      `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
      "--unsafe-no-fsync",
      "--log-level=warn",
    ])
    processes.push(etcd)

    const port = freePort()
    const url = `https://127.0.0.1:${port}`
    const apiserver = run(dir, "kube-apiserver", bin("kube-apiserver"), [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      `--secure-port=${port}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--cert-dir=${join(dir, "certs")}`,
      "--tls-cert-file=apiserver.crt",
      "--tls-private-key-file=apiserver.key",
      "--client-ca-file=ca.crt",
      "--token-auth-file=tokens.csv",
      "--authorization-mode=RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      "--service-account-key-file=sa.pub",
      "--service-account-signing-key-file=sa.key",
      "--service-cluster-ip-range=10.96.0.0/16",
      "--audit-policy-file=audit-policy.yaml",
      "--audit-log-path=audit.log",
      "--audit-log-format=json",
      "--audit-log-mode=blocking",
      "--allow-privileged=true",
      "--v=0",
    ])
    processes.push(apiserver)

    const adminYaml = kubeconfigYaml(url, caPem, {
      "client-certificate-data": Buffer.from(readFileSync(join(dir, "admin.crt"))).toString("base64"),
      "client-key-data": Buffer.from(readFileSync(join(dir, "admin.key"))).toString("base64"),
    })
    const kubeconfigPath = join(dir, "admin.kubeconfig")
    writeFileSync(kubeconfigPath, adminYaml, { mode: 0o600 })
    const kubeConfig = () => {
      const kc = new KubeConfig()
      kc.loadFromString(adminYaml)
      return kc
    }
    const admin = makeKubeClient(kubeConfig())

    // Ready, or one of the two servers exited (a taken port, a bad flag): then fail at once with its log.
    const exited = (p: Process) => {
      const failed = p.exited.then(() => Promise.reject(new Error(`${p.name} exited:\n${tail(dir, p.name)}`)))
      failed.catch(() => {}) // they exit at stop() too, long after the race is decided
      return failed
    }
    await Promise.race([
      waitFor(
        async () => {
          await Effect.runPromise(admin.request({ method: "GET", path: "/readyz" }))
          return true
        },
        { timeoutMs: 90_000, intervalMs: 200, message: "kube-apiserver to be ready" },
      ),
      exited(apiserver),
      exited(etcd),
    ])
    const version = ((await Effect.runPromise(admin.request({ method: "GET", path: "/version" }))) as { gitVersion: string })
      .gitVersion

    const workloads = options.workloads !== false
    const qps = options.controllerQps ? [`--kube-api-qps=${options.controllerQps}`, `--kube-api-burst=${2 * options.controllerQps}`] : []
    const kcm = workloads ? findTool("kube-controller-manager") : undefined
    if (kcm) {
      processes.push(
        run(dir, "kube-controller-manager", kcm, [
          `--kubeconfig=${kubeconfigPath}`,
          "--controllers=garbagecollector,namespace,deployment,replicaset,serviceaccount,serviceaccount-token,root-ca-cert-publisher,clusterrole-aggregation,nodelifecycle",
          "--service-account-private-key-file=sa.key",
          "--root-ca-file=ca.crt",
          "--leader-elect=false",
          "--secure-port=0",
          "--concurrent-gc-syncs=5",
          ...qps,
          "--v=0",
        ]),
      )
    }
    const scheduler = workloads ? findTool("kube-scheduler") : undefined
    if (scheduler) {
      processes.push(
        run(dir, "kube-scheduler", scheduler, [`--kubeconfig=${kubeconfigPath}`, "--leader-elect=false", "--secure-port=0", ...qps, "--v=0"]),
      )
    }
    const kwok = workloads && scheduler ? findTool("kwok") : undefined
    if (kwok) {
      processes.push(
        run(dir, "kwok", kwok, [
          `--kubeconfig=${kubeconfigPath}`,
          "--manage-all-nodes=false",
          "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
          "--node-ip=127.0.0.1",
          "--cidr=10.244.0.0/16",
          `--server-address=127.0.0.1:${freePort()}`,
          // KWOK keeps the node's Lease (and status) fresh; without one the node lifecycle controller marks
          // the node NotReady after its grace period, and with it every browser pod unready.
          "--node-lease-duration-seconds=40",
        ]),
      )
      await Effect.runPromise(
        admin.create(NODES, undefined, {
          apiVersion: "v1",
          kind: "Node",
          metadata: {
            name: "kwok-node-0",
            annotations: { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
            labels: { "kubernetes.io/hostname": "kwok-node-0", "kubernetes.io/os": "linux", type: "kwok" },
          },
          spec: {},
        }),
      )
    }

    if (kwok && kcm) {
      // The node admission taints a new node not-ready until the node lifecycle controller sees KWOK's heartbeat.
      await waitFor(
        async () => {
          const node = await Effect.runPromise(admin.get(NODES, undefined, "kwok-node-0"))
          const ready = (node.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True")
          return ready && !(node.spec?.taints ?? []).some((t: any) => t.key === "node.kubernetes.io/not-ready")
        },
        { timeoutMs: 60_000, message: "KWOK's node to be Ready and schedulable" },
      )
    }
    for (const name of options.namespaces ?? []) {
      if (["default", "kube-system", "kube-public"].includes(name)) continue
      await Effect.runPromise(admin.create(NAMESPACES, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name } }))
    }
    for (const crd of options.crds ?? []) {
      const created = await Effect.runPromise(admin.create(CRDS, undefined, crd as object))
      await waitFor(
        async () => {
          const got = await Effect.runPromise(admin.get(CRDS, undefined, created.metadata.name))
          return (got.status?.conditions ?? []).some((c: any) => c.type === "Established" && c.status === "True")
        },
        { timeoutMs: 30_000, message: `CRD ${created.metadata.name} to be established` },
      )
    }
    // Pods need their namespace's default ServiceAccount (made by the controller manager).
    if (kcm) {
      for (const ns of ["default", ...(options.namespaces ?? [])]) {
        await waitFor(
          async () => (await Effect.runPromise(Effect.either(admin.get(SERVICE_ACCOUNTS, ns, "default"))))._tag === "Right",
          { timeoutMs: 30_000, message: `the default ServiceAccount in ${ns}` },
        )
      }
    }

    const startSeconds = (performance.now() - started) / 1000
    let stopped = false
    const plane: ControlPlane = {
      kind: "real",
      url,
      kubeconfigPath,
      version,
      components: { controllerManager: kcm !== undefined, scheduler: scheduler !== undefined, kwok: kwok !== undefined },
      startSeconds,
      caPem,
      staticToken: STATIC_TOKEN,
      dir,
      kubeConfig,
      kubeConfigFor(token) {
        const kc = new KubeConfig()
        kc.loadFromString(kubeconfigYaml(url, caPem, { token }))
        return kc
      },
      writeKubeconfigFor(token, path) {
        writeFileSync(path, kubeconfigYaml(url, caPem, { token }), { mode: 0o600 })
      },
      admin,
      async serviceAccountToken(namespace, name, expirationSeconds = 3600) {
        const answer = (await Effect.runPromise(
          admin.request({
            method: "POST",
            path: `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
            body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds } },
          }),
        )) as { status: { token: string } }
        return answer.status.token
      },
      audit() {
        const path = join(dir, "audit.log")
        if (!existsSync(path)) return []
        return readFileSync(path, "utf8")
          .split("\n")
          .filter((line) => line.trim() !== "")
          .map((line) => JSON.parse(line) as AuditEvent)
      },
      async stop() {
        if (stopped) return
        stopped = true
        await stopAll()
        rmSync(dir, { recursive: true, force: true })
      },
    }
    return plane
  } catch (error) {
    await stopAll()
    if (process.env.KEEP_CONTROL_PLANE_DIR) console.error(`control plane files kept in ${dir}`)
    else rmSync(dir, { recursive: true, force: true })
    throw error
  }
}
