/**
 * The AnalyticsWorkspaceBinding as the operator sees it. Objects from the API
 * are decoded here, once, at the boundary; everything past `decodeBinding`
 * trusts the types.
 *
 * Only what the operator relies on is checked; unknown fields are ignored.
 */
import { Data, Either, ParseResult, Schema } from "effect"
import { entityNameFor } from "./naming.ts"

export const GROUP = "xlscsde.nhs.uk"
export const VERSION = "v1"
export const PLURAL = "analyticsworkspacebindings"
export const KIND = "AnalyticsWorkspaceBinding"

/**
 * Guacamole's `guacamole_entity.name`, `guacamole_connection.connection_name`
 * and `guacamole_connection_group.connection_group_name` are all
 * `varchar(128)`. The entity name `<workspace>@<username>` is the longest of
 * the three, so keeping it within 128 keeps the other two within it too.
 * PostgreSQL counts characters (code points), not bytes or UTF-16 units.
 */
export const MAX_ENTITY_NAME_LENGTH = 128

/** The largest value a Deployment's `spec.replicas` (int32) can hold. */
export const MAX_REPLICAS = 2_147_483_647

/** A binding the operator cannot act on, with one sentence saying why. */
export class InvalidBinding extends Data.TaggedError("InvalidBinding")<{ readonly message: string }> {}

// ---------------------------------------------------------------------------
// Checks shared by the fields

const describe = (u: unknown): string => {
  if (u === undefined) return "nothing"
  if (u === null) return "null"
  if (typeof u === "string") return JSON.stringify(u.length > 40 ? u.slice(0, 40) + "…" : u)
  if (typeof u === "number" || typeof u === "boolean") return String(u)
  if (Array.isArray(u)) return "a list"
  return `a ${typeof u}`
}

/** The schema, with "must be <expected> (got <value>)" when a value is of the wrong type. */
const typed = <S extends Schema.Schema.Any>(schema: S, expected: string): S =>
  schema.annotations({
    message: (issue: ParseResult.ParseIssue) => `must be ${expected} (got ${describe(issue.actual)})`
  }) as S

const required = <S extends Schema.Schema.All>(schema: S, why?: string) =>
  Schema.propertySignature(schema).annotations({
    missingMessage: () => (why === undefined ? "is required" : `is required: ${why}`)
  })

const CONTROL = /[\u0000-\u001F\u007F-\u009F]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
/**
 * Invisible or direction-changing characters: Unicode's format characters (Cf:
 * zero-width space and joiners, soft hyphen, left-to-right and right-to-left
 * marks, bidirectional embeddings, overrides and isolates, the byte order mark),
 * line and paragraph separators, and private-use characters. Two names that
 * look the same must be the same name.
 */
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}\p{Co}]/u

const codePoint = (s: string, re: RegExp): string => {
  const c = re.exec(s)?.[0] ?? ""
  return `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`
}

/**
 * What a username may be: it becomes the Guacamole connection name, half of the
 * Guacamole user name `<workspace>@<username>` (split at the FIRST `@`, the
 * workspace having none) and the last part of the deployment name's URL path
 * (split at the FIRST `/`, likewise). So `@` and `/` are allowed (e-mail
 * addresses are usernames); refused are control characters, invisible and
 * bidirectional characters, spaces at either end, lone surrogates, and text
 * not in Unicode normalization form NFC (refused, not normalised: the name must
 * stay byte for byte what the identity provider sends). Look-alike letters of
 * other scripts are distinct names and allowed; names differing only by letter
 * case are refused where they meet (Guacamole compares them case-insensitively).
 */
export const usernameProblem = (s: string): string | undefined => {
  if (s.trim().length === 0) return "must not be empty"
  if (CONTROL.test(s)) return `must not contain control characters (got ${describe(s)})`
  if (LONE_SURROGATE.test(s)) return "must be valid Unicode text (it contains a lone UTF-16 surrogate)"
  if (INVISIBLE.test(s)) {
    return `must not contain invisible or bidirectional formatting characters (got ${codePoint(s, INVISIBLE)} in ${describe(s)})`
  }
  if (/^\s|\s$/u.test(s)) return `must not begin or end with a space (got ${describe(s)})`
  if (s.normalize("NFC") !== s) return `must be in Unicode normalization form NFC (got ${describe(s)})`
  return undefined
}

