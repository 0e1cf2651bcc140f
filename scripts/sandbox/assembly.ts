/**
 * The sandbox assembled: the Kubernetes API emulator (workload simulator on),
 * a Guacamole database (embedded PGlite, or a real PostgreSQL), and the
 * operator itself through runOperator, configured from an environment-like map
 * through the production `operatorConfig`, so the sandbox exercises the same
 * code and configuration path as a deployment.
 */
import { Console as NodeConsole } from "node:console"
import { createWriteStream, mkdirSync, readdirSync, readFileSync, writeFileSync, type WriteStream } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from "@kubernetes/client-node"
import { ConfigProvider, Console, Effect, Exit, Layer, Redacted, Scope } from "effect"
import postgres from "postgres"
import YAML from "yaml"
import { formatConfigError, readConfig, type OperatorConfig } from "../../src/config.ts"
import { CERTIFICATE_CONFIGMAP, FIREFOX_CONFIGMAP } from "../../src/domain/desired.ts"
import { requiredTables } from "../../src/guacamole/db.ts"
import { poolOptions } from "../../src/guacamole/pool.ts"
import { dbSettingsFromUrl, describeDbSettings, type DbSettings } from "../../src/guacamole/settings.ts"
import { loggingLayer } from "../../src/logging.ts"
import { runOperator, type OperatorHandle } from "../../src/operator.ts"
import { startEmulator, type Emulator } from "@awms/kube-emulator"
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../../test/support/pglite-server.ts"
import { isSettled as settledNow } from "../../test/support/settled.ts"
import { GROUP as BINDING_GROUP, PLURAL as BINDING_PLURAL } from "../../src/domain/binding.ts"

export const repoRoot = resolve(import.meta.dir, "../..")

export const GUACAMOLE_NAMESPACE = "guacamole"
export const BINDING_NAMESPACE = "jupyterhub"
export { GROUP as BINDING_GROUP, PLURAL as BINDING_PLURAL } from "../../src/domain/binding.ts"

/** The sandbox's stand-ins for the browser container and the private JupyterHub. */
export const SANDBOX_IMAGE = "lsc-sde/firefox-vnc:sandbox"
export const SANDBOX_BROWSER_URL = "https://jupyter.sandbox.invalid/"

/** How long the simulated deployment controller takes to make a Deployment's pods ready. */
export const POD_START_DELAY_MS = 1000

export interface SandboxOptions {
  /** The emulator's port; 0 = ephemeral. */
  readonly port: number
  /** Absolute path of the kubeconfig to write. */
  readonly kubeconfig: string
  /** Absolute path of the operator's log file (truncated at start). */
  readonly logFile: string
  /** A real PostgreSQL instead of the embedded one. */
  readonly databaseUrl?: string | undefined
  /** Apply deploy/examples/ (default true). */
  readonly examples?: boolean
  /** The operator's health and metrics port; 0 = ephemeral. */
  readonly metricsPort?: number
  /** Progress messages while starting (default: none). */
  readonly progress?: (message: string) => void
}

export interface BindingRef {
  readonly namespace: string
  readonly name: string
}

export interface Sandbox {
  readonly emulator: Emulator
  /** Absolute path of the kubeconfig. */
  readonly kubeconfigPath: string
  /** The configuration the operator runs with (read from the env-like map). */
  readonly config: OperatorConfig
  readonly operator: OperatorHandle
  /** A one-connection client for the sandbox's own reads of the Guacamole database. */
  readonly sql: postgres.Sql
  /** The database, described without its password. */
  readonly databaseDescription: string
  /** True when the database is the embedded PGlite (one backend: see isQuiet). */
  readonly embeddedDatabase: boolean
  /** True when the Guacamole schema was created by this start (real PostgreSQL only). */
  readonly schemaCreated: boolean
  /** The bindings applied from deploy/examples/. */
  readonly examples: ReadonlyArray<BindingRef>
  readonly logFile: string
  /** The operator's environment as a shell file (KUBECONFIG and DB_PASS included). */
  readonly envFile: string
  /** The operator has caught up: caches at the API server's resourceVersions, queue empty, nothing running. */
  isSettled(): boolean
  /** The operator is doing no work at this instant (so it sends nothing to the database). */
  isQuiet(): boolean
  /** Resolves once every example binding is READY and the operator is settled. */
  waitUntilReady(timeoutMs?: number): Promise<void>
  /** Stops the operator, the emulator and the database; idempotent. */
  stop(): Promise<void>
}

