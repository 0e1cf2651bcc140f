/**
 * The API servers the benchmark runs the operator against, each in processes
 * of its own so that their CPU time can be read apart from the operator's:
 *
 * - the emulator: bench/emulator.ts in a child process (the tests' emulator
 *   server, see test/support/servers.ts), asked over IPC for the operator's
 *   requests;
 * - kube-apiserver: startControlPlane() (test/support/control-plane.ts) with
 *   the tests' RBAC set-up for the operator's service account, the operator's
 *   requests read incrementally from the audit log.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from "node:fs"
import { join, resolve } from "node:path"
import type { Subprocess } from "bun"
import { Effect } from "effect"
import { make as makeKubeClient, type KubeClientService } from "../src/runtime/client.ts"
import { startControlPlane } from "../test/support/control-plane.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, loadYaml, projectCrdPath } from "../test/support/operator.ts"
import { repoRoot } from "../test/support/postgres.ts"
import { resourceType } from "../test/support/resource-types.ts"
import {
  applyManifests,
  OPERATOR_SERVICE_ACCOUNT,
  OPERATOR_USER,
  rbacManifests,
  rbacProbes,
  waitForGrants,
} from "../test/support/servers.ts"
import type { CompactRequest, EmulatorAnswer, EmulatorQuery } from "./emulator.ts"
import { findProcesses } from "../test/support/proc.ts"
import { KubeConfig } from "@kubernetes/client-node"

export type BenchServerKind = "emulator" | "kube-apiserver"

export interface BenchServer {
  readonly kind: BenchServerKind
  /** The administrator's client (the benchmark's own reads and writes). */
  readonly admin: KubeClientService
  /** A kubeconfig file for the operator's service account (deploy/rbac.yaml's rules). */
  readonly operatorKubeconfigPath: string
  /** The API server's processes: the emulator's; kube-apiserver and etcd. */
  apiServerPids(): number[]
  /** The control plane's controllers (kube-controller-manager, kube-scheduler, KWOK); none on the emulator. */
  controllerPids(): number[]
  /** Every request the operator has made so far (watches included), oldest first. */
  operatorRequests(): Promise<ReadonlyArray<CompactRequest>>
  /** Whether browser pods come up (the emulator's simulator; KWOK's node schedulable). */
  setWorkloads(enabled: boolean): Promise<void>
  stop(): Promise<void>
}

const namespaces = ["default", GUACAMOLE_NAMESPACE, BINDING_NAMESPACE]

async function emulatorServer(): Promise<BenchServer> {
  let answer: ((a: EmulatorAnswer) => void) | undefined
  const child: Subprocess = Bun.spawn(["bun", "run", resolve(repoRoot, "bench/emulator.ts")], {
    cwd: repoRoot,
    stdout: "pipe",
    stderr: "inherit",
    ipc: (message: EmulatorAnswer) => answer?.(message),
  })
  // Its first line says where its kubeconfigs are.
  const reader = (child.stdout as ReadableStream<Uint8Array>).getReader()
  let out = ""
  while (!out.includes("\n")) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`the emulator exited before it was ready: ${out}`)
    out += new TextDecoder().decode(value)
  }
  reader.releaseLock()
  const m = /emulator ready: KUBECONFIG=(\S+) OPERATOR_KUBECONFIG=(\S+)/.exec(out)
  if (!m) throw new Error(`the emulator said: ${out}`)
  const kc = new KubeConfig()
  kc.loadFromFile(m[1]!)
  // One question at a time.
  let queue: Promise<unknown> = Promise.resolve()
  const ask = (q: EmulatorQuery) => {
    const next = queue.then(
      () =>
        new Promise<EmulatorAnswer>((resolve) => {
          answer = resolve
          child.send(q)
        }),
    )
    queue = next
    return next
  }
  const requests: CompactRequest[] = []
  let since = 0
  return {
    kind: "emulator",
    admin: makeKubeClient(kc),
    operatorKubeconfigPath: m[2]!,
    apiServerPids: () => [child.pid],
    controllerPids: () => [],
    operatorRequests: async () => {
      const a = (await ask({ op: "requests", since })) as Extract<EmulatorAnswer, { next: number }>
      since = a.next
      for (const r of a.requests) requests.push(r)
      return requests
    },
    setWorkloads: async (enabled) => void (await ask({ op: "workloads", enabled })),
    stop: async () => {
      child.kill("SIGTERM")
      await child.exited
    },
  }
}

