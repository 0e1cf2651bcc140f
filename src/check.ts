/**
 * `awms-guacamole-operator check`: verifies an installation with the same
 * settings the operator would run with, and says what to fix.
 *
 * Each check is an Effect over the operator's own services (KubeClient, the
 * Guacamole database) with a deadline, and returns a structured result; the
 * printing is separate (`formatResults`). A check that needs something an
 * earlier check found broken (a valid configuration, a reachable database or
 * API server) is reported as skipped rather than failing twice.
 *
 *   1. configuration   the environment parses (IMAGE_NAME and BROWSER_URL are required)
 *   2. database        the server answers, and whether the connection is TLS
 *      schema          the Guacamole tables, columns and enum values the operator uses exist
 *                      (and, in its detail, whether the operator's indexes do)
 *   3. kubernetes      the API server answers (its version)
 *   4. crd             the binding CRD serves v1 with the status and scale subresources
 *                      and declares the status fields the operator writes
 *   5. permissions     one SelfSubjectAccessReview per permission in `permissionTable`
 *   6. namespace       NAMESPACE exists, with the ConfigMaps the browser container mounts
 *
 * Nothing printed contains DB_PASS or any other secret.
 */
import * as k8s from "@kubernetes/client-node"
import { ConfigError, Duration, Effect, Either, Layer } from "effect"
import { formatConfigError, readConfig, type OperatorConfig } from "./config.ts"
import { CERTIFICATE_CONFIGMAP, FIREFOX_CONFIGMAP } from "./domain/desired.ts"
import { cullerEnabled } from "./reconciler/idle.ts"
import { statusFieldsFrom } from "./reconciler/status-fields.ts"
import { GuacamoleDb, requiredTables } from "./guacamole/db.ts"
import { OPT_OUT, remedyFor, type IndexStatus } from "./guacamole/indexes.ts"
import type { DbSettings } from "./guacamole/settings.ts"
import { KubeClient, loadKubeConfig, make as makeKubeClient, type KubeClientService } from "./runtime/client.ts"
import type { KubeError } from "./runtime/errors.ts"
import { kubeconfigProblem } from "./kubeconfig.ts"
import {
  Bindings,
  ConfigMaps,
  CustomResourceDefinitions,
  Deployments,
  Events,
  Leases,
  Namespaces,
  Secrets,
  SelfSubjectAccessReviews,
  Services,
  type ResourceType,
} from "./runtime/resources.ts"
import { DatabaseProbe, probeLayer } from "./check/database.ts"

// ---------------------------------------------------------------------------
// Results

export type CheckName = "configuration" | "database" | "schema" | "kubernetes" | "crd" | "permissions" | "namespace"

export const checkOrder: ReadonlyArray<CheckName> = [
  "configuration",
  "database",
  "schema",
  "kubernetes",
  "crd",
  "permissions",
  "namespace",
]

export interface CheckResult {
  readonly name: CheckName
  readonly status: "ok" | "fail" | "skip"
  /** One sentence: what was found (ok, fail) or why the check did not run (skip). */
  readonly detail: string
  /** What to do about a failure. */
  readonly remedy?: string
  /** The items at fault (missing tables, permissions, ConfigMaps…), each named. */
  readonly items?: ReadonlyArray<string>
}

const ok = (name: CheckName, detail: string): CheckResult => ({ name, status: "ok", detail })
const failed = (name: CheckName, detail: string, remedy: string, items?: ReadonlyArray<string>): CheckResult => ({
  name,
  status: "fail",
  detail,
  remedy,
  ...(items ? { items } : {}),
})
const skipped = (name: CheckName, why: string): CheckResult => ({ name, status: "skip", detail: why })

/** Runs `check` with a deadline; a check that does not finish in time fails with `remedy`. */
const withDeadline = (
  name: CheckName,
  timeout: Duration.Duration,
  what: string,
  remedy: string,
  check: Effect.Effect<CheckResult>,
): Effect.Effect<CheckResult> =>
  check.pipe(
    Effect.timeoutTo({
      duration: timeout,
      onSuccess: (r) => r,
      onTimeout: () => failed(name, `${what}: no answer within ${Duration.format(timeout)}`, remedy),
    }),
  )