export class SandboxError extends Error {}

// ---------------------------------------------------------------------------
// Manifests

const yamlDocuments = (path: string): KubernetesObject[] =>
  YAML.parseAllDocuments(readFileSync(path, "utf8"))
    .map((d) => d.toJSON() as KubernetesObject | null)
    .filter((o): o is KubernetesObject => o !== null && typeof o === "object" && typeof o.kind === "string")

const yamlFilesIn = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .map((f) => join(dir, f))

/** Every CustomResourceDefinition among deploy/*.yaml. */
export const deployCrds = (root = repoRoot): KubernetesObject[] =>
  yamlFilesIn(join(root, "deploy")).flatMap(yamlDocuments).filter((o) => o.kind === "CustomResourceDefinition")

/** Every object of deploy/examples/*.yaml. */
export const exampleObjects = (root = repoRoot): KubernetesObject[] =>
  yamlFilesIn(join(root, "deploy/examples")).flatMap(yamlDocuments)

/** The two ConfigMaps every browser container mounts read-only (stand-ins for the cluster's). */
export const browserConfigMaps = (namespace: string): KubernetesObject[] => [
  {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: CERTIFICATE_CONFIGMAP, namespace, labels: { "app.kubernetes.io/part-of": "sandbox" } },
    data: {
      "README.txt": "The sandbox has no enterprise certificate authority; a cluster puts its CA certificates here.\n",
    },
  } as KubernetesObject,
  {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: FIREFOX_CONFIGMAP, namespace, labels: { "app.kubernetes.io/part-of": "sandbox" } },
    data: {
      "policies.json":
        JSON.stringify(
          {
            policies: {
              Homepage: { URL: SANDBOX_BROWSER_URL, Locked: true },
              DisableDeveloperTools: true,
              DisableTelemetry: true,
              Certificates: { ImportEnterpriseRoots: true },
            },
          },
          null,
          2,
        ) + "\n",
    },
  } as KubernetesObject,
]

// ---------------------------------------------------------------------------
// Configuration: the production Config read from an environment-like map

/** The environment a Deployment of the operator would have, pointed at the sandbox. */
export const sandboxEnvironment = (
  db: DbSettings,
  opts: { readonly kubeconfig: string; readonly metricsPort: number; readonly poolMax?: number },
): Map<string, string> => {
  const env = new Map<string, string>([
    ["DB_HOST", db.host],
    ["DB_PORT", String(db.port)],
    ["DB_NAME", db.database],
    ["DB_USER", db.username],
    ["DB_SSLMODE", db.sslmode],
    ["IMAGE_NAME", SANDBOX_IMAGE],
    ["BROWSER_URL", SANDBOX_BROWSER_URL],
    ["NAMESPACE", GUACAMOLE_NAMESPACE],
    ["LOG_FORMAT", "json"],
    ["LOG_LEVEL", "info"],
    ["HTTP_PORT", String(opts.metricsPort)],
    ["KUBECONFIG", opts.kubeconfig],
  ])
  if (opts.poolMax !== undefined) env.set("DB_POOL_MAX", String(opts.poolMax))
  return env
}

