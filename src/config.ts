/**
 * Every setting of the operator, read from the environment with Effect's
 * `Config`, with its default and its validation in one place.
 *
 * The original operator's variables (DB_HOST, DB_PORT, DB_NAME, DB_USER,
 * DB_PASS, IMAGE_NAME, BROWSER_URL, NAMESPACE) keep their names and meanings:
 * existing Helm values set them.
 *
 * A variable set to the empty string (or only spaces) counts as not set, as
 * charts often render `value: ""` for an unset value: the default applies,
 * or, for a required setting, it is reported missing.
 *
 * Invalid configuration fails with a `ConfigError`; `formatConfigError` turns
 * it into one message naming each setting at fault and what it expects.
 */
import { Config, ConfigError, ConfigProvider, Duration, Effect, Either, Option, Redacted } from "effect"
import {
  type BrowserPodSettings,
  decodeJsonSetting,
  NodeSelectorSchema,
  ResourcesSchema,
  TolerationsSchema,
} from "./domain/browser-pod.ts"
import { CERTIFICATE_MOUNT_PATH, FIREFOX_MOUNT_PATH, type WorkloadSettings } from "./domain/desired.ts"
import { type DbSettings, type SslMode, sslModes } from "./guacamole/settings.ts"

export type LogLevel = "trace" | "debug" | "info" | "warning" | "error"
export type LogFormat = "json" | "pretty"

/** Stopping idle browsers (off unless `timeout` or `maxAge` is set). */
export interface IdleSettings {
  /** A running browser with no active Guacamole connection for this long is stopped. */
  readonly timeout: Duration.Duration | undefined
  readonly checkInterval: Duration.Duration
  /** After a scale-up the browser counts as in use for this long (the first connection takes time). */
  readonly gracePeriod: Duration.Duration
  /** A browser running this long is stopped even if in use. */
  readonly maxAge: Duration.Duration | undefined
}

export const defaultIdleSettings: IdleSettings = {
  timeout: undefined,
  checkInterval: Duration.minutes(5),
  gracePeriod: Duration.minutes(15),
  maxAge: undefined,
}

export interface OperatorConfig {
  readonly db: DbSettings
  readonly workload: WorkloadSettings
  readonly idle: IdleSettings
  /** Namespaces whose bindings are watched; empty = all namespaces. */
  readonly watchNamespaces: ReadonlyArray<string>
  readonly logLevel: LogLevel
  readonly logFormat: LogFormat
  readonly concurrency: number
  /** Port of the health and metrics endpoints; 0 = an ephemeral port. */
  readonly httpPort: number
  readonly resyncInterval: Duration.Duration
  /** How often the operator's own Guacamole rows are verified. */
  readonly verifyInterval: Duration.Duration
  /** Server-side timeout of each watch request. */
  readonly watchTimeoutSeconds: number
  /** A watch that sends nothing for this long (not even a bookmark) is restarted. */
  readonly watchIdleTimeout: Duration.Duration
  readonly leaderElection: boolean
  readonly kubeconfig: string | undefined
  /** Names this replica in Events and the leader lease (the pod's name; the host name when unset). */
  readonly podName?: string | undefined
}

/** The value of `app.kubernetes.io/managed-by` on every object the operator creates. */
export const OPERATOR_NAME = "awms-guacamole-operator"

// ---------------------------------------------------------------------------
// Building blocks

const show = (raw: string): string => JSON.stringify(raw.length > 60 ? raw.slice(0, 60) + "…" : raw)

const missing = () => Either.left(ConfigError.MissingData([], "is not set"))

/**
 * A variable's trimmed text, parsed by `parse`, which returns the value or
 * says what is expected (a phrase starting "must"). Empty or blank counts as
 * not set. (One `mapOrFail` directly over the named variable, so that Effect
 * puts the variable's name on the error.)
 */