// ---------------------------------------------------------------------------
// 1. Configuration

export const checkConfiguration = (loaded: Either.Either<OperatorConfig, ConfigError.ConfigError>): CheckResult => {
  if (Either.isLeft(loaded)) {
    return failed(
      "configuration",
      formatConfigError(loaded.left),
      "set the environment variables named, as for the operator's Deployment (see the README's settings table); " +
        "IMAGE_NAME and BROWSER_URL are required, and so are DB_USER and DB_PASS",
    )
  }
  const c = loaded.right
  const watching = c.watchNamespaces.length === 0 ? "bindings in all namespaces" : `bindings in ${c.watchNamespaces.join(", ")}`
  return ok(
    "configuration",
    `valid; IMAGE_NAME=${c.workload.imageName}, BROWSER_URL=${withoutUserInfo(c.workload.browserUrl)}, ` +
      `NAMESPACE=${c.workload.namespace}, ${watching}, leader election ${c.leaderElection ? "on" : "off"}`,
  )
}

/** A URL as printed: any user name or password in it left out. */
const withoutUserInfo = (raw: string): string => {
  try {
    const url = new URL(raw)
    if (url.username === "" && url.password === "") return raw
    url.username = ""
    url.password = ""
    return url.toString()
  } catch {
    return raw
  }
}

// ---------------------------------------------------------------------------
// 2. Database

const where = (s: DbSettings) => `${s.host}:${s.port}/${s.database}`

const requiresTls = (s: DbSettings) => s.sslmode === "require" || s.sslmode === "verify-full"

export const checkDatabase = (settings: DbSettings): Effect.Effect<CheckResult, never, DatabaseProbe> =>
  Effect.gen(function* () {
    const probe = yield* DatabaseProbe
    const result = yield* Effect.either(probe.connection)
    if (Either.isLeft(result)) {
      const e = result.left
      const auth = /authentication|authorization specification|DB_USER/.test(e.message)
      const tls = /TLS/.test(e.message)
      return failed(
        "database",
        `cannot connect to ${where(settings)} as ${settings.username} (sslmode=${settings.sslmode}): ${e.message}`,
        auth
          ? "check DB_USER and DB_PASS (on Azure the user name looks like guacamole@servername) and that pg_hba allows this user"
          : tls
            ? "check DB_SSLMODE: the server's TLS settings (and, with verify-full, its certificate and host name) must match"
            : "check DB_HOST, DB_PORT and DB_NAME, and that the server accepts connections from this pod (firewall, NetworkPolicy)",
      )
    }
    const { tls, serverVersion } = result.right
    const tlsText = tls === undefined ? "not reported by the server" : tls ? "yes" : "no"
    if (tls === false && requiresTls(settings)) {
      return failed(
        "database",
        `connected to ${where(settings)} as ${settings.username} without TLS although DB_SSLMODE=${settings.sslmode}`,
        "enable TLS on the server, or set DB_SSLMODE to what the server supports",
      )
    }
    return ok(
      "database",
      `connected to ${where(settings)} as ${settings.username} (PostgreSQL ${serverVersion}; TLS: ${tlsText}; sslmode=${settings.sslmode})`,
    )
  })

/**
 * The operator's indexes: a missing one is not a failure (the operator works
 * without it, each reconcile reading whole tables), so it is reported in the
 * schema check's detail with its remedy.
 */
const describeIndexes = (indexes: ReadonlyArray<IndexStatus>, settings: DbSettings): string => {
  const absent = indexes.filter((i) => i.state !== "present")
  if (absent.length === 0) return `the operator's indexes are present (${indexes.map((i) => i.index.name).join(", ")})`
  const who =
    settings.createIndexes === false
      ? "DB_CREATE_INDEXES=false, so the operator will not create them"
      : "the operator creates them at start-up if DB_USER owns the tables"
  return (
    `the operator's indexes are missing: ${absent.map((i) => `${i.index.name}${i.state === "invalid" ? " (INVALID, a build was interrupted)" : ""} on ${i.index.table} (${i.index.serves})`).join(", ")}; ` +
    `without them each reconcile reads whole tables; ${who}; remedy: ${absent.map((i) => remedyFor(i.index)).join("; ")}${settings.createIndexes === false ? "" : `; ${OPT_OUT}`}`
  )
}