async function controlPlaneServer(): Promise<BenchServer> {
  const plane = await startControlPlane({ namespaces, crds: [loadYaml(projectCrdPath)], controllerQps: 500 })
  const admin = plane.admin
  await applyManifests(admin, rbacManifests())
  const token = await plane.serviceAccountToken(OPERATOR_SERVICE_ACCOUNT.namespace, OPERATOR_SERVICE_ACCOUNT.name, 24 * 3600)
  await waitForGrants(plane.kubeConfigFor(token), rbacProbes)
  const operatorKubeconfigPath = join(plane.dir, "operator.kubeconfig")
  plane.writeKubeconfigFor(token, operatorKubeconfigPath)
  const ofPlane = (names: string[]) => () => findProcesses((c) => c.includes(plane.dir) && names.some((n) => c.includes(`/${n} `) || c.startsWith(`${n} `)))
  // The audit log, read on from where the last read stopped. kube-apiserver rotates it at 100 MB
  // (renames it and starts a new one): the open descriptor still reads the renamed file to its end.
  const auditPath = join(plane.dir, "audit.log")
  const requests: CompactRequest[] = []
  let fd: number | undefined
  let offset = 0
  let partial = ""
  const chunk = Buffer.alloc(1 << 20)
  const drain = (from: number) => {
    for (;;) {
      const n = readSync(from, chunk, 0, chunk.length, offset)
      if (n === 0) return
      offset += n
      const lines = (partial + chunk.subarray(0, n).toString("utf8")).split("\n")
      partial = lines.pop()!
      for (const line of lines) {
        if (!line.includes(OPERATOR_USER)) continue
        const e = JSON.parse(line)
        if (e.user?.username !== OPERATOR_USER) continue
        const resource = e.objectRef?.subresource ? `${e.objectRef.resource}/${e.objectRef.subresource}` : (e.objectRef?.resource ?? "")
        requests.push([e.verb, resource, Date.parse(e.requestReceivedTimestamp)])
      }
    }
  }
  return {
    kind: "kube-apiserver",
    admin,
    operatorKubeconfigPath,
    apiServerPids: ofPlane(["kube-apiserver", "etcd"]),
    controllerPids: ofPlane(["kube-controller-manager", "kube-scheduler", "kwok"]),
    operatorRequests: async () => {
      for (;;) {
        if (fd === undefined) {
          if (!existsSync(auditPath)) return requests
          fd = openSync(auditPath, "r")
          offset = 0
        }
        drain(fd)
        // Rotated: the path names a new file. Read the old one to its end (done above), then the new one.
        if (existsSync(auditPath) && statSync(auditPath).ino !== fstatSync(fd).ino) {
          drain(fd)
          closeSync(fd)
          fd = undefined
          partial = ""
          continue
        }
        return requests
      }
    },
    setWorkloads: async (enabled) => {
      if (!plane.components.kwok) return
      await Effect.runPromise(
        admin.patch(resourceType("", "nodes"), undefined, "kwok-node-0", { type: "merge", body: { spec: { unschedulable: !enabled } } }),
      )
    },
    stop: async () => {
      if (fd !== undefined) closeSync(fd)
      await plane.stop()
    },
  }
}

export const startBenchServer = (kind: BenchServerKind): Promise<BenchServer> =>
  kind === "emulator" ? emulatorServer() : controlPlaneServer()