const parsed = <A>(name: string, parse: (raw: string) => Either.Either<A, string>): Config.Config<A> =>
  Config.mapOrFail(Config.string(name), (raw) => {
    const trimmed = raw.trim()
    if (trimmed === "") return missing()
    return Either.mapLeft(parse(trimmed), (m) => ConfigError.InvalidData([], m))
  })

const integerIn = (min: number, max: number) => (raw: string): Either.Either<number, string> => {
  const n = /^[+-]?\d+$/.test(raw) ? Number(raw) : Number.NaN
  return Number.isSafeInteger(n) && n >= min && n <= max
    ? Either.right(n)
    : Either.left(`must be a whole number from ${min} to ${max} (got ${show(raw)})`)
}

const oneOf = <A extends string>(values: ReadonlyArray<A>, aliases: Readonly<Record<string, A>> = {}) =>
  (raw: string): Either.Either<A, string> => {
    const lower = raw.toLowerCase()
    const found = values.find((v) => v === lower) ?? aliases[lower]
    return found !== undefined
      ? Either.right(found)
      : Either.left(`must be one of ${values.join(", ")} (got ${show(raw)})`)
  }

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const isDnsLabel = (s: string) => s.length <= 63 && DNS_LABEL.test(s)

const dnsLabel = (raw: string): Either.Either<string, string> =>
  isDnsLabel(raw)
    ? Either.right(raw)
    : Either.left(
        `must be a namespace name: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (got ${show(raw)})`
      )

const namespaceList = (raw: string): Either.Either<ReadonlyArray<string>, string> => {
  const names = [...new Set(raw.split(",").map((s) => s.trim()).filter((s) => s !== ""))]
  const bad = names.find((n) => !isDnsLabel(n))
  return bad === undefined
    ? Either.right(names)
    : Either.left(`must be namespace names separated by commas (${show(bad)} is not a valid namespace name)`)
}

const httpUrl = (raw: string): Either.Either<string, string> => {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return Either.left(`must be an http:// or https:// URL (got ${show(raw)})`)
  }
  // The text is kept as written: normalising it would change the Deployments' env and restart every browser.
  return url.protocol === "http:" || url.protocol === "https:"
    ? Either.right(raw)
    : Either.left(`must be an http:// or https:// URL (got ${show(raw)})`)
}

const imageReference = (raw: string): Either.Either<string, string> =>
  /\s/.test(raw) ? Either.left(`must be a container image reference without spaces (got ${show(raw)})`) : Either.right(raw)

const hostName = (raw: string): Either.Either<string, string> =>
  /\s/.test(raw) ? Either.left(`must be a host name without spaces (got ${show(raw)})`) : Either.right(raw)

const BOOLEANS: Readonly<Record<string, boolean>> = {
  true: true, yes: true, on: true, "1": true,
  false: false, no: false, off: false, "0": false
}
const bool = (raw: string): Either.Either<boolean, string> => {
  const b = BOOLEANS[raw.toLowerCase()]
  return b === undefined ? Either.left(`must be true or false (got ${show(raw)})`) : Either.right(b)
}

const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/
const GO_UNIT_MILLIS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * A positive duration: Effect's "10 minutes" / "90 seconds" / "500 millis",
 * or the short forms "600s", "10m", "1h30m", "500ms", "1d".
 */
export const parseDuration = (raw: string): Either.Either<Duration.Duration, string> => {
  const expected = `must be a positive duration such as "10 minutes", "90s" or "1h30m" (got ${show(raw)})`
  let duration: Duration.Duration | undefined
  const s = raw.trim()
  if (GO_DURATION.test(s)) {
    let millis = 0
    for (const [, value, unit] of s.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) {
      millis += Number(value) * GO_UNIT_MILLIS[unit!]!
    }
    duration = Duration.millis(millis)
  } else {
    duration = Option.getOrUndefined(Duration.decodeUnknown(s))
  }
  return duration !== undefined && Duration.isFinite(duration) && Duration.greaterThan(duration, Duration.zero)
    ? Either.right(duration)
    : Either.left(expected)
}

// ---------------------------------------------------------------------------
// The settings: each defined once, with its meaning, its default and its
// parser; the README's table is rendered from these definitions.