export const checkSchema = (settings: DbSettings): Effect.Effect<CheckResult, never, DatabaseProbe | GuacamoleDb> =>
  Effect.gen(function* () {
    const probe = yield* DatabaseProbe
    const result = yield* Effect.either(probe.schema)
    if (Either.isLeft(result)) {
      return failed("schema", `cannot read the schema of ${where(settings)}: ${result.left.message}`, "grant DB_USER read access to the Guacamole tables and the catalogue")
    }
    const { missingTables, missingColumns, missingEnumValues } = result.right
    const items = [
      ...missingTables.map((t) => `table ${t}`),
      ...missingColumns.map((c) => `column ${c}`),
      ...missingEnumValues.map((v) => (v.includes("'") ? `enum value ${v}` : `enum type ${v}`)),
    ]
    if (items.length === 0) {
      const indexes = yield* Effect.either(probe.indexes)
      return ok(
        "schema",
        `the Guacamole tables, columns and enum values the operator uses are present in ${where(settings)}; ` +
          (Either.isLeft(indexes) ? `its indexes could not be read: ${indexes.left.message}` : describeIndexes(indexes.right, settings)),
      )
    }
    const allTables = missingTables.length === requiredTables.length
    return failed(
      "schema",
      allTables
        ? `the Guacamole schema is not installed in ${where(settings)} (missing: ${items.join(", ")})`
        : `the Guacamole schema in ${where(settings)} is not a supported version (missing: ${items.join(", ")})`,
      allTables
        ? "load Guacamole's PostgreSQL schema (guacamole-auth-jdbc's 001-create-schema.sql) into this database, or check DB_NAME and the user's search_path"
        : "upgrade the Guacamole schema to a supported version (1.x with guacamole_entity and guacamole_user.valid_until)",
      items,
    )
  })

// ---------------------------------------------------------------------------
// 3. Kubernetes API

const kubeRemedy =
  "check --kubeconfig or KUBECONFIG (in a pod: the service account token and network access to the API server)"


export const checkKubernetes: Effect.Effect<CheckResult, never, KubeClient> = Effect.gen(function* () {
  const kube = yield* KubeClient
  const server = kube.server
  const version = yield* Effect.either(
    kube.request({ method: "GET", path: "/version" }).pipe(Effect.map((v) => v as { gitVersion?: string })),
  )
  if (Either.isLeft(version)) {
    const e = version.left
    return failed(
      "kubernetes",
      `cannot reach the API server at ${server}: ${e.message}`,
      e._tag === "KubeForbidden" ? "the credentials were refused: check the token or client certificate in the kubeconfig" : kubeRemedy,
    )
  }
  return ok("kubernetes", `API server ${server} answers, version ${version.right.gitVersion}`)
})

// ---------------------------------------------------------------------------
// 4. The binding CRD

export const BINDING_CRD_NAME = `${Bindings.plural}.${Bindings.group}`
const crdRemedy = "kubectl apply -f deploy/crd-analyticsworkspacebindings.yaml"

