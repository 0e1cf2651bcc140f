/**
 * The operator's access to Guacamole's database: one binding ↔ one set of rows.
 *
 * For a binding the operator owns, inside Guacamole's schema:
 *   - a root-level connection group named after the workspace,
 *   - a VNC connection named after the user inside it, with exactly our parameters,
 *   - a USER entity `<workspace>@<username>` with its guacamole_user row,
 *   - READ on the user itself, on the group and on the connection.
 *
 * How a reconcile talks to the database (few round trips, no write when converged):
 *   1. `inspect`: one read query (outside any transaction: one statement, one
 *      snapshot) collects everything above, and whether the binding holds
 *      rows of another identity; when nothing differs we stop here;
 *   2. otherwise `ensure` (told `inspected`, so it does not read again
 *      first): BEGIN; then, pipelined, a transaction-scoped advisory lock on
 *      the workspace and the same read again (taken after the lock, so it sees
 *      whatever a concurrent writer committed); then, pipelined, only the
 *      writes the diff asks for; COMMIT.
 * Called alone, `ensure` does step 1's read itself. `converged` is step 1 for
 * many bindings at once, one statement per CONVERGED_CHUNK.
 * The writes find the rows they depend on by name (the group by name at the
 * root, the connection by name in it, the entity by name), so they need no id
 * from a previous write and can all be sent at once. Every lookup is by an
 * index (with the operator's indexes of indexes.ts for the case-insensitive
 * name check and the holder's marks), so no statement's cost grows with the
 * tables.
 *
 * Cost (measured through a delaying proxy): converged, 1 round trip; a new
 * binding, 5 round trips (inspect; BEGIN; lock + read; the writes; COMMIT) once
 * the statements are prepared on the pooled connection. postgres.js prepares
 * each statement text once per connection and, until it has, describes it
 * first (one more round trip, and the pipeline waits), so on a fresh
 * connection the first new binding costs up to ~18. Hence fixed statement
 * texts, at most one statement per kind of row, and a parameterless lock.
 *
 * Ownership. Every row the operator creates is marked in Guacamole's own
 * attribute tables, in the same statement batch that creates it: the user and
 * the connection with `xlscsde.nhs.uk/binding` = `<namespace>/<name>/<uid>` of
 * the binding they serve (its holder), the workspace's group (shared by its
 * bindings) with `xlscsde.nhs.uk/managed-by` = `awms-guacamole-operator`. An
 * unmarked row of the same name is never changed or deleted: `ensure` fails
 * with a GuacamoleConflictError naming it, before any write. The one exception
 * is the upgrade: rows the Python operator made are recognisable (the user by
 * its fixed password hash and salt, the connection by its `hostname`
 * parameter pointing at this binding's own Service `client-<deployment>`, the
 * group by holding nothing else) and are adopted: marked, then put right.
 * Rows held by another binding fail with GuacamoleHeldError; the caller asks
 * the API server whether that binding lives, and may retry with
 * `replacing` = that holder when it does not. `revoke` deletes only what the
 * binding holds.
 *
 * Root-level groups have no effective unique key (parent_id is NULL and NULLs
 * are distinct), so the advisory lock is what stops two concurrent ensures from
 * creating the group twice. Where duplicates already exist (left by the
 * previous operator) the oldest (lowest id) is used.
 */
import { Context, Effect, Layer, Redacted } from "effect"
import type postgres from "postgres"
import {
  classifyError,
  GuacamoleConflictError,
  type GuacamoleError,
  GuacamoleHeldError,
  GuacamoleUnavailable,
} from "./errors.ts"
import { activeHostnames } from "./activity.ts"
import { ensureIndexes } from "./indexes.ts"
import { openPool } from "./pool.ts"
import { DEFAULT_LOCK_TIMEOUT_MS, type DbSettings } from "./settings.ts"

export interface GuacamoleAccess {
  /** Root-level connection group name. */
  readonly workspace: string
  /** Connection name inside that group. */
  readonly username: string
  /** `${workspace}@${username}`: the Guacamole USER entity. */
  readonly entityName: string
  /** Connection parameter `hostname`. */
  readonly hostname: string
  /** Connection parameter `port`. */
  readonly port: number
  /** Connection parameter `password` (VNC). */
  readonly password: Redacted.Redacted<string>
  /** YYYY-MM-DD → guacamole_user.valid_until (null: no end). */
  readonly validUntil: string | null
  /** guacamole_user.disabled */
  readonly disabled: boolean
  /** The binding these rows serve: recorded on the user and the connection. */
  readonly holder: BindingRef
}

/** A binding as the database records it. */
export interface BindingRef {
  readonly namespace: string
  readonly name: string
  readonly uid: string
}

export interface GuacamoleRevocation {
  /** Everything held by this binding (`namespace/name/…`, whatever its uid: names are unique at any one time) … */
  readonly holder: { readonly namespace: string; readonly name: string }
  /** … except the rows of this identity, when given (the binding's current one). */
  readonly keep?: { readonly workspace: string; readonly username: string }
}

export interface Revoked {
  /** What was deleted (descriptions without secrets). */
  readonly changes: ReadonlyArray<string>
  /** The user names (`<workspace>@<username>`) given up. */
  readonly released: ReadonlyArray<string>
}

export interface EnsureOptions {
  /** A holder (`namespace/name/uid`) the caller found gone from the API server: its rows may be taken over. */
  readonly replacing?: string
  /**
   * The caller has just called `inspect` and it reported changes: `ensure`
   * skips its own read outside the transaction and goes straight to the
   * locked one (which reads again, under the lock, before it writes).
   */
  readonly inspected?: boolean
}

/** What `inspect` finds: one read, both questions a reconcile asks before it writes. */
export interface Inspection {
  /** What `ensure` would change (human-readable, never containing secret values); [] when converged. */
  readonly changes: ReadonlyArray<string>
  /** The binding holds rows of an identity other than this access's (what `holdsOthers` with `keep` = this identity says). */
  readonly holdsOthers: boolean
}

/** The attribute recording the binding a user or connection serves. */
export const BINDING_ATTRIBUTE = "xlscsde.nhs.uk/binding"
/** The attribute marking a connection group as the operator's. */
export const MANAGED_BY_ATTRIBUTE = "xlscsde.nhs.uk/managed-by"
export const MANAGED_BY_VALUE = "awms-guacamole-operator"

export const holderValue = (h: BindingRef): string => `${h.namespace}/${h.name}/${h.uid}`
const holderPrefix = (h: { readonly namespace: string; readonly name: string }): string => `${h.namespace}/${h.name}/`

/**
 * The Python operator gave every user this password hash and salt: Python's
 * base64.decodebytes() of two hex strings, exactly as its create_user did.
 */
export const PYTHON_OPERATOR_PASSWORD_HASH = Buffer.from(
  "a42b83d79d300dbcd585c8d8f12564d3c5951578d057879c428bc553d84b7ede",
  "base64",
)
export const PYTHON_OPERATOR_PASSWORD_SALT = Buffer.from(
  "e52dc1ea654a674ece9232116bba5bb4f8aed12baeb797d09109807d63f9027b",
  "base64",
)