export interface SettingDoc {
  readonly name: string
  /** As the README shows it: the default value, "(required)", or what applies when unset. */
  readonly default: string
  readonly meaning: string
}

const REQUIRED = "(required)"

const definitions: Array<SettingDoc> = []

/** Every setting, in the order of their definitions (the README's table). */
export const settingsTable: ReadonlyArray<SettingDoc> = definitions

const UNITS: ReadonlyArray<readonly [string, number]> = [["day", 86_400_000], ["hour", 3_600_000], ["minute", 60_000], ["second", 1000], ["millisecond", 1]]

/** A duration in words, in the largest unit it is a whole number of: "90 seconds", "1 minute". */
const inWords = (d: Duration.Duration): string => {
  const ms = Duration.toMillis(d)
  const [unit, size] = UNITS.find(([, size]) => ms % size === 0) ?? UNITS[UNITS.length - 1]!
  const n = ms / size
  return `${n} ${unit}${n === 1 ? "" : "s"}`
}

const shownDefault = (value: unknown): string =>
  Duration.isDuration(value) ? inWords(value) : String(value)

interface SettingSpec<A> {
  readonly name: string
  readonly meaning: string
  /** Applies when the variable is not set (undefined: the setting is optional); absent: it is required. */
  readonly default?: A
  /** How the README shows what applies when unset, where that is not the default value itself. */
  readonly shown?: string
}

/** A variable's trimmed text, as it is. */
const asText = (raw: string): Either.Either<string, string> => Either.right(raw)

/** One setting: the variable `name` read with `parse` (or as `config`), its default applied, its documentation recorded. */
function setting<A>(spec: SettingSpec<A> & { readonly default: A }, read: ((raw: string) => Either.Either<A, string>) | Config.Config<A>): Config.Config<A>
function setting<A>(spec: SettingSpec<A>, read: ((raw: string) => Either.Either<A, string>) | Config.Config<A>): Config.Config<A>
function setting<A>(spec: SettingSpec<A>, read: ((raw: string) => Either.Either<A, string>) | Config.Config<A>): Config.Config<A> {
  const config = Config.isConfig(read) ? read : parsed(spec.name, read)
  const hasDefault = "default" in spec
  definitions.push({
    name: spec.name,
    default: spec.shown ?? (hasDefault ? shownDefault(spec.default) : REQUIRED),
    meaning: spec.meaning,
  })
  if (!hasDefault) return config
  return spec.default === undefined
    ? (Config.map(Config.option(config), Option.getOrUndefined) as Config.Config<A>)
    : Config.withDefault(config, spec.default)
}

const toMillis = (d: Duration.Duration): number => Math.max(1, Math.round(Duration.toMillis(d)))