export const checkCrd: Effect.Effect<CheckResult, never, KubeClient> = Effect.gen(function* () {
  const kube = yield* KubeClient
  const got = yield* Effect.either(kube.get(CustomResourceDefinitions, undefined, BINDING_CRD_NAME))
  if (Either.isLeft(got)) {
    const e = got.left
    if (e._tag === "KubeNotFound") return failed("crd", `the CRD ${BINDING_CRD_NAME} is not installed`, crdRemedy, [BINDING_CRD_NAME])
    return failed(
      "crd",
      `cannot read the CRD ${BINDING_CRD_NAME}: ${e.message}`,
      e._tag === "KubeForbidden" ? "grant get on this CRD (deploy/rbac.yaml's ClusterRole does)" : kubeRemedy,
    )
  }
  const crd = got.right as any
  const versions: any[] = crd.spec?.versions ?? []
  const v1 = versions.find((v) => v?.name === Bindings.version)
  const problems: string[] = []
  if (!v1 || v1.served === false) problems.push(`version ${Bindings.version} not served`)
  const established = ((crd.status?.conditions ?? []) as any[]).find((c) => c?.type === "Established")
  if (established && established.status !== "True") problems.push("not Established")
  const sub = v1?.subresources ?? {}
  if (v1 && (sub.status === undefined || sub.status === null)) problems.push("no status subresource")
  if (v1 && !sub.scale) problems.push("no scale subresource")
  else if (v1) {
    if (sub.scale.specReplicasPath !== ".spec.replicas") problems.push(`scale specReplicasPath is ${JSON.stringify(sub.scale.specReplicasPath)}, not ".spec.replicas"`)
    if (sub.scale.statusReplicasPath !== ".status.replicas") problems.push(`scale statusReplicasPath is ${JSON.stringify(sub.scale.statusReplicasPath)}, not ".status.replicas"`)
  }
  const fields = statusFieldsFrom(crd, Bindings.version)
  const undeclared = v1 ? ["statusText", "deploymentName", "replicas"].filter((f) => !fields.has(f)) : []
  for (const f of undeclared) problems.push(`status.${f} not declared`)
  if (problems.length > 0) {
    return failed("crd", `the CRD ${BINDING_CRD_NAME} does not fit the operator: ${problems.join("; ")}`, `update it: ${crdRemedy}`, problems)
  }
  return ok(
    "crd",
    `${BINDING_CRD_NAME} serves ${Bindings.version} with the status subresource and the scale subresource ` +
      `(.spec.replicas/.status.replicas); status declares statusText, deploymentName, replicas; ` +
      `status.message ${fields.has("message") ? "declared" : "not declared (optional: ERROR reasons go to Events only)"}`,
  )
})

// ---------------------------------------------------------------------------
// 5. Permissions

/** Where a permission is needed. */
type Scope = "bindings" | "operator-namespace" | "cluster"

interface PermissionRow {
  readonly resource: ResourceType
  readonly subresource?: string
  readonly verbs: ReadonlyArray<string>
  readonly scope: Scope
  readonly name?: string
  readonly onlyWith?: (c: OperatorConfig) => boolean
  readonly why: string
}

/**
 * What the operator does with the API, one row per resource: the single
 * source of the permission check (deploy/rbac.yaml grants the same).
 */
export const permissionTable: ReadonlyArray<PermissionRow> = [
  { resource: Bindings, verbs: ["list", "watch", "get", "patch"], scope: "bindings", why: "serve bindings (finalizer, deployment name)" },
  { resource: Bindings, subresource: "status", verbs: ["patch"], scope: "bindings", why: "write the binding's status" },
  { resource: Bindings, subresource: "scale", verbs: ["patch"], scope: "bindings", onlyWith: (c) => cullerEnabled(c.idle), why: "stop idle browsers (scale the binding to 0)" },
  { resource: Events, verbs: ["create", "patch"], scope: "bindings", why: "record Events on bindings (patch: count a repeat on the first)" },
  { resource: CustomResourceDefinitions, verbs: ["get"], scope: "cluster", name: BINDING_CRD_NAME, why: "learn the status fields the CRD declares" },
  { resource: Deployments, verbs: ["list", "watch", "get", "create", "patch", "delete"], scope: "operator-namespace", why: "the browser Deployments" },
  { resource: Services, verbs: ["list", "watch", "get", "create", "patch", "delete"], scope: "operator-namespace", why: "the browser Services" },
  { resource: Secrets, verbs: ["list", "watch", "get", "create", "patch", "delete"], scope: "operator-namespace", why: "the VNC password Secrets" },
  { resource: Leases, verbs: ["get", "create", "update"], scope: "operator-namespace", onlyWith: (c) => c.leaderElection, why: "leader election" },
]

export interface Permission {
  readonly verb: string
  readonly group: string
  readonly resource: string
  readonly subresource?: string
  /** undefined: cluster-wide (all namespaces, or a cluster-scoped resource) */
  readonly namespace?: string
  readonly name?: string
}

