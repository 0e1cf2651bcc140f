/**
 * A Kubernetes API server emulator: `startEmulator()` serves the kube-apiserver
 * protocol in-process. What it reproduces and what it does not: ./README.md.
 */
import { KubeConfig } from "@kubernetes/client-node"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { stringify } from "yaml"
import { Api } from "./api.ts"
import { Auth, type AuthOptions } from "./auth.ts"
import { ApiError } from "./errors.ts"
import { Faults, RequestLog, type FailOptions, type FaultMatch, type RequestRecord } from "./faults.ts"
import { ApiServer } from "./server.ts"
import { grKey, objKey } from "./store.ts"
import { WatchHub } from "./watch.ts"
import { Workloads } from "./workloads.ts"

export type { RequestRecord, FaultMatch, FailOptions, AuthOptions }

export interface EmulatorOptions {
  /** default 0 (ephemeral) */
  port?: number
  /** default: a fresh temp file */
  kubeconfigPath?: string
  /** events kept for watch resumption, default 1000 */
  historySize?: number
  /** created at start, default ["default"]; kube-system too */
  namespaces?: string[]
  /** CRD objects to install at start (parsed YAML) */
  crds?: unknown[]
  /** workload simulator, default off */
  workloads?: { enabled?: boolean; delayMs?: number }
  /** interval of BOOKMARK events on watches that allow them, default 60 000 ms (a real watch cache sends one about once a minute) */
  bookmarkIntervalMs?: number
  /**
   * Authentication (token → user) and, with enforceRbac, RBAC authorisation by the stored
   * Roles and bindings; default off. The emulator's own token stays a system:masters admin.
   */
  auth?: AuthOptions
}

export interface Emulator {
  readonly url: string
  readonly kubeconfigPath: string
  kubeConfig(): KubeConfig
  /** A KubeConfig for this server that authenticates with `token` (see `auth.users`). */
  kubeConfigFor(token: string): KubeConfig
  /** Writes a kubeconfig file for this server that authenticates with `token` (mode 0600). */
  writeKubeconfigFor(token: string, path: string): void
  readonly requests: {
    all(): RequestRecord[]
    clear(): void
    /** create|update|patch|delete */
    writes(filter?: Partial<RequestRecord>): RequestRecord[]
    count(filter?: Partial<RequestRecord>): number
  }
  readonly faults: {
    failNext(match: FaultMatch, opts: FailOptions): void
    addLatency(match: FaultMatch, ms: number): void
    /** close every open watch connection now */
    dropWatches(): void
    /** keep open watch connections open but never send on them again */
    stallWatches(): void
    /** forget the watch event history: resuming any older resourceVersion gets 410 Gone */
    compactHistory(): void
    /** close the listening socket, re-listen on the same port after ms */
    refuseConnections(ms: number): void
    /**
     * answer the next `resourceVersion=0` list matching as a watch cache still at resourceVersion
     * `asOf` would: without the objects changed since, which a watch from there then brings
     */
    staleList(match: FaultMatch, asOf: number): void
    /** the store's current resourceVersion */
    resourceVersion(): number
    clear(): void
  }
  readonly workloads: { setEnabled(on: boolean): void; setDelay(ms: number): void }
  /** Direct store access for assertions without going through HTTP (does not appear in the request log). */
  get(group: string, resource: string, namespace: string | undefined, name: string): any | undefined
  list(group: string, resource: string, namespace?: string): any[]
  /** The number of open watch connections. */
  openWatches(): number
  stop(): Promise<void>
}

export const EMULATOR_TOKEN = "emulator-token"

