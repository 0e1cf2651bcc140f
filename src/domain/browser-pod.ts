/**
 * The browser pod as a secure data environment needs it: a researcher's
 * Firefox must not reach the Kubernetes API, other Services' addresses, or
 * more privilege than the image needs.
 *
 * Always set: no service account token (`automountServiceAccountToken:
 * false`), no service links, `allowPrivilegeEscalation: false`, every
 * capability dropped, seccomp `RuntimeDefault`. That passes Pod Security
 * "baseline". What depends on the image is a setting: the user and group ids,
 * `runAsNonRoot`, a read-only root filesystem with writable `emptyDir`
 * directories; with a non-root user and `runAsNonRoot` the pod passes
 * "restricted". Resources, node selector and tolerations are settings too.
 *
 * Fields the operator does not want are written as `null` (absent) so that
 * removing a setting removes it from the Deployment, and no empty object or
 * string is written that the API server would drop (the diff would then see a
 * difference on every reconcile).
 */
import { Either, ParseResult, Schema } from "effect"
import { canonicalQuantity, quantityMilli } from "./quantity.ts"

export interface Toleration {
  readonly key?: string
  readonly operator?: "Exists" | "Equal"
  readonly value?: string
  readonly effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute"
  readonly tolerationSeconds?: number
}

export interface ResourceRequirements {
  readonly requests?: Readonly<Record<string, string>>
  readonly limits?: Readonly<Record<string, string>>
}

export interface BrowserPodSettings {
  readonly runAsUser?: number
  readonly runAsGroup?: number
  readonly fsGroup?: number
  readonly runAsNonRoot: boolean
  readonly readOnlyRootFilesystem: boolean
  /** Absolute paths, each an `emptyDir` (the browser's home, /tmp) so the image can write with a read-only root. */
  readonly writablePaths: ReadonlyArray<string>
  readonly resources: ResourceRequirements
  readonly nodeSelector: Readonly<Record<string, string>>
  readonly tolerations: ReadonlyArray<Toleration>
}

export const defaultBrowserPod: BrowserPodSettings = {
  runAsNonRoot: false,
  readOnlyRootFilesystem: false,
  writablePaths: [],
  resources: {},
  nodeSelector: {},
  tolerations: [],
}

// ---------------------------------------------------------------------------
// The JSON-valued settings, decoded with Schema

const show = (u: unknown) => JSON.stringify(u)

const Quantity = Schema.Union(Schema.String, Schema.Number).pipe(
  Schema.transformOrFail(Schema.String, {
    strict: true,
    decode: (u, _, ast) => {
      const canonical = canonicalQuantity(String(u).trim())
      return canonical === undefined
        ? ParseResult.fail(
            new ParseResult.Type(ast, u, `must be a non-negative Kubernetes quantity such as "500m", "2" or "4Gi" (got ${show(u)})`),
          )
        : ParseResult.succeed(canonical)
    },
    encode: ParseResult.succeed,
  }),
)

const ResourceName = Schema.String.pipe(
  Schema.filter((s) => /^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(s) || `is not a resource name (got ${show(s)})`),
)

const ResourceList = Schema.Record({ key: ResourceName, value: Quantity })

const lessOrEqual = (r: ResourceRequirements) => {
  for (const [name, request] of Object.entries(r.requests ?? {})) {
    const limit = r.limits?.[name]
    if (limit !== undefined && quantityMilli(request)! > quantityMilli(limit)!) {
      return { path: ["requests", name], message: `must be at most its limit ${limit} (got ${request})` }
    }
  }
  return undefined
}

export const ResourcesSchema = Schema.Struct({
  requests: Schema.optional(ResourceList),
  limits: Schema.optional(ResourceList),
}).pipe(Schema.filter(lessOrEqual))

