/**
 * An operator under test: the Kubernetes API emulator, a fresh Guacamole
 * database, and the operator itself running in this process through the same
 * code path as production (runOperator), pointed at them.
 */
import { existsSync, readFileSync } from "node:fs"
import { resolve } from "node:path"
import type { KubeConfig } from "@kubernetes/client-node"
import { type Clock, Duration, Effect, Exit, Layer, Logger, LogLevel, Redacted, Scope } from "effect"
import YAML from "yaml"
import { OPERATOR_NAME, type OperatorConfig } from "../../src/config.ts"
import type { DbSettings } from "../../src/guacamole/settings.ts"
import { make as makeKubeClient, type KubeClientService, type KubeObject } from "../../src/kube/client.ts"
import { Bindings } from "../../src/kube/resources.ts"
import { runOperator, type OperatorHandle, type OperatorOptions } from "../../src/operator.ts"
import { startEmulator, type Emulator, type EmulatorOptions } from "../emulator/index.ts"
import { createTestDatabase, repoRoot, type TestDatabase } from "./postgres.ts"
import { isSettled } from "./settled.ts"
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
  readonly api: Emulator
  readonly db: TestDatabase
  readonly kc: KubeConfig
  /** A client for the test's own reads and writes (not the operator's). */
  readonly kube: KubeClientService
  readonly config: OperatorConfig
  operator(): OperatorHandle
  startOperator(options?: OperatorOptions): Promise<OperatorHandle>
  stopOperator(): Promise<void>
  createBinding(name: string, spec: Record<string, unknown>, namespace?: string): Promise<KubeObject>
  binding(name: string, namespace?: string): KubeObject | undefined
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
  },
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
  const api = await startEmulator({
    namespaces: ["default", GUACAMOLE_NAMESPACE, BINDING_NAMESPACE],
    crds: [loadYaml(crdPath)],
    ...options.emulator,
  })
  const db = await createTestDatabase()
  const kc = api.kubeConfig()
  const kube = makeKubeClient(kc)
  const base = testConfig(db, options.config)
  const config: OperatorConfig = options.db ? { ...base, db: { ...base.db, ...options.db } } : base
  let scope: Scope.CloseableScope | undefined
  let handle: OperatorHandle | undefined

  const startOperator = async (operatorOptions: OperatorOptions = options.operator ?? {}) => {
    if (scope) throw new Error("the operator is already running")
    scope = Effect.runSync(Scope.make())
    handle = await Effect.runPromise(
      Scope.extend(runOperator(config, { kubeConfig: kc, ...operatorOptions }), scope).pipe(
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
  const binding = (name: string, namespace = BINDING_NAMESPACE) => api.get(Bindings.group, Bindings.plural, namespace, name)

  const harness: Harness = {
    api,
    db,
    kc,
    kube,
    config,
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
    binding,
    waitForStatus: (name, statusText, timeoutMs = 10_000) =>
      waitFor(
        () => {
          const b = binding(name)
          return b?.status?.statusText === statusText ? b : undefined
        },
        { timeoutMs, message: `binding ${name} to be ${statusText}` },
      ),
    close: async () => {
      await stopOperator()
      await api.stop()
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
export async function settled(h: Harness, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => isSettled(h.operator().controller, h.api), { timeoutMs, message: "the operator to settle" })
}

/** The API writes the operator makes when it reconciles every binding again from a settled state. */
export async function writesDuringResync(h: Harness) {
  await settled(h)
  h.api.requests.clear()
  h.operator().controller.resync()
  await settled(h)
  return h.api.requests.writes()
}

/** What Keycloak sends when a researcher signs in (1) or signs in elsewhere (0): a JSON patch of spec.replicas. */
export const patchReplicasAsKeycloak = (h: Pick<Harness, "kube">, name: string, replicas: number, namespace = BINDING_NAMESPACE) =>
  Effect.runPromise(
    h.kube.patch(Bindings, namespace, name, {
      type: "json",
      body: [{ op: "replace", path: "/spec/replicas", value: replicas }],
    }),
  )