const db: Config.Config<DbSettings> = Config.all({
  host: setting({ name: "DB_HOST", default: "localhost", meaning: "Host name of Guacamole's PostgreSQL server." }, hostName),
  port: setting({ name: "DB_PORT", default: 5432, meaning: "Port of Guacamole's PostgreSQL server (1-65535)." }, integerIn(1, 65535)),
  database: setting({ name: "DB_NAME", default: "guacamole", meaning: "Name of Guacamole's database." }, asText),
  username: setting({ name: "DB_USER", meaning: "PostgreSQL user name (on Azure's managed PostgreSQL it looks like `guacamole@servername`)." }, asText),
  password: setting(
    { name: "DB_PASS", meaning: "PostgreSQL password (never logged)." },
    Config.mapOrFail(
      Config.redacted("DB_PASS"),
      // Not trimmed: a password is taken exactly as given. Only the empty string counts as not set.
      (password) => (Redacted.value(password) === "" ? missing() : Either.right(password)),
    ),
  ),
  sslmode: setting({ name: "DB_SSLMODE", default: "prefer" as SslMode, meaning: "TLS to PostgreSQL: `disable`, `prefer` (TLS when the server offers it, as libpq's default the original operator used), `require` (TLS, certificate not verified) or `verify-full` (TLS, certificate and host name verified). Azure's managed PostgreSQL requires TLS." }, oneOf<SslMode>(sslModes)),
  maxConnections: setting({ name: "DB_POOL_MAX", default: 4, meaning: "Most database connections the operator holds open (1-100)." }, integerIn(1, 100)),
  lockTimeoutMs: Config.map(
    setting({ name: "DB_LOCK_TIMEOUT", default: Duration.seconds(5), meaning: "How long a database write waits for a lock another session holds before it gives up and is retried with backoff (PostgreSQL's `lock_timeout`, a duration): a locked row stalls one binding, never the operator." }, parseDuration),
    toMillis,
  ),
  statementTimeoutMs: Config.map(
    setting({ name: "DB_STATEMENT_TIMEOUT", default: Duration.seconds(15), meaning: "Longest a database statement may run before it is cancelled and retried (PostgreSQL's `statement_timeout`, a duration)." }, parseDuration),
    toMillis,
  ),
  createIndexes: setting({ name: "DB_CREATE_INDEXES", default: true, meaning: "Create the operator's three indexes on Guacamole's tables at start-up (`awms_…`, concurrently, without blocking Guacamole): without them every reconcile reads whole tables. Needs the tables' owner; `false` leaves the schema as it is." }, bool),
})

const imageName = setting({ name: "IMAGE_NAME", meaning: "Image of the browser container (Firefox in a VNC server)." }, imageReference)
const browserUrl = setting({ name: "BROWSER_URL", meaning: "The http(s) URL the browser container opens (the private JupyterHub)." }, httpUrl)
const namespace = setting({ name: "NAMESPACE", default: "guacamole", meaning: "Namespace of the browser containers' Deployments, Services and Secrets (a DNS label)." }, dnsLabel)

const CONFIGMAP_MOUNTS = new Set([FIREFOX_MOUNT_PATH, CERTIFICATE_MOUNT_PATH])

const absolutePaths = (raw: string): Either.Either<ReadonlyArray<string>, string> => {
  const paths = [...new Set(raw.split(",").map((s) => s.trim()).filter((s) => s !== ""))]
  const bad = paths.find((p) => !p.startsWith("/") || p.includes(":") || p.split("/").includes(".."))
  if (bad !== undefined) return Either.left(`must be absolute paths separated by commas (got ${show(bad)})`)
  const taken = paths.find((p) => CONFIGMAP_MOUNTS.has(p))
  return taken === undefined
    ? Either.right(paths)
    : Either.left(`must not name ${taken}, where the browser's configuration is mounted`)
}

const INT32 = 2_147_483_647