const LabelValue = Schema.String.pipe(
  Schema.filter(
    (s) => (s.length <= 63 && /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(s)) || `is not a label value (got ${show(s)})`,
  ),
)
const LabelKey = Schema.String.pipe(
  Schema.filter(
    (s) =>
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(s) ||
      `is not a label key (got ${show(s)})`,
  ),
)

export const NodeSelectorSchema = Schema.Record({ key: LabelKey, value: LabelValue })

/** The rules kube-apiserver's validateTolerations applies, so a bad toleration is a start-up error, not a failed write per binding. */
const TolerationSchema = Schema.Struct({
  key: Schema.optional(LabelKey),
  operator: Schema.optional(Schema.Literal("Exists", "Equal")),
  value: Schema.optional(Schema.String),
  effect: Schema.optional(Schema.Literal("NoSchedule", "PreferNoSchedule", "NoExecute")),
  tolerationSeconds: Schema.optional(Schema.Int),
}).pipe(
  Schema.filter((t) => {
    if ((t.key ?? "") === "" && t.operator !== "Exists") return "must have operator \"Exists\" when it has no key"
    if (t.operator === "Exists" && (t.value ?? "") !== "") return "must have no value when its operator is \"Exists\""
    if (t.tolerationSeconds !== undefined && t.effect !== "NoExecute") return "may have tolerationSeconds only with effect \"NoExecute\""
    return undefined
  }),
)

export const TolerationsSchema = Schema.Array(TolerationSchema)

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`)).join("").replace(/^\./, "")

/**
 * Decodes a JSON setting: the value, or one sentence (starting "must" or
 * naming the element at fault) for the start-up error.
 */
export const decodeJsonSetting =
  <A, I>(schema: Schema.Schema<A, I>, example: string) =>
  (raw: string): Either.Either<A, string> => {
    let json: unknown
    try {
      json = JSON.parse(raw)
    } catch {
      return Either.left(`must be JSON such as ${example}`)
    }
    return Either.mapLeft(Schema.decodeUnknownEither(schema, { onExcessProperty: "error" })(json), (error) => {
      const first = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      if (first === undefined) return `must be JSON such as ${example}`
      const path = formatPath(first.path)
      return path === "" ? `must be JSON such as ${example}: ${first.message}` : `${path} ${first.message}`
    })
  }

// ---------------------------------------------------------------------------
// The pod template's fields

const orNull = <A>(a: A | undefined): A | null => (a === undefined ? null : a)
const nonEmpty = (m: Readonly<Record<string, string>> | undefined) => (m !== undefined && Object.keys(m).length > 0 ? m : null)

export const writableVolumeName = (index: number) => `writable-${index}`

/** The pod spec fields the settings decide (merged into the Deployment's pod template). */
export const browserPodSpec = (s: BrowserPodSettings) => ({
  automountServiceAccountToken: false,
  enableServiceLinks: false,
  securityContext: {
    runAsUser: orNull(s.runAsUser),
    runAsGroup: orNull(s.runAsGroup),
    fsGroup: orNull(s.fsGroup),
    runAsNonRoot: s.runAsNonRoot ? true : null,
    seccompProfile: { type: "RuntimeDefault" },
  },
  nodeSelector: nonEmpty(s.nodeSelector),
  tolerations: s.tolerations.map((t) => ({ ...t })),
})

/** The browser container's fields the settings decide. */
export const browserContainerFields = (s: BrowserPodSettings) => ({
  securityContext: {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    readOnlyRootFilesystem: s.readOnlyRootFilesystem,
  },
  resources: { requests: nonEmpty(s.resources.requests), limits: nonEmpty(s.resources.limits) },
})

export const writableMounts = (s: BrowserPodSettings) =>
  s.writablePaths.map((mountPath, i) => ({ name: writableVolumeName(i), mountPath }))

export const writableVolumes = (s: BrowserPodSettings) =>
  s.writablePaths.map((_, i) => ({ name: writableVolumeName(i), emptyDir: {} }))
