/**
 * The two Kubernetes API servers tests run on, behind one interface: the
 * project's emulator (in process, HTTP, fault injection) and the real control
 * plane (kube-apiserver over HTTPS, see ./control-plane.ts). Test code is
 * written once against `TestServer` and run on each with `forEachServer`.
 */
import { describe } from "bun:test"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import type { KubeConfig } from "@kubernetes/client-node"
import { Effect, Either } from "effect"
import YAML from "yaml"
import { make as makeKubeClient, type KubeClientService, type KubeObject } from "../../src/runtime/client.ts"
import { startEmulator, type Emulator, type EmulatorOptions } from "@awms/kube-emulator"
import { controlPlaneAvailable, controlPlaneSkipReason, startControlPlane, type ControlPlane } from "./control-plane.ts"
import { repoRoot } from "./postgres.ts"
import type { ResourceType } from "../../src/runtime/resources.ts"
import { kindOf, resourceType, resourceTypeOfKind } from "./resource-types.ts"
import { waitFor } from "./wait.ts"

export type ServerKind = "emulator" | "real"

/** One write the operator made, as the server recorded it. */
export interface Write {
  readonly verb: string
  readonly resource: string
  readonly subresource?: string
  readonly namespace?: string
  readonly name?: string
}

/** One request the operator made (reads included), with the server's answer. */
export interface Request extends Write {
  readonly status: number
}

export interface TestServer {
  readonly kind: ServerKind
  readonly url: string
  readonly kubeconfigPath: string
  /** An administrator's KubeConfig. */
  kubeConfig(): KubeConfig
  /** The administrator's client, for the test's own reads and writes. */
  readonly admin: KubeClientService
  /** An object as the server holds it now, or undefined. */
  get(group: string, plural: string, namespace: string | undefined, name: string): Promise<any | undefined>
  list(group: string, plural: string, namespace?: string): Promise<any[]>
  /** The emulator, for what only it can do (fault injection, its request log); undefined on the real server. */
  readonly emulator: Emulator | undefined
  /** The real control plane; undefined on the emulator. */
  readonly controlPlane: ControlPlane | undefined
  /**
   * The operator's identity on this server: a ServiceAccount bound to exactly
   * deploy/rbac.yaml's rules, authenticated with a token (TokenRequest on the
   * real server, a registered token on the emulator, which then enforces RBAC).
   */
  operatorKubeConfig(): Promise<KubeConfig>
  /** The operator's writes since `mark()` (the emulator's request log, the real server's audit log). */
  writesSince(mark: WriteMark): Promise<Write[]>
  /** Every request the operator made since `mark()`, reads included, with the status it got. */
  requestsSince(mark: WriteMark): Promise<Request[]>
  mark(): WriteMark
  /**
   * Whether browser pods come up: the emulator's Deployment simulator, or on
   * the real server KWOK's node made (un)schedulable, so new pods stay Pending.
   */
  setWorkloads(enabled: boolean): Promise<void>
  stop(): Promise<void>
}

export type WriteMark = { readonly at: number }

export interface ServerOptions {
  readonly namespaces: ReadonlyArray<string>
  readonly crds: ReadonlyArray<unknown>
  /** Emulator only: its options (workload simulator, bookmarks, …). */
  readonly emulator?: EmulatorOptions
  /** Enforce RBAC with deploy/rbac.yaml for the operator (default true). */
  readonly rbac?: boolean
}

export const OPERATOR_SERVICE_ACCOUNT = { namespace: "guacamole", name: "awms-guacamole-operator" } as const
export const OPERATOR_USER = `system:serviceaccount:${OPERATOR_SERVICE_ACCOUNT.namespace}:${OPERATOR_SERVICE_ACCOUNT.name}`
const EMULATOR_OPERATOR_TOKEN = "operator-service-account-token"

/** Creates each manifest (or replaces it when it exists), as `kubectl apply` would for new objects. */
export async function applyManifests(kube: KubeClientService, docs: ReadonlyArray<any>): Promise<void> {
  for (const doc of docs) {
    if (!doc) continue
    const rt = resourceTypeOfKind(doc.kind)
    const ns = rt.namespaced ? (doc.metadata.namespace ?? "default") : undefined
    const created = await Effect.runPromise(Effect.either(kube.create(rt, ns, doc)))
    if (Either.isLeft(created)) {
      if (created.left._tag !== "KubeConflict") throw new Error(`applying ${doc.kind} ${doc.metadata.name}: ${created.left.message}`)
      const current = await Effect.runPromise(kube.get(rt, ns, doc.metadata.name))
      await Effect.runPromise(
        kube.replace(rt, ns, { ...doc, metadata: { ...doc.metadata, resourceVersion: current.metadata.resourceVersion } }),
      )
    }
  }
}

