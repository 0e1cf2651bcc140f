/**
 * An operator under test: a Kubernetes API server (the emulator, or the real
 * control plane: see ./servers.ts), a fresh Guacamole database, and the
 * operator itself running in this process through the same code path as
 * production (runOperator), pointed at them with its own service account's
 * credentials (deploy/rbac.yaml's rules, enforced by the server).
 */
import { existsSync, readFileSync } from "node:fs"
import { resolve } from "node:path"
import type { KubeConfig } from "@kubernetes/client-node"
import { type Clock, Duration, Effect, Exit, Layer, Logger, LogLevel, Redacted, Scope } from "effect"
import YAML from "yaml"
import { defaultIdleSettings, OPERATOR_NAME, type OperatorConfig } from "../../src/config.ts"
import type { DbSettings } from "../../src/guacamole/settings.ts"
import { defaultBrowserPod } from "../../src/domain/browser-pod.ts"
import type { KubeClientService, KubeObject } from "../../src/runtime/client.ts"
import { Bindings } from "../../src/runtime/resources.ts"
import { runOperator, type OperatorHandle, type OperatorOptions } from "../../src/operator.ts"
import type { Emulator, EmulatorOptions } from "@awms/kube-emulator"
import { createTestDatabase, repoRoot, type TestDatabase } from "./postgres.ts"
import { startServer, type ServerKind, type TestServer, type Write } from "./servers.ts"
import { isSettledOn } from "./settled.ts"
import { waitFor } from "./wait.ts"

export const GUACAMOLE_NAMESPACE = "guacamole"
export const BINDING_NAMESPACE = "jupyterhub"

export const projectCrdPath = resolve(repoRoot, "deploy/crd-analyticsworkspacebindings.yaml")
export const fixtureCrdPath: string | undefined = (() => {
  const p = resolve(repoRoot, "../shared/fixtures/crds/analyticsworkspacebindings.xlscsde.nhs.uk.yaml")
  return existsSync(p) ? p : undefined
})()

export const loadYaml = (path: string): unknown => YAML.parse(readFileSync(path, "utf8"))

export interface HarnessOptions {
  /** Which API server (default the emulator). */
  readonly server?: ServerKind
  /** Run the operator with deploy/rbac.yaml's service account, enforced by the server (default true). */
  readonly rbac?: boolean
  /** Which binding CRD the API server has: the project's (default) or the field's fixture. */
  readonly crd?: "project" | "fixture"
  readonly emulator?: EmulatorOptions
  readonly config?: Partial<OperatorConfig>
  /** Database settings on top of the test database's own (pool size, timeouts). */
  readonly db?: Partial<Omit<DbSettings, "host" | "port" | "database" | "username" | "password">>
  readonly operator?: OperatorOptions
  /** Start the operator at once (default true). */
  readonly start?: boolean
  /** Collects every log line the operator writes (JSON), at every level. */
  readonly logs?: string[]
  /** The operator's clock (default: the real one). */
  readonly clock?: Clock.Clock
}

export interface Harness {
  readonly server: TestServer
  /** The emulator, for fault injection and its request log: throws on the real server. */
  readonly api: Emulator
  readonly db: TestDatabase
  /** An administrator's KubeConfig. */
  readonly kc: KubeConfig
  /** A client for the test's own reads and writes (not the operator's). */
  readonly kube: KubeClientService
  /** The operator's configuration (the next start's, after `reconfigure`). */
  readonly config: OperatorConfig
  /** Changes settings for the next `startOperator` (as an operator redeployed with new environment variables). */
  reconfigure(overrides: Partial<OperatorConfig>): void
  operator(): OperatorHandle
  startOperator(options?: OperatorOptions): Promise<OperatorHandle>
  stopOperator(): Promise<void>
  createBinding(name: string, spec: Record<string, unknown>, namespace?: string): Promise<KubeObject>
  /** An object as the server holds it now (undefined when absent). */
  get(group: string, plural: string, namespace: string | undefined, name: string): Promise<any | undefined>
  list(group: string, plural: string, namespace?: string): Promise<any[]>
  binding(name: string, namespace?: string): Promise<KubeObject | undefined>
  waitForStatus(name: string, statusText: string, timeoutMs?: number): Promise<KubeObject>
  close(): Promise<void>
}