export interface GuacamoleDbService {
  /**
   * Read-only, one statement: what `ensure` would change and whether the
   * binding holds rows of another identity; fails as `plan` does (a
   * conflict). A converged binding costs this one round trip.
   */
  readonly inspect: (a: GuacamoleAccess) => Effect.Effect<Inspection, GuacamoleError>
  /**
   * Read-only, one statement per CONVERGED_CHUNK accesses: the holders
   * (`holderValue(a.holder)`) of the accesses whose rows are exactly as
   * wanted (`plan` would report no change and no conflict) and whose holder
   * holds nothing else (`holdsOthers` with `keep` = that identity is false).
   */
  readonly converged: (accesses: ReadonlyArray<GuacamoleAccess>) => Effect.Effect<ReadonlySet<string>, GuacamoleError>
  /** Read-only: what `ensure` would change (human-readable, never containing secret values); [] when converged. */
  readonly plan: (a: GuacamoleAccess) => Effect.Effect<ReadonlyArray<string>, GuacamoleError>
  /** Makes the database match `a` in ONE transaction; returns what it changed; writes nothing when already converged. */
  readonly ensure: (a: GuacamoleAccess, options?: EnsureOptions) => Effect.Effect<ReadonlyArray<string>, GuacamoleError>
  /** Read-only: whether the binding holds rows of an identity other than `keep` (which `revoke` with `keep` would delete). */
  readonly holdsOthers: (r: GuacamoleRevocation) => Effect.Effect<boolean, GuacamoleError>
  /**
   * In one transaction: removes the USER entities this binding holds (their
   * guacamole_user rows and every permission held by or about them go with
   * them, through the schema's ON DELETE CASCADE), the connections it holds
   * (parameters and permissions cascade too), and each operator-marked
   * connection group left with neither a connection nor a child group.
   * Nothing it does not hold is touched. Idempotent.
   */
  readonly revoke: (r: GuacamoleRevocation) => Effect.Effect<Revoked, GuacamoleError>
  /** SELECT 1, for readiness. */
  readonly ping: Effect.Effect<void, GuacamoleError>
  /** One query: the hostnames of the connections in use now (see activity.ts). */
  readonly activeHostnames: Effect.Effect<ReadonlySet<string>, GuacamoleError>
  /** For a `check` command: the Guacamole tables the operator needs exist (and which are missing). */
  readonly checkSchema: Effect.Effect<{ readonly missing: ReadonlyArray<string> }, GuacamoleError>
}

export class GuacamoleDb extends Context.Tag("GuacamoleDb")<GuacamoleDb, GuacamoleDbService>() {}

/** The tables `ensure` and `revoke` read or write. */
export const requiredTables: ReadonlyArray<string> = [
  "guacamole_connection_group",
  "guacamole_connection",
  "guacamole_connection_parameter",
  "guacamole_entity",
  "guacamole_user",
  "guacamole_user_permission",
  "guacamole_connection_group_permission",
  "guacamole_connection_permission",
  "guacamole_user_attribute",
  "guacamole_connection_attribute",
  "guacamole_connection_group_attribute",
]

/** First key of the advisory lock: "guac" in ASCII, so other users of advisory locks can avoid it. */
export const ADVISORY_LOCK_CLASS = 0x67756163

/** What the group must look like (the reference operator's values). */
const GROUP = { type: "ORGANIZATIONAL", maxConnections: 1000, maxConnectionsPerUser: 1000, sessionAffinity: true } as const
const PROTOCOL = "vnc"

/**
 * The connection's parameters, exactly. The operator owns this connection:
 * any other parameter row on it (added by hand or by an older operator) is
 * removed, so what Guacamole uses is always what the binding says.
 */
const desiredParameters = (a: GuacamoleAccess): ReadonlyArray<readonly [name: string, value: string]> => [
  ["hostname", a.hostname],
  ["port", String(a.port)],
  ["password", Redacted.value(a.password)],
  ["disable-copy", "true"],
  ["disable-paste", "true"],
]

/** Parameters whose values may appear in change descriptions. */
const publicParameters = new Set(["hostname", "port", "disable-copy", "disable-paste"])

// ---------------------------------------------------------------------------
// Reading the current state: one statement
// ---------------------------------------------------------------------------

interface StateRow {
  /** Position of the access in the request (1-based). */
  readonly ord: number
  readonly group_id: number | null
  readonly group_type: string | null
  readonly group_max_connections: number | null
  readonly group_max_connections_per_user: number | null
  readonly group_session_affinity: boolean | null
  readonly group_mark: string | null
  /** An unmarked group holds a child group, or a connection neither the operator's nor the Python operator's (false when marked). */
  readonly group_foreign: boolean
  readonly connection_holder: string | null
  readonly connection_id: number | null
  readonly connection_protocol: string | null
  readonly connection_failover_only: boolean | null
  /** The connection is sent through a guacd of its own (proxy_hostname, proxy_port or proxy_encryption_method set). */
  readonly connection_proxied: boolean | null
  readonly parameters: Record<string, string> | null
  readonly entity_id: number | null
  readonly user_id: number | null
  readonly user_disabled: boolean | null
  readonly user_expired: boolean | null
  readonly user_valid_until: string | null
  readonly user_holder: string | null
  readonly user_python: boolean
  readonly case_variants: ReadonlyArray<string>
  readonly read_self: boolean
  readonly read_group: boolean
  readonly read_connection: boolean
  /** The holder holds rows of another identity (what `holdsOthers` with `keep` = this identity reports). */
  readonly holds_others: boolean
}

type Query = postgres.Sql | postgres.TransactionSql

/**
 * The holder's rows are found by their mark's value, `namespace/name/uid`,
 * whatever the uid: the values in [`namespace/name/`, `namespace/name0`) in
 * byte order ("0" follows "/"), which is exactly those starting with
 * `namespace/name/`. A range in the "C" collation, so a btree index on the
 * value serves it (see indexes.ts); without one it is still correct.
 */
const holderRange = (h: { readonly namespace: string; readonly name: string }): readonly [string, string] => {
  const prefix = holderPrefix(h)
  return [prefix, `${prefix.slice(0, -1)}0`]
}

/**
 * The attribute name written into the statement text, not sent as a
 * parameter: the partial indexes of indexes.ts are on `attribute_name =
 * 'xlscsde.nhs.uk/binding'`, and only a literal lets the planner use them in
 * the plan postgres.js's prepared statement keeps.
 */
const bindingAttributeLiteral = (q: Query) => q.unsafe(`'${BINDING_ATTRIBUTE}'`)

/**
 * The state of each access of `lookups.from` (a relation `d` of ord, workspace,
 * username, entity_name, holder_lo, holder_hi), one row each. Every lookup is
 * by a key Guacamole's schema indexes, except the case-variant one
 * (`lower(name)`) and the holder's marks (by value), which the operator's
 * indexes serve when they exist (indexes.ts).
 *
 * A user's or a connection's own mark is looked up by its id with
 * `(attribute_name || '') = …`: that says the same, but does not let the
 * planner see that the operator's partial index (every mark, indexed by
 * value) covers the row. Right after a burst of new bindings, when the
 * statistics say a table of ten rows, the planner took that index and read
 * it whole for each binding to keep one row: 4,000,000 rows for the read-back
 * of 2,000 bindings (4 s; scale.test.ts).
 */