export const rbacManifests = (): any[] =>
  YAML.parseAllDocuments(readFileSync(resolve(repoRoot, "deploy/rbac.yaml"), "utf8")).map((d) => d.toJS())

/**
 * Waits until the server's authorizer grants `kc`'s user these permissions:
 * kube-apiserver's RBAC authorizer learns of new bindings through its own
 * watch, a moment after they are written.
 */
export async function waitForGrants(
  kc: KubeConfig,
  attributes: ReadonlyArray<{ verb: string; group: string; resource: string; namespace?: string }>,
): Promise<void> {
  const kube = makeKubeClient(kc)
  await waitFor(
    async () => {
      for (const resourceAttributes of attributes) {
        const review = (await Effect.runPromise(
          kube.request({
            method: "POST",
            path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            body: { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec: { resourceAttributes } },
          }),
        )) as { status?: { allowed?: boolean } }
        if (review.status?.allowed !== true) return false
      }
      return true
    },
    { timeoutMs: 20_000, message: "the new RBAC bindings to take effect" },
  )
}

/** What deploy/rbac.yaml grants, one permission from each of its roles. */
export const rbacProbes = [
  { verb: "watch", group: "xlscsde.nhs.uk", resource: "analyticsworkspacebindings" },
  { verb: "create", group: "", resource: "secrets", namespace: OPERATOR_SERVICE_ACCOUNT.namespace },
] as const

const getOrUndefined = async (kube: KubeClientService, rt: ResourceType, ns: string | undefined, name: string) => {
  const r = await Effect.runPromise(Effect.either(kube.get(rt, ns, name)))
  if (Either.isRight(r)) return r.right
  if (r.left._tag === "KubeNotFound") return undefined
  throw r.left
}

async function emulatorServer(options: ServerOptions): Promise<TestServer> {
  const rbac = options.rbac !== false
  const api = await startEmulator({
    namespaces: [...options.namespaces],
    crds: [...options.crds],
    ...options.emulator,
    ...(rbac
      ? {
          auth: {
            enforceRbac: true,
            users: { [EMULATOR_OPERATOR_TOKEN]: { username: OPERATOR_USER } },
            ...options.emulator?.auth,
          },
        }
      : {}),
  })
  const admin = makeKubeClient(api.kubeConfig())
  let rbacApplied = false
  const server: TestServer = {
    kind: "emulator",
    url: api.url,
    kubeconfigPath: api.kubeconfigPath,
    kubeConfig: () => api.kubeConfig(),
    admin,
    get: async (group, plural, namespace, name) => api.get(group, plural, namespace, name),
    list: async (group, plural, namespace) => api.list(group, plural, namespace),
    emulator: api,
    controlPlane: undefined,
    async operatorKubeConfig() {
      if (!rbac) return api.kubeConfig()
      if (!rbacApplied) {
        await applyManifests(admin, rbacManifests())
        rbacApplied = true
      }
      return api.kubeConfigFor(EMULATOR_OPERATOR_TOKEN)
    },
    mark: () => ({ at: api.requests.all().length }),
    writesSince: async (mark) => writesOf(await server.requestsSince(mark)),
    requestsSince: async (mark) =>
      api.requests
        .all()
        .slice(mark.at)
        .filter((r) => !rbac || r.user === OPERATOR_USER)
        .map((r) => ({
          verb: r.verb,
          resource: r.resource,
          ...(r.subresource ? { subresource: r.subresource } : {}),
          ...(r.namespace ? { namespace: r.namespace } : {}),
          ...(r.name ? { name: r.name } : {}),
          status: r.status,
        })),
    setWorkloads: async (enabled) => api.workloads.setEnabled(enabled),
    stop: () => api.stop(),
  }
  return server
}