export const testConfig = (db: TestDatabase, overrides: Partial<OperatorConfig> = {}): OperatorConfig => ({
  db: db.settings,
  workload: {
    namespace: GUACAMOLE_NAMESPACE,
    imageName: "browser:test",
    browserUrl: "https://jupyter.test",
    operatorName: OPERATOR_NAME,
    pod: defaultBrowserPod,
  },
  idle: defaultIdleSettings,
  watchNamespaces: [],
  logLevel: "error",
  logFormat: "json",
  concurrency: 4,
  httpPort: 0,
  resyncInterval: Duration.minutes(10),
  verifyInterval: Duration.minutes(1),
  watchTimeoutSeconds: 60,
  watchIdleTimeout: Duration.seconds(90),
  leaderElection: false,
  kubeconfig: undefined,
  ...overrides,
})

const testLogging = Layer.merge(
  Logger.json,
  Logger.minimumLogLevel(process.env.TEST_LOG_LEVEL === "debug" ? LogLevel.Debug : LogLevel.None),
)

const collectingLogging = (lines: string[]) =>
  Layer.merge(
    Logger.replace(
      Logger.defaultLogger,
      Logger.map(Logger.jsonLogger, (line) => void lines.push(line)),
    ),
    Logger.minimumLogLevel(LogLevel.All),
  )

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const crdPath = options.crd === "fixture" ? fixtureCrdPath : projectCrdPath
  if (!crdPath) throw new Error("the fixture CRD is not available (../shared is absent)")
  const server = await startServer(options.server ?? "emulator", {
    namespaces: ["default", GUACAMOLE_NAMESPACE, BINDING_NAMESPACE],
    crds: [loadYaml(crdPath)],
    ...(options.emulator ? { emulator: options.emulator } : {}),
    rbac: options.rbac !== false,
  })
  const db = await createTestDatabase()
  const kc = server.kubeConfig()
  const kube = server.admin
  const base = testConfig(db, options.config)
  let config: OperatorConfig = options.db ? { ...base, db: { ...base.db, ...options.db } } : base
  let scope: Scope.CloseableScope | undefined
  let handle: OperatorHandle | undefined

  const startOperator = async (operatorOptions: OperatorOptions = options.operator ?? {}) => {
    if (scope) throw new Error("the operator is already running")
    const kubeConfig = operatorOptions.kubeConfig ?? (await server.operatorKubeConfig())
    scope = Effect.runSync(Scope.make())
    handle = await Effect.runPromise(
      Scope.extend(runOperator(config, { ...operatorOptions, kubeConfig }), scope).pipe(
        Effect.provide(options.logs ? collectingLogging(options.logs) : testLogging),
        options.clock ? Effect.withClock(options.clock) : (e) => e,
      ),
    )
    return handle
  }
  const stopOperator = async () => {
    if (!scope) return
    const s = scope
    scope = undefined
    handle = undefined
    await Effect.runPromise(Scope.close(s, Exit.void))
  }
  const binding = (name: string, namespace = BINDING_NAMESPACE) => server.get(Bindings.group, Bindings.plural, namespace, name)

  const harness: Harness = {
    server,
    get api(): Emulator {
      if (!server.emulator) throw new Error("this test needs the emulator (fault injection or its request log)")
      return server.emulator
    },
    db,
    kc,
    kube,
    get config() {
      return config
    },
    reconfigure: (overrides) => {
      config = { ...config, ...overrides }
    },
    operator: () => {
      if (!handle) throw new Error("the operator is not running")
      return handle
    },
    startOperator,
    stopOperator,
    createBinding: (name, spec, namespace = BINDING_NAMESPACE) =>
      Effect.runPromise(
        kube.create(Bindings, namespace, {
          apiVersion: "xlscsde.nhs.uk/v1",
          kind: "AnalyticsWorkspaceBinding",
          metadata: { name, namespace },
          spec,
        }),
      ),
    get: (group, plural, namespace, name) => server.get(group, plural, namespace, name),
    list: (group, plural, namespace) => server.list(group, plural, namespace),
    binding,
    waitForStatus: (name, statusText, timeoutMs = server.kind === "real" ? 20_000 : 10_000) =>
      waitFor(
        async () => {
          const b = await binding(name)
          return b?.status?.statusText === statusText ? b : undefined
        },
        { timeoutMs, message: `binding ${name} to be ${statusText}` },
      ),
    close: async () => {
      await stopOperator()
      await server.stop()
      await db.close()
    },
  }
  if (options.start !== false) await startOperator()
  return harness
}