const stateOf = (q: Query, lookups: Lookups) =>
  q<StateRow[]>`
    ${lookups.before}
    SELECT d.ord::int AS ord,
           g.connection_group_id AS group_id,
           g.type::text AS group_type,
           g.max_connections AS group_max_connections,
           g.max_connections_per_user AS group_max_connections_per_user,
           g.enable_session_affinity AS group_session_affinity,
           gm.attribute_value AS group_mark,
           -- Whether an unmarked group holds anything but the previous operator's connections: not
           -- asked of a marked group, where it would probe every connection of the workspace.
           (CASE WHEN gm.attribute_value IS NOT NULL THEN false ELSE (
            EXISTS (SELECT 1 FROM guacamole_connection_group s WHERE s.parent_id = g.connection_group_id)
            OR EXISTS (SELECT 1 FROM guacamole_connection o
                        WHERE o.parent_id = g.connection_group_id
                          AND NOT EXISTS (SELECT 1 FROM guacamole_connection_attribute oa
                                           WHERE oa.connection_id = o.connection_id AND (oa.attribute_name || '') = ${BINDING_ATTRIBUTE})
                          AND NOT (o.protocol = 'vnc' AND EXISTS (
                                SELECT 1 FROM guacamole_connection_parameter op
                                 WHERE op.connection_id = o.connection_id AND op.parameter_name = 'hostname'
                                   AND op.parameter_value LIKE 'client-%')))) END) AS group_foreign,
           (SELECT ca.attribute_value FROM guacamole_connection_attribute ca
             WHERE ca.connection_id = c.connection_id AND (ca.attribute_name || '') = ${BINDING_ATTRIBUTE}) AS connection_holder,
           c.connection_id,
           c.protocol AS connection_protocol,
           c.failover_only AS connection_failover_only,
           (c.proxy_hostname IS NOT NULL OR c.proxy_port IS NOT NULL OR c.proxy_encryption_method IS NOT NULL) AS connection_proxied,
           (SELECT json_object_agg(p.parameter_name, p.parameter_value)
              FROM guacamole_connection_parameter p
             WHERE p.connection_id = c.connection_id) AS parameters,
           e.entity_id,
           u.user_id,
           u.disabled AS user_disabled,
           u.expired AS user_expired,
           to_char(u.valid_until, 'YYYY-MM-DD') AS user_valid_until,
           (SELECT ua.attribute_value FROM guacamole_user_attribute ua
             WHERE ua.user_id = u.user_id AND (ua.attribute_name || '') = ${BINDING_ATTRIBUTE}) AS user_holder,
           COALESCE(u.password_hash = ${PYTHON_OPERATOR_PASSWORD_HASH} AND u.password_salt = ${PYTHON_OPERATOR_PASSWORD_SALT}, false) AS user_python,
           ${lookups.caseVariants} AS case_variants,
           EXISTS (SELECT 1 FROM guacamole_user_permission up
                    WHERE up.entity_id = e.entity_id AND up.affected_user_id = u.user_id
                      AND up.permission = 'READ') AS read_self,
           EXISTS (SELECT 1 FROM guacamole_connection_group_permission gp
                    WHERE gp.entity_id = e.entity_id AND gp.connection_group_id = g.connection_group_id
                      AND gp.permission = 'READ') AS read_group,
           EXISTS (SELECT 1 FROM guacamole_connection_permission cp
                    WHERE cp.entity_id = e.entity_id AND cp.connection_id = c.connection_id
                      AND cp.permission = 'READ') AS read_connection,
           ${lookups.holdsOthers} AS holds_others
      FROM ${lookups.from}
      ${lookups.group}
      LEFT JOIN guacamole_connection_group_attribute gm
             ON gm.connection_group_id = g.connection_group_id AND gm.attribute_name = ${MANAGED_BY_ATTRIBUTE}
      LEFT JOIN guacamole_connection c
             ON c.parent_id = g.connection_group_id AND c.connection_name = d.username
      LEFT JOIN guacamole_entity e ON e.type = 'USER' AND e.name = d.entity_name
      LEFT JOIN guacamole_user u ON u.entity_id = e.entity_id
     ORDER BY d.ord`

type Fragment = postgres.PendingQuery<postgres.Row[]>

/** The parts of the state statement that differ between one access and many. */
interface Lookups {
  /** A WITH clause, or nothing. */
  readonly before: Fragment
  /** The relation `d` of the accesses, and any joins of it. */
  readonly from: Fragment
  /** The join that makes `g`: the workspace's root connection group (the first made, if several share its name). */
  readonly group: Fragment
  /** text[]: the USER entities whose names differ from d.entity_name only by case. */
  readonly caseVariants: Fragment
  /** boolean: the holder holds rows of another identity. */
  readonly holdsOthers: Fragment
}

/**
 * One access: its values as one row of constants, and the two lookups as
 * subqueries run once, each an index probe (with the operator's indexes).
 */
const readState = (q: Query, a: GuacamoleAccess) => {
  const [lo, hi] = holderRange(a.holder)
  return stateOf(q, {
    before: q``,
    from: q`(SELECT 1 AS ord, ${a.workspace}::text AS workspace, ${a.username}::text AS username,
                    ${a.entityName}::text AS entity_name, ${lo}::text AS holder_lo, ${hi}::text AS holder_hi) AS d`,
    group: q`LEFT JOIN LATERAL (
             SELECT * FROM guacamole_connection_group
              WHERE parent_id IS NULL AND connection_group_name = d.workspace
              ORDER BY connection_group_id
              LIMIT 1) g ON true`,
    // The type is compared as text so that only the lower(name) index can serve the lookup: with
    // stale statistics (a burst of new bindings not yet analysed) the planner otherwise read every
    // USER entity through the (type, name) index, 3 ms at 5,000 users, twice per new binding.
    caseVariants: q`ARRAY(SELECT x.name::text
                   FROM guacamole_entity x
                  WHERE lower(x.name) = lower(d.entity_name) AND x.type::text = 'USER' AND x.name <> d.entity_name
                  ORDER BY x.entity_id)`,
    holdsOthers: q`(EXISTS (SELECT 1 FROM guacamole_user_attribute ha
                      JOIN guacamole_user hu ON hu.user_id = ha.user_id
                      JOIN guacamole_entity he ON he.entity_id = hu.entity_id
                     WHERE ha.attribute_name = ${bindingAttributeLiteral(q)}
                       AND (ha.attribute_value COLLATE "C") >= d.holder_lo AND (ha.attribute_value COLLATE "C") < d.holder_hi
                       AND he.name <> d.entity_name)
            OR EXISTS (SELECT 1 FROM guacamole_connection_attribute hc
                         JOIN guacamole_connection hcn ON hcn.connection_id = hc.connection_id
                         LEFT JOIN guacamole_connection_group hg ON hg.connection_group_id = hcn.parent_id
                        WHERE hc.attribute_name = ${bindingAttributeLiteral(q)}
                          AND (hc.attribute_value COLLATE "C") >= d.holder_lo AND (hc.attribute_value COLLATE "C") < d.holder_hi
                          AND NOT (hcn.connection_name = d.username
                                   AND hg.connection_group_name IS NOT DISTINCT FROM d.workspace)))`,
  })
}

/**
 * Many accesses in one statement: five arrays, unnested side by side, and the
 * two lookups and the workspace's group as joins over all of them at once,
 * which the planner may run as one pass over each table (a hash join) whether
 * or not the operator's indexes exist: per binding, the cost does not grow
 * with the tables either way. The holder's marks are matched on their first
 * two parts (namespace and name, which cannot contain "/") and then, exactly,
 * on the prefix.
 */