function kubeconfigYaml(url: string, token = EMULATOR_TOKEN): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    // client-node refuses plain http unless TLS verification is (vacuously) skipped.
    clusters: [{ name: "emulator", cluster: { server: url, "insecure-skip-tls-verify": true } }],
    users: [{ name: "emulator", user: { token } }],
    contexts: [{ name: "emulator", context: { cluster: "emulator", user: "emulator", namespace: "default" } }],
    "current-context": "emulator",
    preferences: {},
  })
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const api = new Api(opts.historySize ?? 1000)
  const log = new RequestLog()
  const faults = new Faults()
  const hub = new WatchHub(api.store, opts.bookmarkIntervalMs ?? 60_000)
  api.hooks.onUnserve = (t) => hub.closeType(t)
  const workloads = new Workloads(api, opts.workloads)

  const nsType = api.registry.byResource("", "namespaces")!
  for (const ns of new Set(["default", "kube-system", ...(opts.namespaces ?? [])])) {
    api.create({ type: nsType, version: "v1" }, { metadata: { name: ns } })
  }
  const crdType = api.registry.byResource("apiextensions.k8s.io", "customresourcedefinitions")!
  for (const crd of opts.crds ?? []) {
    try {
      api.create({ type: crdType, version: "v1" }, crd)
    } catch (e) {
      if (e instanceof ApiError) throw new Error(`installing CRD: ${e.message}`)
      throw e
    }
  }

  let port = opts.port ?? 0
  let server: ReturnType<typeof Bun.serve> | undefined
  const apiServer = new ApiServer(api, hub, log, faults, () => port)
  const auth = new Auth(api, opts.auth, EMULATOR_TOKEN)
  apiServer.authenticate = (req) => auth.authenticate(req)
  apiServer.authorize = (attrs, req) => auth.authorize(attrs, req)
  apiServer.intercept = (attrs, req, body) => auth.intercept(attrs, req, body)
  const listen = () =>
    Bun.serve({
      hostname: "127.0.0.1",
      port,
      idleTimeout: 0,
      fetch: (req) => apiServer.handle(req),
    })
  server = listen()
  port = server.port!
  const url = `http://127.0.0.1:${port}`

  let ownKubeconfigDir: string | undefined
  let kubeconfigPath = opts.kubeconfigPath
  if (!kubeconfigPath) {
    ownKubeconfigDir = mkdtempSync(join(tmpdir(), "kube-emulator-"))
    kubeconfigPath = join(ownKubeconfigDir, "kubeconfig")
  }
  writeFileSync(kubeconfigPath, kubeconfigYaml(url), { mode: 0o600 })

  let relisten: ReturnType<typeof setTimeout> | undefined
  let stopped = false

  const emulator: Emulator = {
    url,
    kubeconfigPath,
    kubeConfig() {
      const kc = new KubeConfig()
      kc.loadFromString(kubeconfigYaml(url))
      return kc
    },
    kubeConfigFor(token) {
      const kc = new KubeConfig()
      kc.loadFromString(kubeconfigYaml(url, token))
      return kc
    },
    writeKubeconfigFor(token, path) {
      writeFileSync(path, kubeconfigYaml(url, token), { mode: 0o600 })
    },
    requests: {
      all: () => log.all(),
      clear: () => log.clear(),
      writes: (f) => log.writes(f),
      count: (f) => log.count(f),
    },
    faults: {
      failNext: (m, o) => faults.failNext(m, o),
      addLatency: (m, ms) => faults.addLatency(m, ms),
      dropWatches: () => hub.dropAll(),
      stallWatches: () => hub.stallAll(),
      compactHistory: () => api.store.compact(),
      staleList: (m, asOf) => faults.staleList(m, asOf),
      resourceVersion: () => api.store.resourceVersion,
      refuseConnections(ms: number) {
        if (stopped || !server) return
        const s = server
        server = undefined
        hub.dropAll()
        void s.stop(true)
        if (relisten) clearTimeout(relisten)
        relisten = setTimeout(function again(attempt = 0) {
          relisten = undefined
          if (stopped) return
          try {
            server = listen()
          } catch (e) {
            if (attempt < 50) relisten = setTimeout(() => again(attempt + 1), 20)
            else throw e
          }
        }, ms)
      },
      clear: () => faults.clear(),
    },
    workloads: {
      setEnabled: (on) => workloads.setEnabled(on),
      setDelay: (ms) => workloads.setDelay(ms),
    },
    get(group, resource, namespace, name) {
      const type = api.registry.byResource(group, resource)
      if (!type) return undefined
      const obj = api.store.get(api.gr(type), objKey(type.namespaced ? namespace : undefined, name))
      return obj ? api.toExternal(type, type.versions[0]!, obj) : undefined
    },
    list(group, resource, namespace) {
      const type = api.registry.byResource(group, resource)
      if (!type) return []
      return api.store.list(api.gr(type), namespace).map(({ obj }) => api.toExternal(type, type.versions[0]!, obj))
    },
    openWatches: () => hub.size,
    async stop() {
      if (stopped) return
      stopped = true
      if (relisten) clearTimeout(relisten)
      workloads.stop()
      api.stop()
      hub.stop()
      const s = server
      server = undefined
      if (s) await s.stop(true)
      if (ownKubeconfigDir) rmSync(ownKubeconfigDir, { recursive: true, force: true })
    },
  }
  void grKey
  return emulator
}