/** The VNC password is a secret: tests read it only to compare, never print it. */
export const secretValue = (r: Redacted.Redacted<string>) => Redacted.value(r)

/**
 * Waits until the operator has caught up: every object the API server holds
 * is in the operator's caches at its current resourceVersion, and its work
 * queue is empty with no reconcile running.
 */
export async function settled(h: Harness, timeoutMs = h.server.kind === "real" ? 30_000 : 10_000): Promise<void> {
  // On a real cluster the controllers move too: a rollout replaces pods and each step changes the
  // Deployment's status, which the binding's status follows. Settled means those have finished as well.
  if (h.server.kind === "real") {
    const ns = h.config.workload.namespace
    await waitFor(
      async () => {
        const pods = await h.list("", "pods", ns)
        return (await h.list("apps", "deployments", ns)).every((d) => rolledOut(d) || stuck(d, pods))
      },
      { timeoutMs, message: "the browser Deployments' rollouts to finish" },
    )
  }
  await waitFor(() => isSettledOn(h.operator().controller, h.list), { timeoutMs, message: "the operator to settle" })
}

/**
 * A Deployment whose controller has seen its last change, but whose unready pods can go no further:
 * none can be scheduled (a node selector or taint no node matches). Nothing will change until a user
 * changes something, so it is as steady as a finished rollout.
 */
const stuck = (d: any, pods: ReadonlyArray<any>): boolean => {
  if (d.status?.observedGeneration !== d.metadata.generation) return false
  const selector: Record<string, string> = d.spec?.selector?.matchLabels ?? {}
  const mine = pods.filter((p) => Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v))
  const ready = (p: any) => (p.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True")
  const unschedulable = (p: any) =>
    (p.status?.conditions ?? []).some((c: any) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable")
  const waiting = mine.filter((p) => !ready(p))
  return waiting.length > 0 && waiting.every(unschedulable)
}

/** A Deployment whose controller has seen its last change and runs exactly the pods it asks for, all ready. */
const rolledOut = (d: any): boolean => {
  const want = d.spec?.replicas ?? 1
  const st = d.status ?? {}
  return (
    st.observedGeneration === d.metadata.generation &&
    (st.replicas ?? 0) === want &&
    (st.updatedReplicas ?? 0) === want &&
    (st.readyReplicas ?? 0) === want
  )
}

/** The API writes the operator makes when it reconciles every binding again from a settled state. */
export async function writesDuringResync(h: Harness): Promise<Write[]> {
  await settled(h)
  const mark = h.server.mark()
  h.operator().controller.resync()
  await settled(h)
  return h.server.writesSince(mark)
}

/** What Keycloak sends when a researcher signs in (1) or signs in elsewhere (0): a JSON patch of spec.replicas. */
export const patchReplicasAsKeycloak = (h: Pick<Harness, "kube">, name: string, replicas: number, namespace = BINDING_NAMESPACE) =>
  Effect.runPromise(
    h.kube.patch(Bindings, namespace, name, {
      type: "json",
      body: [{ op: "replace", path: "/spec/replicas", value: replicas }],
    }),
  )