const readStates = (q: Query, accesses: ReadonlyArray<GuacamoleAccess>) => {
  const ranges = accesses.map((a) => holderRange(a.holder))
  return stateOf(q, {
    before: q`
      WITH d AS MATERIALIZED (
             SELECT * FROM unnest(${accesses.map((a) => a.workspace)}::text[], ${accesses.map((a) => a.username)}::text[],
                                  ${accesses.map((a) => a.entityName)}::text[], ${ranges.map((r) => r[0])}::text[],
                                  ${ranges.map((r) => r[1])}::text[])
                    WITH ORDINALITY AS d(workspace, username, entity_name, holder_lo, holder_hi, ord)),
           roots AS (
             SELECT DISTINCT ON (connection_group_name) *
               FROM guacamole_connection_group
              WHERE parent_id IS NULL
              ORDER BY connection_group_name, connection_group_id),
           variants AS (
             SELECT d.ord, array_agg(x.name::text ORDER BY x.entity_id) AS names
               FROM d JOIN guacamole_entity x
                 ON x.type = 'USER' AND lower(x.name) = lower(d.entity_name) AND x.name <> d.entity_name
              GROUP BY d.ord),
           marks AS (
             SELECT ha.attribute_value::text AS holder, he.name::text AS entity_name,
                    NULL::text AS connection_name, NULL::text AS group_name, true AS is_user
               FROM guacamole_user_attribute ha
               JOIN guacamole_user hu ON hu.user_id = ha.user_id
               JOIN guacamole_entity he ON he.entity_id = hu.entity_id
              WHERE ha.attribute_name = ${bindingAttributeLiteral(q)}
             UNION ALL
             SELECT hc.attribute_value::text, NULL, hcn.connection_name::text, hg.connection_group_name::text, false
               FROM guacamole_connection_attribute hc
               JOIN guacamole_connection hcn ON hcn.connection_id = hc.connection_id
               LEFT JOIN guacamole_connection_group hg ON hg.connection_group_id = hcn.parent_id
              WHERE hc.attribute_name = ${bindingAttributeLiteral(q)}),
           others AS (
             SELECT DISTINCT d.ord
               FROM d JOIN marks m
                 ON split_part(m.holder, '/', 1) || '/' || split_part(m.holder, '/', 2) || '/' = d.holder_lo
                AND starts_with(m.holder, d.holder_lo)
              WHERE CASE WHEN m.is_user THEN m.entity_name <> d.entity_name
                         ELSE NOT (m.connection_name = d.username AND m.group_name IS NOT DISTINCT FROM d.workspace) END)`,
    from: q`d LEFT JOIN variants v ON v.ord = d.ord LEFT JOIN others o ON o.ord = d.ord`,
    // Every root group once, joined by name: a lateral lookup per binding (as for one access) is a
    // loop the planner may run as a scan of every root group per binding when statistics are stale.
    group: q`LEFT JOIN roots g ON g.connection_group_name = d.workspace`,
    caseVariants: q`COALESCE(v.names, ARRAY[]::text[])`,
    holdsOthers: q`(o.ord IS NOT NULL)`,
  })
}

/**
 * Second key of the advisory lock: 32-bit FNV-1a of the lower-cased workspace
 * name, as a signed int4. Lower-cased so that case variants of one workspace
 * serialise too (two ensures cannot race past the case-insensitive user-name
 * check for `WS@u` and `ws@u`). Computed here rather than with hashtext() so the
 * lock statement has no parameter: postgres.js sends a parameterless statement
 * at once, pipelined with the read that follows, where a parameterised one not
 * yet prepared on the connection would cost a describe round trip first.
 */
export const workspaceLockKey = (workspace: string): number => {
  let h = 0x811c9dc5
  for (const byte of new TextEncoder().encode(workspace.toLowerCase())) {
    h ^= byte
    h = Math.imul(h, 0x01000193)
  }
  return h | 0
}

const lockWorkspace = (tx: postgres.TransactionSql, workspace: string) =>
  tx.unsafe(`SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_CLASS}, ${workspaceLockKey(workspace)})`)

// ---------------------------------------------------------------------------
// The diff: what differs (descriptions) and the statements that fix it
// ---------------------------------------------------------------------------

type Write = (tx: postgres.TransactionSql) => postgres.PendingQuery<postgres.Row[]>

interface Plan {
  readonly descriptions: ReadonlyArray<string>
  /** At most one statement per kind of row, each with a fixed text (so prepared once per connection). */
  readonly writes: ReadonlyArray<Write>
}

const quote = (s: string) => JSON.stringify(s)

const ANY_HOLDER = "*"

const conflictFor = (
  row: StateRow,
  a: GuacamoleAccess,
  operation: string,
  options: EnsureOptions = {},
): GuacamoleConflictError | GuacamoleHeldError | undefined => {
  const existing = row.case_variants[0]
  if (existing !== undefined) {
    return new GuacamoleConflictError({
      message:
        `${operation}: Guacamole user ${quote(existing)} already exists and differs from ${quote(a.entityName)} ` +
        `only by letter case; Guacamole compares user names case-insensitively, so they would be the same user`,
      operation,
      requested: a.entityName,
      existing,
    })
  }
  const notOurs = (what: string, why: string) =>
    new GuacamoleConflictError({
      message:
        `${operation}: ${what} already exists and was not made by this operator (${why}); ` +
        `it is left untouched: rename the binding's workspace or user, or remove that row by hand`,
      operation,
      requested: a.entityName,
      existing: what,
    })
  if (row.group_id !== null && row.group_mark !== null && row.group_mark !== MANAGED_BY_VALUE) {
    return notOurs(
      `connection group ${quote(a.workspace)} (id ${row.group_id})`,
      `its ${MANAGED_BY_ATTRIBUTE} mark is ${quote(row.group_mark.slice(0, 64))}`,
    )
  }
  if (row.group_id !== null && row.group_mark === null && (row.group_type !== GROUP.type || row.group_foreign)) {
    return notOurs(
      `connection group ${quote(a.workspace)} (id ${row.group_id})`,
      row.group_type !== GROUP.type ? `its type is ${row.group_type}` : "it holds connections or groups of its own",
    )
  }
  if (row.connection_id !== null && row.connection_holder === null && row.parameters?.hostname !== a.hostname) {
    return notOurs(
      `connection ${quote(`${a.workspace}/${a.username}`)} (id ${row.connection_id})`,
      "it is not marked as the operator's and does not point at this binding's browser",
    )
  }
  if (row.entity_id !== null && (row.user_id === null || (row.user_holder === null && !row.user_python))) {
    return notOurs(
      `Guacamole user ${quote(a.entityName)} (entity id ${row.entity_id})`,
      row.user_id === null ? "it has no guacamole_user row" : "it is not marked as the operator's",
    )
  }
  const mine = holderValue(a.holder)
  for (const held of [row.connection_holder, row.user_holder]) {
    if (held !== null && held !== mine && held !== options.replacing && options.replacing !== ANY_HOLDER) {
      return new GuacamoleHeldError({
        message: `${operation}: Guacamole user ${quote(a.entityName)} and its connection are held by binding ${held.slice(0, held.lastIndexOf("/"))}`,
        operation,
        holder: held,
      })
    }
  }
  return undefined
}

const randomBytes = (n: number): Buffer => Buffer.from(crypto.getRandomValues(new Uint8Array(n)))