/** A DNS-1123 subdomain, as Kubernetes object names are: the workspace is an AnalyticsWorkspace's name. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export const workspaceProblem = (s: string): string | undefined => {
  if (s.trim().length === 0) return "must not be empty"
  if (s.length > 253 || !DNS_SUBDOMAIN.test(s)) {
    return (
      `must be the name of an AnalyticsWorkspace (a Kubernetes object name: lowercase letters, digits, '-' and '.', ` +
      `starting and ending with a letter or digit, at most 253 characters; got ${describe(s)})`
    )
  }
  return undefined
}

const Username = typed(Schema.String, "a string").pipe(Schema.filter(usernameProblem))
const Workspace = typed(Schema.String, "a string").pipe(Schema.filter(workspaceProblem))

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/

/** The calendar date `YYYY-MM-DD` as its UTC midnight, or undefined when it is not a real date. */
const parseDate = (s: string): Date | undefined => {
  const m = DATE.exec(s)
  if (m === null) return undefined
  const y = Number(m[1]), mo = Number(m[2]), d = Number(m[3])
  const date = new Date(0)
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  date.setUTCFullYear(y, mo - 1, d)
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined
  return date
}

const ExpiryDate = typed(Schema.String, "a date written YYYY-MM-DD").pipe(
  Schema.filter((s) =>
    DATE.test(s)
      ? parseDate(s) !== undefined || `must be a real calendar date (got ${describe(s)})`
      : `must be a date written YYYY-MM-DD (got ${describe(s)})`
  )
)

const Replicas = typed(Schema.Number, "an integer of at least 0").pipe(
  Schema.filter((n) =>
    Number.isInteger(n) && n >= 0 && n <= MAX_REPLICAS
      ? undefined
      : `must be an integer between 0 and ${MAX_REPLICAS} (got ${describe(n)})`
  )
)

const StringMap = typed(
  Schema.Record({ key: Schema.String, value: typed(Schema.String, "a string") }),
  "a map of strings to strings"
)

// ---------------------------------------------------------------------------
// The binding

const Metadata = typed(
  Schema.Struct({
    name: required(typed(Schema.String, "a string")),
    namespace: required(typed(Schema.String, "a string")),
    uid: required(typed(Schema.String, "a string")),
    resourceVersion: required(typed(Schema.String, "a string")),
    generation: Schema.optional(typed(Schema.Number, "a number")),
    deletionTimestamp: Schema.optional(typed(Schema.String, "a string")),
    finalizers: Schema.optional(typed(Schema.Array(typed(Schema.String, "a string")), "a list of strings")),
    labels: Schema.optional(StringMap),
    annotations: Schema.optional(StringMap)
  }),
  "an object"
)

const Claim = typed(
  Schema.Struct({
    name: Schema.optional(typed(Schema.String, "a string")),
    operator: Schema.optional(typed(Schema.String, "a string")),
    value: Schema.optional(typed(Schema.String, "a string"))
  }),
  "an object"
)

/**
 * `spec.replicas`' default makes the struct a transformation, whose own
 * message annotation Schema does not use for a non-object input: check
 * "is an object" first, with its own message.
 */
const AnObject = typed(Schema.Record({ key: Schema.String, value: Schema.Unknown }), "an object")

const Spec = Schema.compose(
  AnObject,
  Schema.Struct({
    workspace: required(Workspace),
    username: required(Username, "bindings matched by claims only are not supported by this operator"),
    replicas: Schema.optionalWith(Replicas, { default: () => 0 }),
    expires: required(ExpiryDate),
    comments: Schema.optional(typed(Schema.String, "a string")),
    claims: Schema.optional(typed(Schema.Array(Claim), "a list"))
  })
)

/** The entity name limit, reported on `spec` (it is about two of its fields together). */
const entityNameFits = (b: { readonly spec: { readonly workspace: string; readonly username: string } }) => {
  const length = [...entityNameFor(b.spec.workspace, b.spec.username)].length
  return length <= MAX_ENTITY_NAME_LENGTH
    ? undefined
    : {
        path: ["spec"],
        message:
          `spec.workspace and spec.username together are too long: the Guacamole user name ` +
          `"<workspace>@<username>" would be ${length} characters, and Guacamole's entity, connection ` +
          `and connection group names (varchar(${MAX_ENTITY_NAME_LENGTH})) hold at most ${MAX_ENTITY_NAME_LENGTH}`
      }
}