const browserPod: Config.Config<BrowserPodSettings> = Config.mapOrFail(
  Config.all({
    runAsUser: setting({ name: "BROWSER_RUN_AS_USER", default: undefined, shown: "(the image's)", meaning: "User id the browser container runs as (0-2147483647); needed for Pod Security \"restricted\" when the image's user is root or not numeric." }, integerIn(0, INT32)),
    runAsGroup: setting({ name: "BROWSER_RUN_AS_GROUP", default: undefined, shown: "(the image's)", meaning: "Primary group id of the browser container (0-2147483647)." }, integerIn(0, INT32)),
    fsGroup: setting({ name: "BROWSER_FS_GROUP", default: undefined, shown: "(none)", meaning: "Group id that owns the browser pod's volumes (0-2147483647), so a non-root user can write its `emptyDir` directories." }, integerIn(0, INT32)),
    runAsNonRoot: setting({ name: "BROWSER_RUN_AS_NON_ROOT", default: false, meaning: "`true`: the kubelet refuses to start the browser as root (`runAsNonRoot`; needed for \"restricted\"). Cannot be combined with BROWSER_RUN_AS_USER=0." }, bool),
    readOnlyRootFilesystem: setting(
      { name: "BROWSER_READ_ONLY_ROOT_FILESYSTEM", default: false, meaning: "`true`: the browser container's root filesystem is read-only; give it writable directories with BROWSER_WRITABLE_PATHS." },
      bool,
    ),
    writablePaths: setting(
      { name: "BROWSER_WRITABLE_PATHS", default: [] as ReadonlyArray<string>, shown: "(none)", meaning: "Comma-separated absolute paths mounted as empty writable directories (`emptyDir`) in the browser container, such as its home and /tmp." },
      absolutePaths,
    ),
    resources: setting(
      { name: "BROWSER_RESOURCES", default: {}, shown: "(none)", meaning: "Requests and limits of the browser container, as JSON: `{\"requests\":{\"cpu\":\"500m\",\"memory\":\"1Gi\"},\"limits\":{\"memory\":\"2Gi\"}}`." },
      decodeJsonSetting(ResourcesSchema, '{"requests":{"cpu":"500m","memory":"1Gi"},"limits":{"memory":"2Gi"}}'),
    ),
    nodeSelector: setting(
      { name: "BROWSER_NODE_SELECTOR", default: {}, shown: "(none)", meaning: "Node labels browser pods must be scheduled on, as JSON: `{\"agentpool\":\"browsers\"}`." },
      decodeJsonSetting(NodeSelectorSchema, '{"agentpool":"browsers"}'),
    ),
    tolerations: setting(
      { name: "BROWSER_TOLERATIONS", default: [], shown: "(none)", meaning: "Tolerations of browser pods, as a JSON list: `[{\"key\":\"browsers\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]`." },
      decodeJsonSetting(TolerationsSchema, '[{"key":"browsers","operator":"Exists","effect":"NoSchedule"}]'),
    ),
  }),
  (pod) =>
    pod.runAsNonRoot && pod.runAsUser === 0
      ? Either.left(
          ConfigError.InvalidData(
            ["BROWSER_RUN_AS_USER"],
            "must not be 0 when BROWSER_RUN_AS_NON_ROOT is true (the kubelet would refuse to start every browser)",
          ),
        )
      : Either.right(pod),
)

const workload: Config.Config<WorkloadSettings> = Config.all({
  namespace,
  imageName,
  browserUrl,
  operatorName: Config.succeed(OPERATOR_NAME),
  pod: browserPod,
})

const idle: Config.Config<IdleSettings> = Config.all({
  timeout: setting({ name: "BROWSER_IDLE_TIMEOUT", default: undefined, shown: "(off)", meaning: "Stop a running browser (scale its binding to 0) after this long without an active Guacamole connection (a duration); unset, idle browsers run on." }, parseDuration),
  checkInterval: setting(
    { name: "BROWSER_IDLE_CHECK_INTERVAL", default: defaultIdleSettings.checkInterval, meaning: "How often running browsers are checked for activity and age (a duration); one database query per check." },
    parseDuration,
  ),
  gracePeriod: setting(
    { name: "BROWSER_IDLE_GRACE_PERIOD", default: defaultIdleSettings.gracePeriod, meaning: "A browser counts as in use for this long after it is started, before its researcher's first connection (a duration)." },
    parseDuration,
  ),
  maxAge: setting({ name: "BROWSER_MAX_AGE", default: undefined, shown: "(off)", meaning: "Stop a browser that has run this long, even if in use (a duration); unset, no limit." }, parseDuration),
})

const logLevels: ReadonlyArray<LogLevel> = ["trace", "debug", "info", "warning", "error"]