/** Every permission the operator needs with this configuration. */
export const neededPermissions = (config: OperatorConfig): ReadonlyArray<Permission> =>
  permissionTable.flatMap((row) => {
    if (row.onlyWith && !row.onlyWith(config)) return []
    const namespaces: ReadonlyArray<string | undefined> =
      row.scope === "cluster"
        ? [undefined]
        : row.scope === "operator-namespace"
          ? [config.workload.namespace]
          : config.watchNamespaces.length === 0
            ? [undefined]
            : config.watchNamespaces
    return namespaces.flatMap((namespace) =>
      row.verbs.map((verb) => ({
        verb,
        group: row.resource.group,
        resource: row.resource.plural,
        ...(row.subresource ? { subresource: row.subresource } : {}),
        ...(namespace !== undefined ? { namespace } : {}),
        ...(row.name ? { name: row.name } : {}),
      })),
    )
  })

/** `delete secrets in namespace guacamole`, `patch analyticsworkspacebindings.xlscsde.nhs.uk/status in all namespaces`. */
export const describePermission = (p: Permission): string => {
  const resource = `${p.resource}${p.group ? `.${p.group}` : ""}${p.subresource ? `/${p.subresource}` : ""}`
  const named = p.name ? ` "${p.name}"` : ""
  const scope = p.namespace !== undefined ? ` in namespace ${p.namespace}` : p.resource === "customresourcedefinitions" ? "" : " in all namespaces"
  return `${p.verb} ${resource}${named}${scope}`
}

export const checkPermissions = (config: OperatorConfig): Effect.Effect<CheckResult, never, KubeClient> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const needed = neededPermissions(config)
    const answers = yield* Effect.forEach(
      needed,
      (p) =>
        kube
          .create(SelfSubjectAccessReviews, undefined, {
            apiVersion: "authorization.k8s.io/v1",
            kind: "SelfSubjectAccessReview",
            spec: {
              resourceAttributes: {
                verb: p.verb,
                group: p.group,
                resource: p.resource,
                ...(p.subresource ? { subresource: p.subresource } : {}),
                ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
                ...(p.name ? { name: p.name } : {}),
              },
            },
          })
          .pipe(Effect.map((review) => ({ p, allowed: review.status?.allowed === true }))),
      { concurrency: 8 },
    ).pipe(Effect.either)
    if (Either.isLeft(answers)) {
      return failed(
        "permissions",
        `cannot ask the API server for access reviews: ${answers.left.message}`,
        "the API server must serve authorization.k8s.io/v1 SelfSubjectAccessReview (every authenticated user may create one)",
      )
    }
    const missing = answers.right.filter((a) => !a.allowed).map((a) => describePermission(a.p))
    if (missing.length > 0) {
      return failed(
        "permissions",
        `${missing.length} of ${needed.length} permissions missing: ${missing.join(", ")}`,
        "grant them to the operator's service account: kubectl apply -f deploy/rbac.yaml " +
          "(with WATCH_NAMESPACES set, grant the binding rules per watched namespace)",
        missing,
      )
    }
    return ok("permissions", `all ${needed.length} permissions the operator uses are granted`)
  })

// ---------------------------------------------------------------------------
// 6. The namespace and the browser's ConfigMaps

/** The ConfigMaps every browser container mounts. */
export const browserConfigMaps: ReadonlyArray<string> = [CERTIFICATE_CONFIGMAP, FIREFOX_CONFIGMAP]

/** A dry-run create (nothing is stored) answers 404 for a missing namespace: used when namespaces cannot be read. */
const namespaceByDryRun = (kube: KubeClientService, namespace: string): Effect.Effect<boolean | undefined> =>
  kube
    .create(
      Services,
      namespace,
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "awms-guacamole-operator-check" },
        spec: { clusterIP: "None", ports: [{ name: "probe", port: 5900, targetPort: 5900 }], selector: { probe: "none" } },
      },
      { dryRun: true },
    )
    .pipe(
    Effect.map(() => true as boolean | undefined),
    Effect.catchAll((e) =>
      Effect.succeed(
        e._tag === "KubeNotFound" && /namespace/i.test(e.message) ? false : e._tag === "KubeConflict" ? true : undefined,
      ),
    ),
  )