/** `NAME='value'` lines, single-quoted for a POSIX shell. */
export const environmentFile = (env: ReadonlyMap<string, string>, dbPassword: string): string =>
  [...env, ["DB_PASS", dbPassword] as const]
    .map(([name, value]) => `${name}='${value.replaceAll("'", `'\\''`)}'`)
    .join("\n") + "\n"

/** Reads the OperatorConfig from `env` (plus DB_PASS, kept out of the map that may be shown). */
export const loadSandboxConfig = (env: ReadonlyMap<string, string>, dbPassword: string): OperatorConfig => {
  const provider = ConfigProvider.fromMap(new Map([...env, ["DB_PASS", dbPassword]]))
  const loaded = readConfig(provider)
  if (loaded._tag === "Left") throw new SandboxError(formatConfigError(loaded.left))
  return loaded.right
}

// ---------------------------------------------------------------------------
// Database

const schemaPath = (root = repoRoot) => join(root, "src/guacamole/schema.sql")

/** Which of the operator's tables exist in the current schema search path. */
const presentTables = async (sql: postgres.Sql): Promise<Set<string>> => {
  const rows = await sql<{ table_name: string }[]>`
    SELECT table_name FROM information_schema.tables
    WHERE table_schema = ANY (current_schemas(false)) AND table_name IN ${sql(requiredTables as string[])}`
  return new Set(rows.map((r) => r.table_name))
}

/**
 * Creates the Guacamole schema when none of its tables exist; leaves a
 * complete one alone; refuses a partial one (never drops or alters anything).
 */
export const ensureGuacamoleSchema = async (sql: postgres.Sql, root = repoRoot): Promise<boolean> => {
  const present = await presentTables(sql)
  if (present.size === requiredTables.length) return false
  if (present.size > 0) {
    const missing = requiredTables.filter((t) => !present.has(t))
    throw new SandboxError(
      `the database has part of the Guacamole schema (missing: ${missing.join(", ")}); the sandbox only creates the schema in a database without it`,
    )
  }
  const ddl = readFileSync(schemaPath(root), "utf8")
  await sql.begin((tx) => tx.unsafe(ddl))
  return true
}

// ---------------------------------------------------------------------------
// Operator logging to a file

const fileConsole = (stream: WriteStream): Console.Console => {
  const base = Effect.runSync(Effect.console)
  return { ...base, unsafe: new NodeConsole(stream, stream) }
}

// ---------------------------------------------------------------------------

const rewriteKubeconfigNamespace = (path: string, namespace: string) => {
  const doc = YAML.parse(readFileSync(path, "utf8"))
  for (const c of doc.contexts ?? []) if (c.context) c.context.namespace = namespace
  writeFileSync(path, YAML.stringify(doc), { mode: 0o600 })
}

const portInUse = (e: unknown) =>
  (e as { code?: string })?.code === "EADDRINUSE" || /in use/i.test(e instanceof Error ? e.message : "")

const describeUnknown = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** Starts everything; on failure stops what was started and rethrows. */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const progress = options.progress ?? (() => {})
  const cleanups: Array<() => Promise<void>> = []
  const stopAll = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup().catch(() => {})
    }
  }
  try {
    mkdirSync(dirname(options.kubeconfig), { recursive: true })
    mkdirSync(dirname(options.logFile), { recursive: true })

    // 1. The Kubernetes API emulator, with namespaces and deploy/'s CRDs (first: a busy port fails fast).
    progress("starting the Kubernetes API emulator")
    let emulator: Emulator
    try {
      emulator = await startEmulator({
        port: options.port,
        kubeconfigPath: options.kubeconfig,
        namespaces: ["default", GUACAMOLE_NAMESPACE, BINDING_NAMESPACE],
        crds: deployCrds(),
        workloads: { enabled: true, delayMs: POD_START_DELAY_MS },
      })
    } catch (e) {
      if (portInUse(e)) {
        throw new SandboxError(
          `port ${options.port} is in use (another sandbox?): choose another with --port N, or --port 0 for a free one`,
        )
      }
      throw e
    }
    const em = emulator
    cleanups.push(() => em.stop())
    rewriteKubeconfigNamespace(options.kubeconfig, BINDING_NAMESPACE)

    // 2. The Guacamole database.
    let dbSettings: DbSettings
    let embedded: EmbeddedPostgres | undefined
    let schemaCreated = false
    const ddl = readFileSync(schemaPath(), "utf8")
    if (options.databaseUrl === undefined) {
      progress("starting the embedded PostgreSQL (PGlite) with the Guacamole schema")
      embedded = await startEmbeddedPostgres({ schemaSql: ddl })
      const e = embedded
      cleanups.push(() => e.stop())
      dbSettings = embedded.settings
    } else {
      try {
        dbSettings = dbSettingsFromUrl(options.databaseUrl, { sslmode: "prefer" })
      } catch (e) {
        throw new SandboxError(`--database-url: ${describeUnknown(e)}`)
      }
      progress(`using PostgreSQL at ${describeDbSettings(dbSettings)}`)
    }
    const sql = postgres({ ...poolOptions({ ...dbSettings, maxConnections: 1 }), idle_timeout: 0 })
    cleanups.push(() => sql.end({ timeout: 2 }))
    if (!embedded) {
      try {
        schemaCreated = await ensureGuacamoleSchema(sql)
      } catch (e) {
        if (e instanceof SandboxError) throw e
        throw new SandboxError(`cannot use the database ${describeDbSettings(dbSettings)}: ${describeUnknown(e)}`)
      }
      if (schemaCreated) progress("created the Guacamole schema (its tables were absent)")
    }

    const kc = new KubeConfig()
    kc.loadFromFile(options.kubeconfig)
    const objects = KubernetesObjectApi.makeApiClient(kc)
    for (const cm of browserConfigMaps(GUACAMOLE_NAMESPACE)) await objects.create(cm)

    // 3. The operator, configured as in production.
    const env = sandboxEnvironment(dbSettings, {
      kubeconfig: options.kubeconfig,
      metricsPort: options.metricsPort ?? 0,
      // PGlite has one backend: the operator's pool must hold one connection (test/support/pglite-server.ts).
      poolMax: embedded ? 1 : undefined,
    })
    const config = loadSandboxConfig(env, Redacted.value(dbSettings.password))
    // The same settings as a file a shell can source, to run `check` against the sandbox (mode 0600: it holds DB_PASS).
    const envFile = join(dirname(options.kubeconfig), "operator.env")
    writeFileSync(envFile, environmentFile(env, Redacted.value(dbSettings.password)), { mode: 0o600 })

    const log = createWriteStream(options.logFile, { flags: "w" })
    cleanups.push(() => new Promise<void>((done) => log.end(done)))
    const logging = Layer.merge(loggingLayer(config.logFormat, config.logLevel), Console.setConsole(fileConsole(log)))

    progress(`starting the operator (logs: ${options.logFile})`)
    const scope = Effect.runSync(Scope.make())
    cleanups.push(() => Effect.runPromise(Scope.close(scope, Exit.void).pipe(Effect.provide(logging))))
    const operator = await Effect.runPromise(Scope.extend(runOperator(config), scope).pipe(Effect.provide(logging)))

    // 4. The examples.
    const examples: BindingRef[] = []
    if (options.examples !== false) {
      for (const object of exampleObjects()) {
        const created = await objects.create(object)
        if (object.kind === "AnalyticsWorkspaceBinding") {
          examples.push({ namespace: created.metadata!.namespace!, name: created.metadata!.name! })
        }
      }
      progress(`applied deploy/examples/ (${examples.length} bindings)`)
    }

    const isQuiet = () => operator.controller.ready() && operator.controller.idle()
    const isSettled = () => settledNow(operator.controller, emulator)
    const examplesReady = () =>
      examples.every(
        (b) => emulator.get(BINDING_GROUP, BINDING_PLURAL, b.namespace, b.name)?.status?.statusText === "READY",
      )

    let stopping: Promise<void> | undefined
    return {
      emulator,
      kubeconfigPath: options.kubeconfig,
      config,
      operator,
      sql,
      databaseDescription: describeDbSettings(config.db),
      embeddedDatabase: embedded !== undefined,
      schemaCreated,
      examples,
      logFile: options.logFile,
      envFile,
      isSettled,
      isQuiet,
      async waitUntilReady(timeoutMs = 60_000) {
        const deadline = Date.now() + timeoutMs
        // Settled twice in a row, 50 ms apart: a watch event in flight is not yet in the queue.
        let streak = 0
        for (;;) {
          streak = examplesReady() && isSettled() ? streak + 1 : 0
          if (streak >= 2) return
          if (Date.now() > deadline) {
            const pending = examples
              .map((b) => ({ b, s: emulator.get(BINDING_GROUP, BINDING_PLURAL, b.namespace, b.name)?.status }))
              .filter(({ s }) => s?.statusText !== "READY")
              .map(({ b, s }) => `${b.namespace}/${b.name} is ${s?.statusText ?? "PROVISIONING"}${s?.message ? ` (${s.message})` : ""}`)
            throw new SandboxError(
              `not ready after ${Math.round(timeoutMs / 1000)} s: ${
                pending.length > 0 ? pending.join("; ") : "the operator has not settled"
              } (see ${options.logFile})`,
            )
          }
          await Bun.sleep(50)
        }
      },
      stop() {
        stopping ??= stopAll()
        return stopping
      },
    }
  } catch (e) {
    await stopAll()
    throw e
  }
}