export const operatorConfig: Config.Config<OperatorConfig> = Config.all({
  db,
  workload,
  idle,
  watchNamespaces: setting(
    { name: "WATCH_NAMESPACES", default: [] as ReadonlyArray<string>, shown: "(all namespaces)", meaning: "Comma-separated namespaces whose bindings are served; empty means every namespace." },
    namespaceList,
  ),
  logLevel: setting({ name: "LOG_LEVEL", default: "info" as LogLevel, meaning: "Least severe level logged: `trace`, `debug`, `info`, `warning` (or `warn`) or `error`." }, oneOf(logLevels, { warn: "warning" })),
  logFormat: setting({ name: "LOG_FORMAT", default: "json" as LogFormat, meaning: "`json` (one object per line) or `pretty` (for people)." }, oneOf<LogFormat>(["json", "pretty"])),
  concurrency: setting({ name: "MAX_CONCURRENT_RECONCILES", default: 8, meaning: "Most bindings reconciled at the same time (1-256); one binding is never reconciled twice at once." }, integerIn(1, 256)),
  httpPort: setting({ name: "HTTP_PORT", default: 8080, meaning: "Port of the health (`/healthz`, `/readyz`) and metrics (`/metrics`) endpoints; 0 picks a free port." }, integerIn(0, 65535)),
  resyncInterval: setting({ name: "RESYNC_INTERVAL", default: Duration.minutes(10), meaning: "How often every binding is reconciled even without a change (a duration: \"10 minutes\", \"600s\", \"1h30m\")." }, parseDuration),
  verifyInterval: setting({ name: "VERIFY_INTERVAL", default: Duration.minutes(1), meaning: "How often the operator reads back its own Guacamole rows and puts right any that were changed behind its back (a redirected `hostname`, say): tampering lasts at most this long plus one reconcile (a duration)." }, parseDuration),
  watchTimeoutSeconds: setting({ name: "WATCH_TIMEOUT_SECONDS", default: 60, meaning: "Server-side timeout of each watch request, in seconds (1-86400); the watch then resumes where it was." }, integerIn(1, 86400)),
  watchIdleTimeout: setting({ name: "WATCH_IDLE_TIMEOUT", default: Duration.seconds(90), meaning: "A watch that sends nothing for this long, not even a bookmark, is restarted (a duration)." }, parseDuration),
  leaderElection: setting({ name: "LEADER_ELECTION", default: false, meaning: "`true` when several replicas run: only the holder of the lease reconciles." }, bool),
  kubeconfig: setting({ name: "KUBECONFIG", default: undefined, shown: "(in-cluster)", meaning: "Kubeconfig file(s) to use outside a cluster; unset in a pod, which uses its service account." }, asText),
  podName: setting({ name: "POD_NAME", default: undefined, shown: "(the host name)", meaning: "Names this replica in Events and in the leader election lease; deploy/operator.yaml sets it to the pod's name." }, asText),
})

// ---------------------------------------------------------------------------
// Reporting

const leaves = (e: ConfigError.ConfigError): ReadonlyArray<ConfigError.ConfigError> => {
  switch (e._op) {
    case "And":
    case "Or":
      return [...leaves(e.left), ...leaves(e.right)]
    default:
      return [e]
  }
}

const meaningOf = (name: string): string | undefined => settingsTable.find((s) => s.name === name)?.meaning

const sentence = (e: ConfigError.ConfigError): string => {
  if (e._op === "And" || e._op === "Or") return e.message
  const name = e.path.join("_")
  if (name === "") return e.message
  switch (e._op) {
    case "MissingData": {
      const meaning = meaningOf(name)
      return meaning === undefined ? `${name} is required` : `${name} is required: ${meaning.replace(/\.$/, "")}`
    }
    case "InvalidData":
      return `${name} ${e.message}`
    default:
      return `${name}: ${e.message}`
  }
}

/**
 * One message for a configuration error: every setting at fault, each with
 * what it expects. Values of DB_PASS never appear (it is only ever reported
 * missing).
 */
export const formatConfigError = (error: ConfigError.ConfigError): string => {
  const sentences = [...new Set(leaves(error).map(sentence))]
  return `Invalid configuration: ${sentences.join("; ")}`
}

/** Reads every setting from a provider (the environment by default), without throwing. */
export const readConfig = (
  provider: ConfigProvider.ConfigProvider = ConfigProvider.fromEnv(),
): Either.Either<OperatorConfig, ConfigError.ConfigError> =>
  Effect.runSync(Effect.either(Effect.withConfigProvider(operatorConfig, provider)))