const diff = (row: StateRow, a: GuacamoleAccess): Plan => {
  const descriptions: Array<string> = []
  const writes: Array<Write> = []
  const connectionLabel = quote(`${a.workspace}/${a.username}`)
  const userLabel = quote(a.entityName)

  // Rows are found by name, never by an id from the read: a row created by an
  // earlier statement of this transaction is found the same way (statements
  // run in order, each seeing the ones before it), and every statement keeps
  // one text whatever existed before.
  const groupRef = (tx: postgres.TransactionSql) =>
    tx`(SELECT connection_group_id FROM guacamole_connection_group
         WHERE parent_id IS NULL AND connection_group_name = ${a.workspace}
         ORDER BY connection_group_id LIMIT 1)`
  const connectionRef = (tx: postgres.TransactionSql) =>
    tx`(SELECT connection_id FROM guacamole_connection
         WHERE parent_id = ${groupRef(tx)} AND connection_name = ${a.username})`
  const entityRef = (tx: postgres.TransactionSql) =>
    tx`(SELECT entity_id FROM guacamole_entity WHERE type = 'USER' AND name = ${a.entityName})`
  const userRef = (tx: postgres.TransactionSql) =>
    tx`(SELECT user_id FROM guacamole_user WHERE entity_id = ${entityRef(tx)})`

  // Connection group
  if (row.group_id === null) {
    descriptions.push(`create connection group ${quote(a.workspace)}`)
    writes.push((tx) => tx`
      INSERT INTO guacamole_connection_group
        (connection_group_name, parent_id, type, max_connections, max_connections_per_user, enable_session_affinity)
      VALUES (${a.workspace}, NULL, ${GROUP.type}, ${GROUP.maxConnections}, ${GROUP.maxConnectionsPerUser},
              ${GROUP.sessionAffinity})`)
  } else {
    const wrong = [
      row.group_type !== GROUP.type ? "type" : undefined,
      row.group_max_connections !== GROUP.maxConnections ? "max_connections" : undefined,
      row.group_max_connections_per_user !== GROUP.maxConnectionsPerUser ? "max_connections_per_user" : undefined,
      row.group_session_affinity !== GROUP.sessionAffinity ? "enable_session_affinity" : undefined,
    ].filter((f) => f !== undefined)
    if (wrong.length > 0) {
      descriptions.push(`update connection group ${quote(a.workspace)}: ${wrong.join(", ")}`)
      writes.push((tx) => tx`
        UPDATE guacamole_connection_group
           SET type = ${GROUP.type}, max_connections = ${GROUP.maxConnections},
               max_connections_per_user = ${GROUP.maxConnectionsPerUser},
               enable_session_affinity = ${GROUP.sessionAffinity}
         WHERE connection_group_id = ${groupRef(tx)}`)
    }
  }

  // Connection
  if (row.connection_id === null) {
    descriptions.push(`create connection ${connectionLabel} (${PROTOCOL})`)
    writes.push((tx) => tx`
      INSERT INTO guacamole_connection (connection_name, parent_id, protocol, failover_only)
      VALUES (${a.username}, ${groupRef(tx)}, ${PROTOCOL}, false)`)
  } else if (row.connection_protocol !== PROTOCOL || row.connection_failover_only !== false || row.connection_proxied === true) {
    const wrong = [
      row.connection_protocol !== PROTOCOL ? "protocol" : undefined,
      row.connection_failover_only !== false ? "failover_only" : undefined,
      // Another guacd would see the VNC password and the session: only Guacamole's own is used.
      row.connection_proxied === true ? "proxy removed" : undefined,
    ].filter((f) => f !== undefined)
    descriptions.push(`update connection ${connectionLabel}: ${wrong.join(", ")}`)
    writes.push((tx) => tx`
      UPDATE guacamole_connection
         SET protocol = ${PROTOCOL}, failover_only = false, proxy_hostname = NULL, proxy_port = NULL, proxy_encryption_method = NULL
       WHERE connection_id = ${connectionRef(tx)}`)
  }

  // Connection parameters: exactly ours
  const current = row.parameters ?? {}
  const desired = desiredParameters(a)
  const toSet = desired.filter(([name, value]) => current[name] !== value)
  for (const [name, value] of toSet) {
    const shown = publicParameters.has(name) ? ` = ${quote(value)}` : " (value hidden)"
    descriptions.push(`${name in current ? "update" : "set"} parameter ${name}${shown} of connection ${connectionLabel}`)
  }
  if (toSet.length > 0) {
    // All five in one statement; a row whose value is already right is left alone.
    const [p0, p1, p2, p3, p4] = desired as [
      readonly [string, string], readonly [string, string], readonly [string, string],
      readonly [string, string], readonly [string, string],
    ]
    writes.push((tx) => tx`
      INSERT INTO guacamole_connection_parameter AS p (connection_id, parameter_name, parameter_value)
      SELECT ${connectionRef(tx)}, d.name, d.value
        FROM (VALUES (${p0[0]}::text, ${p0[1]}::text), (${p1[0]}, ${p1[1]}), (${p2[0]}, ${p2[1]}),
                     (${p3[0]}, ${p3[1]}), (${p4[0]}, ${p4[1]})) AS d(name, value)
      ON CONFLICT (connection_id, parameter_name) DO UPDATE SET parameter_value = EXCLUDED.parameter_value
       WHERE p.parameter_value IS DISTINCT FROM EXCLUDED.parameter_value`)
  }
  const desiredNames = desired.map(([name]) => name)
  const extra = Object.keys(current)
    .filter((name) => !desiredNames.includes(name))
    .sort()
  if (extra.length > 0) {
    // Names only: an unknown parameter's value may be a secret.
    descriptions.push(`remove parameter${extra.length > 1 ? "s" : ""} ${extra.join(", ")} of connection ${connectionLabel}`)
    writes.push((tx) => tx`
      DELETE FROM guacamole_connection_parameter
       WHERE connection_id = ${connectionRef(tx)} AND parameter_name <> ALL(string_to_array(${desiredNames.join("\n")}::text, E'\n'))`)
  }

  // USER entity and its guacamole_user row. No ON CONFLICT: the workspace's lock keeps the
  // operator's own writers apart, so a row of that name appearing since the read was committed
  // by someone else (Guacamole's administration page). The insert then fails, the attempt is
  // retried (23505 is transient), and the next read finds that row and refuses it, where
  // DO NOTHING went on to grant and mark their user as the binding's.
  if (row.entity_id === null) {
    descriptions.push(`create Guacamole user ${userLabel}`)
    writes.push((tx) => tx`
      INSERT INTO guacamole_entity (name, type) VALUES (${a.entityName}, 'USER')`)
  }
  if (row.user_id === null) {
    descriptions.push(
      `create guacamole_user row for ${userLabel} (random unusable password` +
        `${a.disabled ? ", disabled" : ""}${a.validUntil !== null ? `, valid until ${a.validUntil}` : ""})`,
    )
    writes.push((tx) => {
      // A password nobody knows (sign-in is through SSO), made once, at creation.
      const hash = randomBytes(32)
      const salt = randomBytes(32)
      return tx`
        INSERT INTO guacamole_user
          (entity_id, password_hash, password_salt, password_date, disabled, expired, valid_until)
        VALUES (${entityRef(tx)}, ${hash}, ${salt}, now(), ${a.disabled}, false, ${a.validUntil}::date)`
    })
  } else {
    const wrong = [
      row.user_disabled !== a.disabled ? `disabled ${row.user_disabled} → ${a.disabled}` : undefined,
      row.user_expired !== false ? `expired ${row.user_expired} → false` : undefined,
      row.user_valid_until !== a.validUntil
        ? `valid_until ${row.user_valid_until ?? "none"} → ${a.validUntil ?? "none"}`
        : undefined,
    ].filter((f) => f !== undefined)
    if (wrong.length > 0) {
      descriptions.push(`update Guacamole user ${userLabel}: ${wrong.join(", ")}`)
      writes.push((tx) => tx`
        UPDATE guacamole_user SET disabled = ${a.disabled}, expired = false, valid_until = ${a.validUntil}::date
         WHERE entity_id = ${entityRef(tx)}`)
    }
    if (row.user_python) {
      // The previous operator gave every user the one password whose hash it shipped: whoever
      // knows it could sign in as any of them where Guacamole's own login is reachable.
      descriptions.push(`replace the shared password the previous operator gave Guacamole user ${userLabel} with a random unusable one`)
      writes.push((tx) => {
        const hash = randomBytes(32)
        const salt = randomBytes(32)
        return tx`
          UPDATE guacamole_user SET password_hash = ${hash}, password_salt = ${salt}, password_date = now()
           WHERE entity_id = ${entityRef(tx)}
             AND password_hash = ${PYTHON_OPERATOR_PASSWORD_HASH} AND password_salt = ${PYTHON_OPERATOR_PASSWORD_SALT}`
      })
    }
  }

  // Permissions
  if (!row.read_self) descriptions.push(`grant ${userLabel} READ on itself`)
  if (!row.read_group) descriptions.push(`grant ${userLabel} READ on connection group ${quote(a.workspace)}`)
  if (!row.read_connection) descriptions.push(`grant ${userLabel} READ on connection ${connectionLabel}`)
  if (!row.read_self || !row.read_group || !row.read_connection) {
    // The three in one statement; those already held are left alone.
    writes.push((tx) => tx`
      WITH self AS (
             INSERT INTO guacamole_user_permission (entity_id, affected_user_id, permission)
             VALUES (${entityRef(tx)}, ${userRef(tx)}, 'READ') ON CONFLICT DO NOTHING),
           grp AS (
             INSERT INTO guacamole_connection_group_permission (entity_id, connection_group_id, permission)
             VALUES (${entityRef(tx)}, ${groupRef(tx)}, 'READ') ON CONFLICT DO NOTHING)
      INSERT INTO guacamole_connection_permission (entity_id, connection_id, permission)
      VALUES (${entityRef(tx)}, ${connectionRef(tx)}, 'READ') ON CONFLICT DO NOTHING`)
  }
  // Ownership marks: in the same transaction as the rows they mark.
  const holder = holderValue(a.holder)
  const bindingLabel = `${a.holder.namespace}/${a.holder.name}`
  // (A row created above is marked without a description of its own: "create" says it is ours.)
  if (row.group_mark !== MANAGED_BY_VALUE) {
    if (row.group_id !== null) descriptions.push(`adopt connection group ${quote(a.workspace)} (made by the previous operator)`)
    writes.push((tx) => tx`
      INSERT INTO guacamole_connection_group_attribute (connection_group_id, attribute_name, attribute_value)
      VALUES (${groupRef(tx)}, ${MANAGED_BY_ATTRIBUTE}, ${MANAGED_BY_VALUE})
      ON CONFLICT (connection_group_id, attribute_name) DO UPDATE SET attribute_value = EXCLUDED.attribute_value`)
  }
  if (row.connection_holder !== holder) {
    if (row.connection_id !== null) {
      descriptions.push(
        row.connection_holder !== null
          ? `take over connection ${connectionLabel} for binding ${bindingLabel} (its holder is gone)`
          : `adopt connection ${connectionLabel} (made by the previous operator) for binding ${bindingLabel}`,
      )
    }
    writes.push((tx) => tx`
      INSERT INTO guacamole_connection_attribute (connection_id, attribute_name, attribute_value)
      VALUES (${connectionRef(tx)}, ${BINDING_ATTRIBUTE}, ${holder})
      ON CONFLICT (connection_id, attribute_name) DO UPDATE SET attribute_value = EXCLUDED.attribute_value`)
  }
  if (row.user_holder !== holder) {
    if (row.user_id !== null) {
      descriptions.push(
        row.user_holder !== null
          ? `take over Guacamole user ${userLabel} for binding ${bindingLabel} (its holder is gone)`
          : `adopt Guacamole user ${userLabel} (made by the previous operator) for binding ${bindingLabel}`,
      )
    }
    writes.push((tx) => tx`
      INSERT INTO guacamole_user_attribute (user_id, attribute_name, attribute_value)
      VALUES (${userRef(tx)}, ${BINDING_ATTRIBUTE}, ${holder})
      ON CONFLICT (user_id, attribute_name) DO UPDATE SET attribute_value = EXCLUDED.attribute_value`)
  }
  return { descriptions, writes }
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

/** Registers a query of the operation, so that interrupting the operation cancels it; returns the query. */
type Track = <Q extends Cancellable>(query: Q) => Q
/** A postgres.js query, as far as `run` needs it. */
type Cancellable = PromiseLike<unknown> & { cancel(): unknown }

/**
 * An operation as an Effect that can be interrupted: on interruption every
 * query of the operation still running is cancelled (postgres.js's
 * `cancel()`, a cancel request to the server; one still queued is dropped),
 * so a transaction's callback fails, postgres.js rolls it back and returns
 * its connection to the pool. The interruption completes once the operation
 * has settled, so nothing of it runs on afterwards.
 */
const run = <A>(operation: string, f: (track: Track, signal: AbortSignal) => Promise<A>): Effect.Effect<A, GuacamoleError> =>
  Effect.async<A, GuacamoleError>((resume, signal) => {
    const running = new Set<Cancellable>()
    const cancel = (query: Cancellable) => {
      try {
        query.cancel()
      } catch {
        // Settled meanwhile: nothing to cancel.
      }
    }
    const track: Track = (query) => {
      running.add(query)
      query.then(
        () => running.delete(query),
        () => running.delete(query),
      )
      if (signal.aborted) cancel(query)
      return query
    }
    signal.addEventListener("abort", () => running.forEach(cancel), { once: true })
    const settled = (async () => f(track, signal))().then(
      (a) => resume(Effect.succeed(a)),
      (e) => resume(Effect.fail(classifyError(e, operation))),
    )
    // Interruption waits for the rollback, but not for ever: a query cancelled before postgres.js
    // sent it may never settle, and a stop must not hang on it (the pool's end closes its connection).
    // The bound is a plain timer: a canceller runs uninterruptibly, so an Effect timeout could not
    // interrupt the wait it is meant to bound.
    return Effect.promise(() => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const bound = new Promise<void>((r) => (timer = setTimeout(r, CANCEL_WAIT_MS)))
      return Promise.race([settled, bound]).finally(() => clearTimeout(timer))
    })
  })