export const checkNamespace = (config: OperatorConfig): Effect.Effect<CheckResult, never, KubeClient> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const namespace = config.workload.namespace
    const ns = yield* Effect.either(kube.get(Namespaces, undefined, namespace))
    let exists: boolean | undefined = Either.isRight(ns) ? true : ns.left._tag === "KubeNotFound" ? false : undefined
    if (Either.isRight(ns) && (ns.right.metadata.deletionTimestamp || ns.right.status?.phase === "Terminating")) {
      return failed("namespace", `namespace ${namespace} is being deleted`, "wait for it to go and create it again, or set NAMESPACE", [namespace])
    }
    const configMaps = yield* Effect.forEach(browserConfigMaps, (name) =>
      Effect.either(kube.get(ConfigMaps, namespace, name)).pipe(Effect.map((r) => ({ name, r }))),
    )
    if (exists === undefined && configMaps.some(({ r }) => Either.isRight(r))) exists = true
    if (exists === undefined) exists = yield* namespaceByDryRun(kube, namespace)
    const forbidden = (r: Either.Either<unknown, KubeError>) => Either.isLeft(r) && r.left._tag === "KubeForbidden"
    if (exists === undefined && configMaps.every(({ r }) => forbidden(r))) {
      // With the operator's credentials this is what a missing namespace looks like: its Role can only live in it.
      return failed(
        "namespace",
        `namespace ${namespace} (NAMESPACE) does not exist, or these credentials have no access in it (they may read neither the namespace nor its ConfigMaps)`,
        `create it (kubectl create namespace ${namespace}) and apply deploy/rbac.yaml's Role and RoleBinding in it, or set NAMESPACE`,
        [namespace],
      )
    }
    if (exists === false) {
      return failed(
        "namespace",
        `namespace ${namespace} (NAMESPACE) does not exist`,
        `create it (kubectl create namespace ${namespace}) with the ConfigMaps ${browserConfigMaps.join(" and ")}, or set NAMESPACE`,
        [namespace],
      )
    }
    const missing = configMaps.filter(({ r }) => Either.isLeft(r) && r.left._tag === "KubeNotFound").map(({ name }) => name)
    const unreadable = configMaps.flatMap(({ name, r }) =>
      Either.isLeft(r) && r.left._tag !== "KubeNotFound" ? [`${name} (${r.left.message})`] : [],
    )
    const nsText = exists === undefined ? `namespace ${namespace} (existence not verifiable with these credentials)` : `namespace ${namespace}`
    if (missing.length > 0) {
      return failed(
        "namespace",
        `${nsText}: ConfigMap${missing.length > 1 ? "s" : ""} ${missing.join(", ")} missing; the browser containers mount them and cannot start without them`,
        `create ${missing.join(" and ")} in ${namespace} (xlscsde-enterprise-certificate: the enterprise CA certificates; firefox-config: Firefox's distribution settings)`,
        missing,
      )
    }
    if (unreadable.length > 0) {
      return failed(
        "namespace",
        `${nsText}: cannot read ConfigMap ${unreadable.join(", ")}`,
        `grant get on configmaps in ${namespace} (deploy/rbac.yaml's Role does)`,
        unreadable,
      )
    }
    return ok("namespace", `${nsText} exists with ConfigMaps ${browserConfigMaps.join(", ")}`)
  })

// ---------------------------------------------------------------------------
// All of them

export interface CheckInput {
  /** The configuration as loaded (Left: invalid). */
  readonly config: Either.Either<OperatorConfig, ConfigError.ConfigError>
  /** --kubeconfig, or a KubeConfig (tests); default: as the operator loads it. */
  readonly kubeconfig?: string | k8s.KubeConfig
  /** Deadline of each check (default 10 s). */
  readonly timeout?: Duration.DurationInput
}

const needsConfig = "needs a valid configuration (see configuration)"