async function realServer(options: ServerOptions): Promise<TestServer> {
  const plane = await startControlPlane({ namespaces: options.namespaces, crds: options.crds })
  const admin = plane.admin
  let operatorToken: string | undefined
  const server: TestServer = {
    kind: "real",
    url: plane.url,
    kubeconfigPath: plane.kubeconfigPath,
    kubeConfig: () => plane.kubeConfig(),
    admin,
    get: (group, plural, namespace, name) => getOrUndefined(admin, resourceType(group, plural), namespace, name),
    list: async (group, plural, namespace) =>
      (await Effect.runPromise(admin.list(resourceType(group, plural), namespace !== undefined ? { namespace } : {}))).items.map(
        (item) => withKind(group, plural, item),
      ),
    emulator: undefined,
    controlPlane: plane,
    async operatorKubeConfig() {
      if (options.rbac === false) return plane.kubeConfig()
      if (!operatorToken) {
        await applyManifests(admin, rbacManifests())
        operatorToken = await plane.serviceAccountToken(OPERATOR_SERVICE_ACCOUNT.namespace, OPERATOR_SERVICE_ACCOUNT.name)
        await waitForGrants(plane.kubeConfigFor(operatorToken), rbacProbes)
      }
      return plane.kubeConfigFor(operatorToken)
    },
    mark: () => ({ at: Date.now() }),
    writesSince: async (mark) => writesOf(await server.requestsSince(mark)),
    requestsSince: async (mark) =>
      plane
        .audit()
        .filter((e) => e.user.username === OPERATOR_USER && Date.parse(e.requestReceivedTimestamp) >= mark.at)
        .map((e) => ({
          verb: e.verb,
          resource: e.objectRef?.resource ?? "",
          ...(e.objectRef?.subresource ? { subresource: e.objectRef.subresource } : {}),
          ...(e.objectRef?.namespace ? { namespace: e.objectRef.namespace } : {}),
          ...(e.objectRef?.name ? { name: e.objectRef.name } : {}),
          status: e.responseStatus?.code ?? 0,
        })),
    setWorkloads: async (enabled) => {
      if (!plane.components.kwok) return
      await Effect.runPromise(
        admin.patch(resourceType("", "nodes"), undefined, "kwok-node-0", { type: "merge", body: { spec: { unschedulable: !enabled } } }),
      )
    },
    stop: () => plane.stop(),
  }
  return server
}

/** List items of built-in kinds come without apiVersion and kind on the wire; the emulator's direct reads have them. */
const withKind = (group: string, plural: string, item: KubeObject): KubeObject => {
  const kind = kindOf(group, plural)
  return { apiVersion: group ? `${group}/v1` : "v1", ...(kind ? { kind } : {}), ...item }
}

const writeVerbs = new Set(["create", "update", "patch", "delete", "deletecollection"])
const writesOf = (requests: ReadonlyArray<Request>): Write[] =>
  requests.filter((r) => writeVerbs.has(r.verb)).map(({ status: _status, ...write }) => write)

export { resourceType, resourceTypeOfKind }

export const startServer = (kind: ServerKind, options: ServerOptions): Promise<TestServer> =>
  kind === "real" ? realServer(options) : emulatorServer(options)

/** The servers this machine can run: the emulator always, the real control plane when built. */
export const availableServers = (): ServerKind[] => (controlPlaneAvailable() ? ["emulator", "real"] : ["emulator"])

/**
 * Declares `body` once per API server: `describe("<name> [emulator]")` and
 * `describe("<name> [kube-apiserver]")`; the latter is skipped, with the
 * reason in its name, where the real control plane is not built.
 */
export function forEachServer(name: string, body: (kind: ServerKind) => void, only?: ReadonlyArray<ServerKind>): void {
  for (const kind of only ?? (["emulator", "real"] as const)) {
    const label = `${name} [${kind === "real" ? "kube-apiserver" : "emulator"}]`
    if (kind === "real" && !controlPlaneAvailable()) describe.skip(`${label} — skipped: ${controlPlaneSkipReason}`, () => body(kind))
    else describe(label, () => body(kind))
  }
}

/** Waits until the server has deleted an object (finalizers and garbage collection may take a moment). */
export const waitGone = (server: TestServer, group: string, plural: string, namespace: string | undefined, name: string, timeoutMs = 20_000) =>
  waitFor(async () => (await server.get(group, plural, namespace, name)) === undefined, {
    timeoutMs,
    message: `${plural} ${namespace ? `${namespace}/` : ""}${name} to be gone`,
  })
