/**
 * `converged`: the batched read that lets a restart or a resync skip the
 * bindings whose rows are exactly as wanted. It must agree with the
 * per-binding calls (`plan` reporting nothing, `holdsOthers` false) on every
 * kind of row a database holds, in one statement.
 */
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Redacted } from "effect"
import { type GuacamoleAccess, holderValue } from "../../src/guacamole/db.ts"
import { createTestDatabase, type TestDatabase } from "../support/postgres.ts"
import { access, type CountingService, fail, run, serviceFor, VNC_PASSWORD } from "./support.ts"

setDefaultTimeout(60_000)

let db: TestDatabase
let op: CountingService

beforeEach(async () => {
  db = await createTestDatabase()
  op = serviceFor(db)
})
afterEach(async () => {
  await op?.end()
  await db?.close()
})

/** What the per-binding calls say: converged when plan reports no change (and no conflict) and nothing else is held. */
const perBinding = async (a: GuacamoleAccess): Promise<boolean> => {
  const planned = await run(op.service.plan(a)).catch(() => undefined)
  if (planned === undefined || planned.length > 0) return false
  return !(await run(op.service.holdsOthers({ holder: a.holder, keep: { workspace: a.workspace, username: a.username } })))
}

describe("converged", () => {
  test("agrees with plan and holdsOthers on converged, drifted, missing, foreign and held rows, in one statement", async () => {
    const converged = [access({ workspace: "ws1", username: "ann" }), access({ workspace: "ws1", username: "bob" }), access({ workspace: "ws2", username: "cat" })]
    for (const a of converged) await run(op.service.ensure(a))

    // Drifted: each as ensured, then wanted otherwise or changed behind the operator's back.
    const base = {
      password: access({ workspace: "ws3", username: "pw" }),
      hostname: access({ workspace: "ws3", username: "host" }),
      expiry: access({ workspace: "ws3", username: "exp" }),
      permission: access({ workspace: "ws3", username: "perm" }),
      disabled: access({ workspace: "ws3", username: "dis" }),
    }
    for (const a of Object.values(base)) await run(op.service.ensure(a))
    await db.sql`
      DELETE FROM guacamole_connection_permission
       WHERE entity_id = (SELECT entity_id FROM guacamole_entity WHERE name = 'ws3@perm')`
    const drifted = [
      { ...base.password, password: Redacted.make("a-new-password") },
      { ...base.hostname, hostname: "client-elsewhere.guacamole.svc.cluster.local" },
      { ...base.expiry, validUntil: "2032-06-30" },
      base.permission,
      { ...base.disabled, disabled: true },
    ]

    // Missing: never ensured.
    const missing = [access({ workspace: "ws4", username: "new" }), access({ workspace: "ws1", username: "newer" })]

    // Foreign: a user made by hand (no mark), and a user differing only by case from an existing one.
    await db.sql`INSERT INTO guacamole_entity (name, type) VALUES ('ws5@hand', 'USER')`
    await db.sql`
      INSERT INTO guacamole_user (entity_id, password_hash, password_salt, password_date)
      SELECT entity_id, '\\x00'::bytea, NULL, now() FROM guacamole_entity WHERE name = 'ws5@hand'`
    await db.sql`INSERT INTO guacamole_entity (name, type) VALUES ('ws1@Dora', 'USER')`
    const foreign = [access({ workspace: "ws5", username: "hand" }), access({ workspace: "ws1", username: "dora" })]

    // Held: rows of another binding; and a binding that also holds an old identity.
    const other = access({ workspace: "ws6", username: "eve" })
    await run(op.service.ensure(other))
    const heldByOther = { ...other, holder: { namespace: "jupyterhub", name: "intruder", uid: "uid-intruder" } }
    const moved = access({ workspace: "ws7", username: "old" })
    await run(op.service.ensure(moved))
    const movedNow = { ...access({ workspace: "ws7", username: "renamed" }), holder: moved.holder }
    await run(op.service.ensure(movedNow))

    // Groups: a second root group of a workspace's name made by hand after the operator's (the
    // first made is the workspace's: converged); a connection made by hand in the operator's group
    // (converged); a group whose managed-by mark was removed (to be adopted), and one that also
    // holds a connection made by hand (not the operator's to adopt).
    const groups = {
      twin: access({ workspace: "ws8", username: "kim" }),
      foreignConnection: access({ workspace: "ws9", username: "lee" }),
      unmarked: access({ workspace: "ws10", username: "max" }),
      unmarkedForeign: access({ workspace: "ws11", username: "ned" }),
    }
    for (const a of Object.values(groups)) await run(op.service.ensure(a))
    await db.sql`INSERT INTO guacamole_connection_group (connection_group_name, type) VALUES ('ws8', 'ORGANIZATIONAL')`
    await db.sql`
      INSERT INTO guacamole_connection (connection_name, parent_id, protocol)
      SELECT 'desk', connection_group_id, 'rdp' FROM guacamole_connection_group WHERE connection_group_name IN ('ws9', 'ws11')`
    await db.sql`
      DELETE FROM guacamole_connection_group_attribute
       WHERE connection_group_id IN (SELECT connection_group_id FROM guacamole_connection_group WHERE connection_group_name IN ('ws10', 'ws11'))`

    const all = [...converged, ...drifted, ...missing, ...foreign, heldByOther, movedNow, ...Object.values(groups)]
    op.statements.length = 0
    const got = await run(op.service.converged(all))
    // One read of the tables, in a transaction of its own that turns nested loops off.
    expect(op.statements.filter((s) => !s.includes("pg_catalog.pg_type"))).toEqual([
      "begin",
      "SET LOCAL enable_nestloop = off",
      expect.stringMatching(/^WITH d AS MATERIALIZED/),
      "commit",
    ])

    expect([...got].sort()).toEqual([...converged, groups.twin, groups.foreignConnection].map((a) => holderValue(a.holder)).sort())
    const expected = new Set<string>()
    for (const a of all) if (await perBinding(a)) expected.add(holderValue(a.holder))
    expect([...got].sort()).toEqual([...expected].sort())
  })

  test("nothing asked, nothing sent; an access listed twice is reported once", async () => {
    op.statements.length = 0
    expect((await run(op.service.converged([]))).size).toBe(0)
    expect(op.statements).toEqual([])
    const a = access()
    await run(op.service.ensure(a))
    expect([...(await run(op.service.converged([a, a])))]).toEqual([holderValue(a.holder)])
  })

  test("a failure names the operation, never a password", async () => {
    const empty = await createTestDatabase({ schema: "none" })
    const bare = serviceFor(empty)
    try {
      const e = await fail(bare.service.converged([access(), access({ username: "bob" })]))
      expect(e._tag).toBe("GuacamoleSchemaError")
      expect(e.message).toContain("read the state of 2 bindings")
      expect(JSON.stringify(e)).not.toContain(VNC_PASSWORD)
      expect(e.message).not.toContain(VNC_PASSWORD)
    } finally {
      await bare.end()
      await empty.close()
    }
  })
})