/** How long an interrupted operation waits for its queries to be cancelled and its transaction rolled back. */
const CANCEL_WAIT_MS = 3_000

/** Thrown inside an operation that was interrupted before its next step; never seen by a caller. */
const interrupted = (operation: string) =>
  new GuacamoleUnavailable({ message: `${operation}: interrupted`, operation, code: undefined })

const single = (rows: ReadonlyArray<StateRow>): StateRow => {
  const row = rows[0]
  // The query selects FROM one row of constants: exactly one row, always.
  if (row === undefined) throw new Error("state query returned no row")
  return row
}

/**
 * One writer per workspace in this process. Writers of one workspace
 * serialise on its advisory lock anyway; waiting here instead, before a pool
 * connection is taken, means a workspace whose rows another session holds
 * locked ties up one connection (until lock_timeout), not the whole pool. A
 * writer that waits longer than `waitMs` gives up with a transient error, so
 * its worker goes back to the queue (and the key to its backoff) instead of
 * queueing behind a blocked workspace; one interrupted while waiting gives
 * its turn up the same way.
 */
const keyedMutex = (waitMs: number) => {
  const tails = new Map<string, Promise<void>>()
  return async <A>(key: string, operation: string, signal: AbortSignal, f: () => Promise<A>): Promise<A> => {
    const before = tails.get(key) ?? Promise.resolve()
    let release!: () => void
    const mine = new Promise<void>((r) => (release = r))
    const tail = before.then(() => mine)
    tails.set(key, tail)
    let timer: ReturnType<typeof setTimeout> | undefined
    let onAbort: (() => void) | undefined
    const waited = await Promise.race([
      before.then(() => "turn" as const),
      new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), waitMs))),
      new Promise<"aborted">((r) => {
        onAbort = () => r("aborted")
        if (signal.aborted) onAbort()
        else signal.addEventListener("abort", onAbort, { once: true })
      }),
    ])
    clearTimeout(timer)
    if (onAbort) signal.removeEventListener("abort", onAbort)
    if (waited !== "turn") {
      // Our turn comes later: pass it straight on.
      void before.then(release)
      if (tails.get(key) === tail) void tail.then(() => tails.get(key) === tail && tails.delete(key))
      if (waited === "aborted") throw interrupted(operation)
      throw new GuacamoleUnavailable({
        message: `${operation}: another write of this workspace has waited for the database for over ${waitMs} ms; retried later`,
        operation,
        code: "WORKSPACE_BUSY",
      })
    }
    // Interrupted while holding the turn: pass it on at once. The workspace's advisory lock still
    // serialises its writers in the database; this turn only keeps them from tying up the pool, and
    // must not stay taken by an operation whose queries the server may never answer now.
    let released = false
    const releaseOnce = () => {
      if (released) return
      released = true
      release()
      if (tails.get(key) === tail) tails.delete(key)
    }
    signal.addEventListener("abort", releaseOnce, { once: true })
    try {
      return await f()
    } finally {
      signal.removeEventListener("abort", releaseOnce)
      releaseOnce()
    }
  }
}