export interface BindingStatus {
  readonly statusText?: string
  readonly deploymentName?: string
  readonly lastActiveCheck?: string
  readonly replicas?: number
  readonly [k: string]: unknown
}

/**
 * The status is the operator's own output: a field of the wrong type (say,
 * written by hand) is dropped rather than making the whole binding invalid,
 * so the next status write can put it right.
 */
const sanitizeStatus = (u: unknown): BindingStatus | undefined => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return undefined
  const out: Record<string, unknown> = { ...(u as Record<string, unknown>) }
  for (const key of ["statusText", "deploymentName", "lastActiveCheck"]) {
    if (key in out && typeof out[key] !== "string") delete out[key]
  }
  if ("replicas" in out && !(typeof out.replicas === "number" && Number.isInteger(out.replicas))) {
    delete out.replicas
  }
  return out as BindingStatus
}

const Status = Schema.declare((u: unknown): u is BindingStatus => typeof u === "object" && u !== null)

const StatusFromUnknown = Schema.transform(Schema.Unknown, Schema.UndefinedOr(Status), {
  strict: true,
  decode: sanitizeStatus,
  encode: (s) => s
})

export const BindingSchema = typed(
  Schema.Struct({
    metadata: required(Metadata),
    spec: required(Spec, "a binding needs spec.workspace, spec.username and spec.expires"),
    status: Schema.optional(StatusFromUnknown)
  }),
  "a JSON object"
).pipe(Schema.filter(entityNameFits))

export interface Binding extends Schema.Schema.Type<typeof BindingSchema> {}

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, key) => (typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`),
    ""
  )

/** One sentence from the first problem Schema found: the field's path, then what is wrong. */
const formatIssue = (issue: ParseResult.ParseIssue): string => {
  const first = ParseResult.ArrayFormatter.formatIssueSync(issue)[0]
  if (first === undefined) return "the binding is invalid"
  const path = formatPath(first.path)
  if (path === "") return `the binding ${first.message}`
  return first.message.startsWith(path) ? first.message : `${path} ${first.message}`
}

const decode = Schema.decodeUnknownEither(BindingSchema, { errors: "first", onExcessProperty: "ignore" })

/** Decodes an object from the API server into a Binding, or says in one sentence why it cannot be used. */
const decodeOnce = (u: unknown): Either.Either<Binding, InvalidBinding> =>
  Either.mapLeft(decode(u), (e) => new InvalidBinding({ message: formatIssue(e.issue) }))

/**
 * The decoding of each object, kept while the object lives: a cached binding is read by the
 * indexes, the event handlers and its reconcile, and the caches replace an object on every
 * change rather than modify it, so one decoding per version serves them all.
 */
const decoded = new WeakMap<object, Either.Either<Binding, InvalidBinding>>()

export const decodeBinding = (u: unknown): Either.Either<Binding, InvalidBinding> => {
  if (typeof u !== "object" || u === null) return decodeOnce(u)
  const known = decoded.get(u)
  if (known !== undefined) return known
  const result = decodeOnce(u)
  decoded.set(u, result)
  return result
}

/** The work-queue key of a binding: `namespace/name`. */
export const bindingKey = (b: { readonly metadata: { readonly namespace?: string; readonly name?: string } }): string =>
  `${b.metadata.namespace ?? ""}/${b.metadata.name ?? ""}`

/** A work-queue key split into its namespace and name. */
export const splitBindingKey = (key: string): [string, string] => {
  const i = key.indexOf("/")
  return [key.slice(0, i), key.slice(i + 1)]
}

/**
 * The instant a binding stops being valid: 00:00:00Z of the day after
 * `expires`. A binding is valid through the whole of its expiry date (UTC).
 * `expires` must be a valid `YYYY-MM-DD` date (as `decodeBinding` guarantees);
 * anything else throws a RangeError.
 */
export const expiryInstant = (expires: string): Date => {
  const date = parseDate(expires)
  if (date === undefined) throw new RangeError(`not a YYYY-MM-DD calendar date: ${JSON.stringify(expires)}`)
  date.setUTCDate(date.getUTCDate() + 1)
  return date
}

/** Whether the binding has expired at `now`: from the day after `expires`, 00:00:00Z, on. */
export const isExpired = (expires: string, now: Date): boolean => now.getTime() >= expiryInstant(expires).getTime()