export const runChecks = (input: CheckInput): Effect.Effect<ReadonlyArray<CheckResult>> =>
  Effect.gen(function* () {
    const timeout = Duration.decode(input.timeout ?? Duration.seconds(10))
    const results: CheckResult[] = []
    const configuration = checkConfiguration(input.config)
    results.push(configuration)
    const config = Either.getOrUndefined(input.config)

    // Database
    if (!config) {
      results.push(skipped("database", needsConfig), skipped("schema", needsConfig))
    } else {
      const settings = config.db
      const db = yield* Effect.scoped(
        Effect.gen(function* () {
          const context = yield* Layer.build(probeLayer(settings))
          const database = yield* withDeadline(
            "database",
            timeout,
            `cannot connect to ${where(settings)}`,
            "check DB_HOST and DB_PORT, and that the server accepts connections from this pod",
            Effect.provide(checkDatabase(settings), context),
          )
          if (database.status !== "ok") return [database, skipped("schema", "needs the database (see database)")]
          const schema = yield* withDeadline(
            "schema",
            timeout,
            `reading the schema of ${where(settings)}`,
            "check the database server's load",
            Effect.provide(checkSchema(settings), context),
          )
          return [database, schema]
        }),
      )
      results.push(...db)
    }

    // Kubernetes: needs only the kubeconfig, so it runs even with an invalid configuration.
    const kubeconfig = input.kubeconfig ?? config?.kubeconfig
    const client = yield* Effect.either(
      Effect.try({
        try: () => {
          if (typeof kubeconfig === "object") return makeKubeClient(kubeconfig)
          const missing = kubeconfigProblem(kubeconfig)
          if (missing !== undefined) throw new Error(missing)
          return makeKubeClient(loadKubeConfig(kubeconfig))
        },
        catch: (e) => (e instanceof Error ? e.message : String(e)),
      }),
    )
    if (Either.isLeft(client)) {
      results.push(
        failed("kubernetes", `cannot load the kubeconfig: ${client.left}`, kubeRemedy),
        skipped("crd", "needs the Kubernetes API (see kubernetes)"),
        skipped("permissions", "needs the Kubernetes API (see kubernetes)"),
        skipped("namespace", "needs the Kubernetes API (see kubernetes)"),
      )
      return results
    }
    const withKube = <A>(e: Effect.Effect<A, never, KubeClient>) => Effect.provideService(e, KubeClient, client.right)
    const kubernetes = yield* withDeadline("kubernetes", timeout, "the API server", kubeRemedy, withKube(checkKubernetes))
    results.push(kubernetes)
    if (kubernetes.status !== "ok") {
      const why = "needs the Kubernetes API (see kubernetes)"
      results.push(skipped("crd", why), skipped("permissions", why), skipped("namespace", why))
      return results
    }
    results.push(yield* withDeadline("crd", timeout, `reading the CRD ${BINDING_CRD_NAME}`, kubeRemedy, withKube(checkCrd)))
    if (!config) {
      results.push(skipped("permissions", needsConfig), skipped("namespace", needsConfig))
      return results
    }
    results.push(yield* withDeadline("permissions", timeout, "the access reviews", kubeRemedy, withKube(checkPermissions(config))))
    results.push(yield* withDeadline("namespace", timeout, `reading namespace ${config.workload.namespace}`, kubeRemedy, withKube(checkNamespace(config))))
    return results
  })

// ---------------------------------------------------------------------------
// Printing

const label = { ok: "ok   ", fail: "FAIL ", skip: "skip " } as const

/** One line per check, then a summary line. */
export const formatResults = (results: ReadonlyArray<CheckResult>): string => {
  const lines = results.map((r) => {
    const base = `${label[r.status]} ${r.name}: ${r.detail}`
    return r.status === "fail" && r.remedy ? `${base} — remedy: ${r.remedy}` : base
  })
  const count = (s: CheckResult["status"]) => results.filter((r) => r.status === s).length
  const failures = count("fail")
  lines.push(
    failures === 0
      ? `all ${results.length} checks passed`
      : `${failures} of ${results.length} checks failed (${count("ok")} ok, ${count("skip")} skipped): ` +
          results.filter((r) => r.status === "fail").map((r) => r.name).join(", "),
  )
  return lines.join("\n") + "\n"
}

export const exitCodeOf = (results: ReadonlyArray<CheckResult>): 0 | 1 => (results.some((r) => r.status === "fail") ? 1 : 0)

/** The command: runs every check, prints the report on stdout, returns the exit status (0 all ok, 1 a failure). */
export const runCheckCommand = async (kubeconfig: string | undefined): Promise<0 | 1> => {
  const results = await Effect.runPromise(runChecks({ config: readConfig(), ...(kubeconfig ? { kubeconfig } : {}) }))
  process.stdout.write(formatResults(results))
  return exitCodeOf(results)
}