/**
 * Accesses per statement of `converged`. Each statement also reads every ownership mark once (a
 * hash join, index or not), about 150 ms at 10,000 bindings: few large statements cost less than
 * many small ones (10,000 bindings: 3.1 s in statements of 1,000, 0.8 s in one of 10,000), and
 * 5,000 keeps one result's rows a few megabytes.
 */
export const CONVERGED_CHUNK = 5000

/** The planner setting of `converged`'s transactions (see there). */
export const CONVERGED_PLANNING = "SET LOCAL enable_nestloop = off"

export const make = (sql: postgres.Sql, options: { readonly lockTimeoutMs?: number } = {}): GuacamoleDbService => {
  const perWorkspace = keyedMutex(options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS)

  /** What `plan` reports, from a state row: the changes, or the conflict (who holds the rows is for `ensure` to settle). */
  const inspectRow = (row: StateRow, a: GuacamoleAccess, operation: string): Inspection => {
    const conflict = conflictFor(row, a, operation, { replacing: ANY_HOLDER })
    if (conflict !== undefined) throw conflict
    return { changes: diff(row, a).descriptions, holdsOthers: row.holds_others }
  }

  const inspect = (a: GuacamoleAccess) => {
    const operation = `inspect ${a.entityName}`
    return run(operation, async (track) => inspectRow(single(await track(readState(sql, a))), a, operation))
  }

  const plan = (a: GuacamoleAccess) => {
    const operation = `plan ${a.entityName}`
    return run(operation, async (track) => inspectRow(single(await track(readState(sql, a))), a, operation).changes)
  }

  const ensure = (a: GuacamoleAccess, options: EnsureOptions = {}) => {
    const operation = `ensure ${a.entityName}`
    return run(operation, async (track, signal) => {
      if (options.inspected !== true) {
        // Fast path, one statement: converged (the common case on every resync) → done.
        const seen = single(await track(readState(sql, a)))
        const early = conflictFor(seen, a, operation, options)
        if (early !== undefined) throw early
        if (diff(seen, a).descriptions.length === 0) return []
      }
      return perWorkspace(a.workspace.toLowerCase(), operation, signal, () => sql.begin(async (tx) => {
        if (signal.aborted) throw interrupted(operation)
        const [, rows] = await Promise.all([track(lockWorkspace(tx, a.workspace)), track(readState(tx, a))])
        const row = single(rows)
        const conflict = conflictFor(row, a, operation, options)
        if (conflict !== undefined) throw conflict
        const { descriptions, writes } = diff(row, a)
        await Promise.all(writes.map((write) => track(write(tx))))
        return descriptions
      }))
    })
  }

  const converged = (accesses: ReadonlyArray<GuacamoleAccess>) => {
    const operation = `read the state of ${accesses.length} binding${accesses.length === 1 ? "" : "s"}`
    return run(operation, async (track) => {
      const out = new Set<string>()
      const chunks: Array<ReadonlyArray<GuacamoleAccess>> = []
      for (let start = 0; start < accesses.length; start += CONVERGED_CHUNK) chunks.push(accesses.slice(start, start + CONVERGED_CHUNK))
      // The chunks are read at once, each on a connection of the pool (queued on one where there is
      // only one): the server reads one while the operator compares the rows of another.
      await Promise.all(
        chunks.map(async (chunk) => {
          // Without nested loops, in a transaction of its own (SET LOCAL ends with it): after a burst of
          // new bindings the autovacuum has not analysed yet, the tables' statistics say a few rows, and
          // the planner then joined every binding with every user by a nested loop, 4,000,000 rows at
          // 2,000 bindings (2 to 4 s; at 10,000, beyond the statement timeout). Hash joins read each
          // table once whatever the statistics say. The SET is sent with the read, in one round trip.
          const rows = await sql.begin(async (tx) => {
            const [, read] = await Promise.all([track(tx.unsafe(CONVERGED_PLANNING)), track(readStates(tx, chunk))])
            return read
          })
          for (const row of rows) {
            const a = chunk[row.ord - 1]
            if (a === undefined || row.holds_others) continue
            if (conflictFor(row, a, operation, { replacing: ANY_HOLDER }) !== undefined) continue
            if (diff(row, a).descriptions.length === 0) out.add(holderValue(a.holder))
          }
        }),
      )
      return out as ReadonlySet<string>
    })
  }

  /** The rows a binding holds, other than those of `keep`. */
  const heldRows = (q: Query, r: GuacamoleRevocation) => {
    const [lo, hi] = holderRange(r.holder)
    const keepEntity = r.keep ? `${r.keep.workspace}@${r.keep.username}` : ""
    const keepWorkspace = r.keep?.workspace ?? ""
    const keepUsername = r.keep?.username ?? ""
    // Each mark's row is looked up by its key (LATERAL … LIMIT 1, which the planner keeps a nested loop):
    // a binding holds a handful of rows, whatever the size of the tables.
    return q<{ kind: "user" | "connection"; id: number; name: string; workspace: string }[]>`
      SELECT 'user' AS kind, x.entity_id AS id, x.name, split_part(x.name, '@', 1) AS workspace
        FROM guacamole_user_attribute ua
        CROSS JOIN LATERAL (
               SELECT e.entity_id, e.name::text AS name
                 FROM guacamole_user u JOIN guacamole_entity e ON e.entity_id = u.entity_id
                WHERE u.user_id = ua.user_id
                LIMIT 1) x
       WHERE ua.attribute_name = ${bindingAttributeLiteral(q)}
         AND (ua.attribute_value COLLATE "C") >= ${lo}::text AND (ua.attribute_value COLLATE "C") < ${hi}::text
         AND x.name <> ${keepEntity}
      UNION ALL
      SELECT 'connection', x.connection_id, x.connection_name, x.workspace
        FROM guacamole_connection_attribute ca
        CROSS JOIN LATERAL (
               SELECT c.connection_id, c.connection_name::text AS connection_name,
                      COALESCE(g.connection_group_name::text, '') AS workspace, g.connection_group_name AS group_name
                 FROM guacamole_connection c
                 LEFT JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id
                WHERE c.connection_id = ca.connection_id
                LIMIT 1) x
       WHERE ca.attribute_name = ${bindingAttributeLiteral(q)}
         AND (ca.attribute_value COLLATE "C") >= ${lo}::text AND (ca.attribute_value COLLATE "C") < ${hi}::text
         AND NOT (x.connection_name = ${keepUsername} AND x.group_name IS NOT DISTINCT FROM ${keepWorkspace})`
  }

  const holdsOthers = (r: GuacamoleRevocation) =>
    run(`check what ${r.holder.namespace}/${r.holder.name} holds`, async (track) => (await track(heldRows(sql, r))).length > 0)

  const revoke = (r: GuacamoleRevocation) =>
    run(`revoke ${r.holder.namespace}/${r.holder.name}`, async (track, signal) => {
      // Outside a transaction first: nothing held (the common case of a deleted binding's second pass) costs one read.
      if ((await track(heldRows(sql, r))).length === 0) return { changes: [], released: [] }
      return sql.begin(async (tx) => {
        if (signal.aborted) throw interrupted(`revoke ${r.holder.namespace}/${r.holder.name}`)
        const first = await track(heldRows(tx, r))
        // One lock per workspace touched, in a fixed order, so two revocations cannot deadlock.
        const keys = [...new Set(first.map((h) => workspaceLockKey(h.workspace)))].sort((x, y) => x - y)
        for (const key of keys) await track(tx.unsafe(`SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_CLASS}, ${key})`))
        const held = await track(heldRows(tx, r))
        const users = held.filter((h) => h.kind === "user")
        const connections = held.filter((h) => h.kind === "connection")
        const workspaces = [...new Set(held.map((h) => h.workspace))]
        const ids = (xs: ReadonlyArray<{ readonly id: number }>) => xs.map((x) => x.id).join(",")
        const names = workspaces.join("\n")
        const [, , , groups] = await Promise.all([
          // guacamole_user, its attributes and every permission held by or about this user, cascade.
          track(tx`DELETE FROM guacamole_entity WHERE entity_id = ANY(string_to_array(${ids(users)}, ',')::int[])`),
          // Parameters, attributes and permissions cascade.
          track(tx`DELETE FROM guacamole_connection WHERE connection_id = ANY(string_to_array(${ids(connections)}, ',')::int[])`),
          // The groups are locked before they are found empty. Someone adding a connection or a
          // group to one holds a key-share lock on it until they commit: this waits for them, and
          // the next statement (a later snapshot) sees what they added. Without it the DELETE
          // below, whose snapshot missed the uncommitted row, waited on the same lock and then
          // deleted the group, and with it, by cascade, what they had just committed.
          track(tx`
            SELECT 1 FROM guacamole_connection_group g
             WHERE g.parent_id IS NULL AND g.connection_group_name = ANY(string_to_array(${names}, E'\n'))
               AND EXISTS (SELECT 1 FROM guacamole_connection_group_attribute ga
                            WHERE ga.connection_group_id = g.connection_group_id
                              AND ga.attribute_name = ${MANAGED_BY_ATTRIBUTE} AND ga.attribute_value = ${MANAGED_BY_VALUE})
               FOR UPDATE OF g`),
          // Only the operator's groups, and only when left empty: deleting one with children would cascade to them.
          track(tx<{ name: string }[]>`
            DELETE FROM guacamole_connection_group g
             WHERE g.parent_id IS NULL
               AND g.connection_group_name = ANY(string_to_array(${names}, E'\n'))
               AND EXISTS (SELECT 1 FROM guacamole_connection_group_attribute ga
                            WHERE ga.connection_group_id = g.connection_group_id
                              AND ga.attribute_name = ${MANAGED_BY_ATTRIBUTE} AND ga.attribute_value = ${MANAGED_BY_VALUE})
               AND NOT EXISTS (SELECT 1 FROM guacamole_connection c WHERE c.parent_id = g.connection_group_id)
               AND NOT EXISTS (SELECT 1 FROM guacamole_connection_group s WHERE s.parent_id = g.connection_group_id)
            RETURNING g.connection_group_name::text AS name`),
        ])
        const changes = [
          ...users.map((u) => `delete Guacamole user ${quote(u.name)} with its permissions`),
          ...connections.map((c) => `delete connection ${quote(`${c.workspace}/${c.name}`)}`),
          ...groups.map((g) => `delete empty connection group ${quote(g.name)}`),
        ]
        const released = [...new Set([...users.map((u) => u.name), ...connections.map((c) => `${c.workspace}@${c.name}`)])]
        return { changes, released }
      })
    })

  const ping = run("ping", async (track) => {
    await track(sql`SELECT 1`)
  })

  const checkSchema = run("check schema", async (track) => {
    const rows = await track(sql<{ name: string }[]>`
      SELECT t.name FROM unnest(string_to_array(${requiredTables.join(",")}::text, ',')) WITH ORDINALITY AS t(name, ord)
       WHERE to_regclass(t.name) IS NULL ORDER BY t.ord`)
    return { missing: rows.map((r) => r.name) }
  })

  return { inspect, plan, ensure, converged, holdsOthers, revoke, ping, checkSchema, activeHostnames: activeHostnames(sql) }
}

/**
 * A scoped postgres.js pool (connections opened lazily, on first use) ended
 * when the layer is released. Unless `createIndexes` is false, the operator's
 * indexes (indexes.ts) are created in the background meanwhile: the service
 * is usable at once, and works (more slowly) without them.
 */
export const layer = (settings: DbSettings): Layer.Layer<GuacamoleDb> =>
  Layer.scoped(
    GuacamoleDb,
    Effect.gen(function* () {
      const sql = yield* Effect.acquireRelease(
        Effect.sync(() => openPool(settings)),
        (sql) => Effect.promise(() => sql.end({ timeout: 5 }).catch(() => undefined)),
      )
      if (settings.createIndexes !== false) yield* Effect.forkScoped(ensureIndexes(sql))
      return make(sql, settings)
    }),
  )
