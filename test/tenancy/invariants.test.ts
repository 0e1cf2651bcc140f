/**
 * Issue 8, the property: random bindings named from a hostile alphabet,
 * created, patched and deleted in random order and concurrently, with
 * injected API failures; at checkpoints the operator is let settle and the
 * invariants are checked:
 *   - every live valid binding that is READY holds its identity, and its
 *     Guacamole user reads exactly its own connection (its browser, its
 *     Secret's password); no two READY bindings share an identity;
 *   - no row the operator did not make has changed (checksum), the
 *     administrators made by hand included;
 *   - nothing is left for deleted bindings (rows or objects);
 *   - no two connections lead to one browser.
 * Seeded: PROPERTY_SEED=<n> replays a run; the seed is printed on failure.
 * Uses the emulator's fault injection, so it runs against the emulator only.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { existsSync, readFileSync } from "node:fs"
import { resolve } from "node:path"
import { Effect, Either } from "effect"
import { decodeBinding } from "../../src/domain/binding.ts"
import { deploymentNameFor, entityNameFor } from "../../src/domain/naming.ts"
import type { KubeObject } from "../../src/runtime/client.ts"
import { Bindings, Deployments, Secrets, Services } from "../../src/runtime/resources.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, settled, startHarness, type Harness } from "../support/operator.ts"
import { repoRoot } from "../support/postgres.ts"
import { handMadeAdmin, handMadeSshGroup, unmarkedRowsChecksum } from "./support.ts"

setDefaultTimeout(120_000)

const OPERATIONS = Number(process.env.PROPERTY_OPERATIONS ?? 1000)
const CHECK_EVERY = 125
const BATCH = 8
const seed = Number(process.env.PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31))

/** mulberry32: small, fast, good enough to shuffle operations reproducibly. */
const prng = (s: number) => () => {
  s = (s + 0x6d2b79f5) | 0
  let t = Math.imul(s ^ (s >>> 15), 1 | s)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const random = prng(seed)
const pick = <T>(xs: ReadonlyArray<T>): T => xs[Math.floor(random() * xs.length)]!

// Valid and invalid workspaces; usernames with @, /, quotes, look-alikes, case variants, invisible marks.
const WORKSPACES = ["ws-a", "ws-b", "ws.c", "admin-tools", "a@b", "x/y", "Admin Tools", "ws-b@x", "wş-a"]
const USERNAMES = [
  "alice", "ALICE", "аlice" /* Cyrillic а */, "a@b", "b@c", "y/z", "b/c@d", "O'Brien", 'q"uote', "root", "prod-db",
  "zoë", "zoe\u0308", "ali\u200Bce", " alice", "bob", "x", "ws-a@alice",
]
const NAMES = ["b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"]
const NAMESPACES = [BINDING_NAMESPACE, "default"]
const FAULTS = [
  { verb: "create", resource: "deployments" },
  { verb: "create", resource: "secrets" },
  { verb: "create", resource: "services" },
  { verb: "patch", resource: "deployments" },
  { verb: "patch", resource: "analyticsworkspacebindings" },
  { verb: "delete", resource: "deployments" },
  { verb: "delete", resource: "secrets" },
]

let h: Harness
let checksum = ""
const stats: string[] = []
beforeAll(async () => {
  h = await startHarness({ config: { concurrency: 8 } })
  // Rows an administrator made: Guacamole's own guacadmin, an administrator whose name looks like a binding's, an ssh group.
  const guacadmin = resolve(repoRoot, "../shared/fixtures/guacamole-schema/002-create-admin-user.sql")
  if (existsSync(guacadmin)) await h.db.sql.unsafe(readFileSync(guacadmin, "utf8"))
  await handMadeAdmin(h.db.sql, "ws-a@root")
  await handMadeSshGroup(h.db.sql, "admin-tools", "prod-db")
  checksum = await unmarkedRowsChecksum(h.db.sql)
})
afterAll(async () => {
  await h?.close()
})

const attempt = (e: Effect.Effect<unknown, unknown>) => Effect.runPromise(Effect.either(e))

const randomOperation = async (): Promise<string> => {
  const namespace = pick(NAMESPACES)
  const name = pick(NAMES)
  const roll = random()
  if (roll < 0.4) {
    const spec = { workspace: pick(WORKSPACES), username: pick(USERNAMES), expires: random() < 0.1 ? "2001-01-01" : "2099-12-31", replicas: random() < 0.3 ? 1 : 0 }
    await attempt(h.kube.create(Bindings, namespace, { apiVersion: "xlscsde.nhs.uk/v1", kind: "AnalyticsWorkspaceBinding", metadata: { name, namespace }, spec }))
    return `create ${namespace}/${name} ${JSON.stringify(spec)}`
  }
  if (roll < 0.7) {
    const field = pick(["workspace", "username", "username", "expires", "replicas"] as const)
    const value = field === "workspace" ? pick(WORKSPACES) : field === "username" ? pick(USERNAMES) : field === "expires" ? pick(["2001-01-01", "2099-12-31"]) : pick([0, 1])
    await attempt(h.kube.patch(Bindings, namespace, name, { type: "merge", body: { spec: { [field]: value } } }))
    return `patch ${namespace}/${name} ${field}=${JSON.stringify(value)}`
  }
  if (roll < 0.9) {
    await attempt(h.kube.delete(Bindings, namespace, name))
    return `delete ${namespace}/${name}`
  }
  const fault = pick(FAULTS)
  h.api.faults.failNext(fault, { code: pick([500, 503, 409]), count: 1 + Math.floor(random() * 3) })
  return `fault ${fault.verb} ${fault.resource}`
}

const listAll = async (rt: typeof Bindings, namespace?: string): Promise<KubeObject[]> => {
  const r = await Effect.runPromise(h.kube.list(rt, namespace ? { namespace } : {}))
  return r.items as KubeObject[]
}

const checkInvariants = async (): Promise<void> => {
  h.api.faults.clear()
  // Everything queued now (retries waiting on their backoff included), twice: the second pass finds nothing to do.
  for (let i = 0; i < 2; i++) {
    await settled(h, 30_000)
    h.operator().controller.resync()
    await settled(h, 30_000)
  }
  const bindings = (await Promise.all(NAMESPACES.map((ns) => listAll(Bindings, ns)))).flat()
  const live = new Map(bindings.map((b) => [`${b.metadata.namespace}/${b.metadata.name}/${b.metadata.uid}`, b]))
  const liveKeys = new Set(bindings.map((b) => `${b.metadata.namespace}/${b.metadata.name}`))
  const secrets = await listAll(Secrets, GUACAMOLE_NAMESPACE)

  // No unmarked row changed.
  expect(await unmarkedRowsChecksum(h.db.sql)).toBe(checksum)

  // Rows held only by live bindings, each for the identity its spec names.
  const held = await h.db.sql<{ name: string; holder: string }[]>`
    SELECT e.name, a.attribute_value AS holder FROM guacamole_user_attribute a JOIN guacamole_user u USING (user_id)
      JOIN guacamole_entity e USING (entity_id) WHERE a.attribute_name = 'xlscsde.nhs.uk/binding'`
  const heldConnections = await h.db.sql<{ workspace: string; connection: string; holder: string; hostname: string }[]>`
    SELECT g.connection_group_name AS workspace, c.connection_name AS connection, a.attribute_value AS holder,
           (SELECT parameter_value FROM guacamole_connection_parameter p WHERE p.connection_id = c.connection_id AND p.parameter_name = 'hostname') AS hostname
      FROM guacamole_connection_attribute a JOIN guacamole_connection c USING (connection_id)
      JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id WHERE a.attribute_name = 'xlscsde.nhs.uk/binding'`
  for (const row of [...held, ...heldConnections]) {
    expect(live.has(row.holder)).toBe(true)
  }
  for (const row of held) {
    const spec = decodeBinding(live.get(row.holder)!)
    expect(Either.isRight(spec) && entityNameFor(spec.right.spec.workspace, spec.right.spec.username)).toBe(row.name)
  }
  // No two connections lead to one browser.
  const hostnames = heldConnections.map((c) => c.hostname)
  expect(new Set(hostnames).size).toBe(hostnames.length)

  // Every READY binding: its user reads exactly its own connection, with its Secret's password.
  const readyIdentities = new Set<string>()
  for (const [holder, b] of live) {
    if (b.status?.statusText !== "READY" || b.metadata.deletionTimestamp) continue
    const decoded = decodeBinding(b)
    expect(Either.isRight(decoded)).toBe(true)
    if (Either.isLeft(decoded)) continue
    const { workspace, username } = decoded.right.spec
    const identity = entityNameFor(workspace, username)
    expect(readyIdentities.has(identity)).toBe(false)
    readyIdentities.add(identity)
    const d = (b.status.deploymentName as string | undefined) ?? deploymentNameFor(workspace, username)
    const reads = await h.db.sql<{ workspace: string; connection: string; hostname: string; password: string; holder: string }[]>`
      SELECT g.connection_group_name AS workspace, c.connection_name AS connection,
             (SELECT parameter_value FROM guacamole_connection_parameter WHERE connection_id = c.connection_id AND parameter_name = 'hostname') AS hostname,
             (SELECT parameter_value FROM guacamole_connection_parameter WHERE connection_id = c.connection_id AND parameter_name = 'password') AS password,
             (SELECT attribute_value FROM guacamole_connection_attribute WHERE connection_id = c.connection_id AND attribute_name = 'xlscsde.nhs.uk/binding') AS holder
        FROM guacamole_connection_permission cp JOIN guacamole_entity e ON e.entity_id = cp.entity_id
        JOIN guacamole_connection c ON c.connection_id = cp.connection_id
        JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id
       WHERE e.name = ${identity} AND cp.permission = 'READ'`
    const secret = secrets.find((s) => s.metadata.name === `client-${d}-vnc`) as { data?: { password?: string } } | undefined
    expect([...reads]).toEqual([
      {
        workspace,
        connection: username,
        hostname: `client-${d}.${GUACAMOLE_NAMESPACE}.svc.cluster.local`,
        password: Buffer.from(secret?.data?.password ?? "", "base64").toString(),
        holder,
      },
    ])
  }

  const holders = held.map((r) => String(live.get(r.holder)?.status?.statusText)).sort().join("/")
  stats.push(`${bindings.length} bindings, ${readyIdentities.size} READY, ${held.length} users held (by ${holders || "none"})`)

  // No object left for a binding that is gone.
  for (const rt of [Deployments, Services, Secrets] as const) {
    for (const o of await listAll(rt, GUACAMOLE_NAMESPACE)) {
      const owner = o.metadata.annotations?.["xlscsde.nhs.uk/binding"]
      if (owner !== undefined) expect(liveKeys.has(owner)).toBe(true)
    }
  }
}

test(`${OPERATIONS} random creates, patches and deletes of hostile names, with injected faults, keep every tenancy invariant`, async () => {
  const history: string[] = []
  const started = performance.now()
  try {
    for (let done = 0; done < OPERATIONS; ) {
      const batch = Math.min(BATCH, OPERATIONS - done)
      history.push(...(await Promise.all(Array.from({ length: batch }, randomOperation))))
      const before = done
      done += batch
      if (Math.floor(done / CHECK_EVERY) > Math.floor(before / CHECK_EVERY) || done === OPERATIONS) await checkInvariants()
    }
    // Finally everything goes: nothing may be left but the hand-made rows.
    for (const ns of NAMESPACES) for (const name of NAMES) await attempt(h.kube.delete(Bindings, ns, name))
    await checkInvariants()
    const [left] = await h.db.sql<{ n: number }[]>`
      SELECT (SELECT count(*) FROM guacamole_user_attribute) + (SELECT count(*) FROM guacamole_connection_attribute)
           + (SELECT count(*) FROM guacamole_connection_group_attribute) AS n`
    expect(Number(left!.n)).toBe(0)
  } catch (error) {
    console.error(`invariant violated with PROPERTY_SEED=${seed} after ${history.length} operations; last ones:\n  ${history.slice(-15).join("\n  ")}`)
    throw error
  }
  console.log(`${history.length} operations (seed ${seed}) in ${((performance.now() - started) / 1000).toFixed(1)} s; at the checkpoints: ${stats.join("; ")}`)
})
