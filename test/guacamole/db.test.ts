import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Redacted } from "effect"
import postgres from "postgres"
import { GuacamoleConflictError, isTransient } from "../../src/guacamole/errors.ts"
import { createTestDatabase, type TestDatabase, testWithRealPostgres } from "../support/postgres.ts"
import { waitFor } from "../support/wait.ts"
import {
  access,
  type CountingService,
  counts,
  fail,
  rowsWithXmin,
  run,
  serviceFor,
  VNC_PASSWORD,
} from "./support.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
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

describe("ensure", () => {
  test("a first ensure creates exactly the reference rows", async () => {
    const a = access()
    const changes = await run(op.service.ensure(a))
    expect(changes.length).toBeGreaterThan(0)

    const groups = await db.sql`SELECT * FROM guacamole_connection_group`
    expect(groups.map((g) => ({ ...g }))).toEqual([
      {
        connection_group_id: expect.any(Number),
        parent_id: null,
        connection_group_name: "ws1",
        type: "ORGANIZATIONAL",
        max_connections: 1000,
        max_connections_per_user: 1000,
        enable_session_affinity: true,
      },
    ])
    const groupId = groups[0]!.connection_group_id

    const connections = await db.sql`
      SELECT connection_id, connection_name, parent_id, protocol, failover_only, max_connections,
             max_connections_per_user, connection_weight, proxy_port, proxy_hostname, proxy_encryption_method
        FROM guacamole_connection`
    expect(connections.map((c) => ({ ...c }))).toEqual([
      {
        connection_id: expect.any(Number),
        connection_name: "alice",
        parent_id: groupId,
        protocol: "vnc",
        failover_only: false,
        max_connections: null,
        max_connections_per_user: null,
        connection_weight: null,
        proxy_port: null,
        proxy_hostname: null,
        proxy_encryption_method: null,
      },
    ])
    const connectionId = connections[0]!.connection_id

    const parameters = await db.sql`
      SELECT connection_id, parameter_name, parameter_value FROM guacamole_connection_parameter ORDER BY parameter_name`
    expect(parameters.map((p) => ({ ...p }))).toEqual([
      { connection_id: connectionId, parameter_name: "disable-copy", parameter_value: "true" },
      { connection_id: connectionId, parameter_name: "disable-paste", parameter_value: "true" },
      { connection_id: connectionId, parameter_name: "hostname", parameter_value: a.hostname },
      { connection_id: connectionId, parameter_name: "password", parameter_value: VNC_PASSWORD },
      { connection_id: connectionId, parameter_name: "port", parameter_value: "5900" },
    ])

    const entities = await db.sql`SELECT entity_id, name, type FROM guacamole_entity`
    expect(entities.map((e) => ({ ...e }))).toEqual([{ entity_id: expect.any(Number), name: "ws1@alice", type: "USER" }])
    const entityId = entities[0]!.entity_id

    const users = await db.sql`
      SELECT user_id, entity_id, password_hash, password_salt, password_date, disabled, expired,
             to_char(valid_until, 'YYYY-MM-DD') AS valid_until, valid_from, access_window_start, access_window_end,
             timezone, full_name, email_address, organization, organizational_role
        FROM guacamole_user`
    expect(users.length).toBe(1)
    const user = users[0]!
    const shown: Record<string, unknown> = { ...user, password_hash: undefined, password_salt: undefined, password_date: undefined }
    expect(shown).toEqual({
      user_id: expect.any(Number),
      entity_id: entityId,
      password_hash: undefined,
      password_salt: undefined,
      password_date: undefined,
      disabled: false,
      expired: false,
      valid_until: "2031-12-31",
      valid_from: null,
      access_window_start: null,
      access_window_end: null,
      timezone: null,
      full_name: null,
      email_address: null,
      organization: null,
      organizational_role: null,
    })
    expect((user.password_hash as Buffer).length).toBe(32)
    expect((user.password_salt as Buffer).length).toBe(32)
    expect(user.password_date).toBeInstanceOf(Date)

    expect((await db.sql`SELECT * FROM guacamole_user_permission`).map((r) => ({ ...r }))).toEqual([
      { entity_id: entityId, affected_user_id: user.user_id, permission: "READ" },
    ])
    expect((await db.sql`SELECT * FROM guacamole_connection_group_permission`).map((r) => ({ ...r }))).toEqual([
      { entity_id: entityId, connection_group_id: groupId, permission: "READ" },
    ])
    expect((await db.sql`SELECT * FROM guacamole_connection_permission`).map((r) => ({ ...r }))).toEqual([
      { entity_id: entityId, connection_id: connectionId, permission: "READ" },
    ])
  })

  test("every user gets their own random password hash and salt", async () => {
    await run(op.service.ensure(access({ username: "alice" })))
    await run(op.service.ensure(access({ username: "bob" })))
    const rows = await db.sql`SELECT encode(password_hash, 'hex') AS h, encode(password_salt, 'hex') AS s FROM guacamole_user`
    expect(rows.length).toBe(2)
    expect(rows[0]!.h).not.toBe(rows[1]!.h)
    expect(rows[0]!.s).not.toBe(rows[1]!.s)
  })

  test("a second ensure changes nothing: returns [], one read statement, no row rewritten", async () => {
    const a = access()
    await run(op.service.ensure(a))
    const before = await rowsWithXmin(db.sql)
    op.statements.length = 0
    expect(await run(op.service.ensure(a))).toEqual([])
    expect(op.statements.length).toBe(1)
    expect(op.statements[0]).toStartWith("SELECT")
    expect(await rowsWithXmin(db.sql)).toEqual(before)
  })

  test("a new binding: one read, then BEGIN, lock + read, one statement per kind of row, COMMIT", async () => {
    op.statements.length = 0
    const changes = await run(op.service.ensure(access()))
    expect(changes.length).toBe(12)
    // postgres.js looks up array types once per new connection: not ours.
    const ours = op.statements.filter((s) => !s.includes("pg_catalog.pg_type"))
    expect(ours.map((s) => s.split(" ")[0]!.toUpperCase())).toEqual([
      "SELECT", // the state, outside any transaction
      "BEGIN",
      "SELECT", // the advisory lock
      "SELECT", // the state again, under the lock
      "INSERT", // group
      "INSERT", // connection
      "INSERT", // its five parameters
      "INSERT", // entity
      "INSERT", // guacamole_user
      "WITH", // the three READ permissions
      "INSERT", // the group marked as the operator's
      "INSERT", // the connection's holder
      "INSERT", // the user's holder
      "COMMIT",
    ])
    expect(ours[2]).toContain("pg_advisory_xact_lock")
  })

  test("a changed password updates only that parameter; the password never appears in the changes", async () => {
    await run(op.service.ensure(access()))
    const before = await rowsWithXmin(db.sql)
    const changes = await run(op.service.ensure(access({ password: Redacted.make("another-one") })))
    expect(changes).toEqual(['update parameter password (value hidden) of connection "ws1/alice"'])
    expect(changes.join("\n")).not.toContain("another-one")
    const after = await rowsWithXmin(db.sql)
    const changedParams = after.guacamole_connection_parameter!.filter(
      (r, i) => r.xmin !== before.guacamole_connection_parameter![i]!.xmin,
    )
    expect(changedParams.map((r) => [r.parameter_name, r.parameter_value])).toEqual([["password", "another-one"]])
    for (const table of Object.keys(before).filter((t) => t !== "guacamole_connection_parameter")) {
      expect(after[table]).toEqual(before[table]!)
    }
  })

  test("a changed hostname updates only that parameter", async () => {
    await run(op.service.ensure(access()))
    const before = await rowsWithXmin(db.sql)
    const changes = await run(op.service.ensure(access({ hostname: "client-new.guacamole.svc.cluster.local" })))
    expect(changes).toEqual([
      'update parameter hostname = "client-new.guacamole.svc.cluster.local" of connection "ws1/alice"',
    ])
    const after = await rowsWithXmin(db.sql)
    const changed = after.guacamole_connection_parameter!.filter(
      (r, i) => r.xmin !== before.guacamole_connection_parameter![i]!.xmin,
    )
    expect(changed.map((r) => r.parameter_name)).toEqual(["hostname"])
  })

  test("expiry and disabling update the user row but never its password hash", async () => {
    await run(op.service.ensure(access()))
    const [first] = await db.sql`SELECT encode(password_hash, 'hex') AS h, encode(password_salt, 'hex') AS s FROM guacamole_user`
    const changes = await run(op.service.ensure(access({ validUntil: "2026-01-31", disabled: true })))
    expect(changes).toEqual([
      'update Guacamole user "ws1@alice": disabled false → true, valid_until 2031-12-31 → 2026-01-31',
    ])
    const [row] = await db.sql`
      SELECT encode(password_hash, 'hex') AS h, encode(password_salt, 'hex') AS s, disabled,
             to_char(valid_until, 'YYYY-MM-DD') AS valid_until FROM guacamole_user`
    expect({ ...row }).toEqual({ h: first!.h, s: first!.s, disabled: true, valid_until: "2026-01-31" })
    expect(await run(op.service.ensure(access({ validUntil: null, disabled: true })))).toEqual([
      'update Guacamole user "ws1@alice": valid_until 2026-01-31 → none',
    ])
  })

  test("foreign parameters are removed and drifted rows are put back", async () => {
    await run(op.service.ensure(access()))
    const [c] = await db.sql`SELECT connection_id FROM guacamole_connection`
    await db.sql`INSERT INTO guacamole_connection_parameter VALUES (${c!.connection_id}, 'enable-sftp', 'true'),
                 (${c!.connection_id}, 'private-key', 'KEY-MATERIAL')`
    await db.sql`UPDATE guacamole_connection_parameter SET parameter_value = 'false' WHERE parameter_name = 'disable-copy'`
    await db.sql`UPDATE guacamole_connection_group SET max_connections = 5, enable_session_affinity = false`
    await db.sql`UPDATE guacamole_user SET expired = true`
    await db.sql`DELETE FROM guacamole_connection_permission`
    const changes = await run(op.service.ensure(access()))
    expect(changes).toEqual([
      'update connection group "ws1": max_connections, enable_session_affinity',
      'update parameter disable-copy = "true" of connection "ws1/alice"',
      'remove parameters enable-sftp, private-key of connection "ws1/alice"',
      'update Guacamole user "ws1@alice": expired true → false',
      'grant "ws1@alice" READ on connection "ws1/alice"',
    ])
    expect(changes.join("\n")).not.toContain("KEY-MATERIAL")
    const params = await db.sql`SELECT parameter_name FROM guacamole_connection_parameter ORDER BY 1`
    expect(params.map((p) => p.parameter_name)).toEqual(["disable-copy", "disable-paste", "hostname", "password", "port"])
    expect(await run(op.service.ensure(access()))).toEqual([])
  })

  test("a second user of the same workspace joins the existing group", async () => {
    await run(op.service.ensure(access({ username: "alice" })))
    const changes = await run(op.service.ensure(access({ username: "bob" })))
    expect(changes).not.toContain('create connection group "ws1"')
    expect(await counts(db.sql)).toMatchObject({
      guacamole_connection_group: 1,
      guacamole_connection: 2,
      guacamole_entity: 2,
      guacamole_connection_group_permission: 2,
    })
  })

  test("duplicate root-level groups left by the old operator: the oldest is used, nothing fails", async () => {
    const [oldest] = await db.sql`INSERT INTO guacamole_connection_group (connection_group_name, type, max_connections,
      max_connections_per_user, enable_session_affinity) VALUES ('ws1', 'ORGANIZATIONAL', 1000, 1000, true)
      RETURNING connection_group_id`
    await db.sql`INSERT INTO guacamole_connection_group (connection_group_name, type, max_connections,
      max_connections_per_user, enable_session_affinity) VALUES ('ws1', 'ORGANIZATIONAL', 1000, 1000, true)`
    const changes = await run(op.service.ensure(access()))
    expect(changes).not.toContain('create connection group "ws1"')
    expect(await counts(db.sql)).toMatchObject({ guacamole_connection_group: 2 })
    const [c] = await db.sql`SELECT parent_id FROM guacamole_connection`
    expect(c!.parent_id).toBe(oldest!.connection_group_id)
    const [p] = await db.sql`SELECT connection_group_id FROM guacamole_connection_group_permission`
    expect(p!.connection_group_id).toBe(oldest!.connection_group_id)
    expect(await run(op.service.ensure(access()))).toEqual([])
  })

  test("a group whose managed-by mark names someone else is a conflict, and nothing is written", async () => {
    const [g] = await db.sql`INSERT INTO guacamole_connection_group (connection_group_name, type, max_connections,
      max_connections_per_user, enable_session_affinity) VALUES ('ws1', 'ORGANIZATIONAL', 1000, 1000, true)
      RETURNING connection_group_id`
    await db.sql`INSERT INTO guacamole_connection_group_attribute (connection_group_id, attribute_name, attribute_value)
      VALUES (${g!.connection_group_id}, 'xlscsde.nhs.uk/managed-by', 'another-tool')`
    const before = await rowsWithXmin(db.sql)
    const e = await fail(op.service.ensure(access()))
    expect(e).toBeInstanceOf(GuacamoleConflictError)
    expect(e.message).toContain('connection group "ws1"')
    expect(e.message).toContain("another-tool")
    expect(await rowsWithXmin(db.sql)).toEqual(before)
  })

  test("a user name differing only by case is a conflict, and nothing is written", async () => {
    await db.sql`INSERT INTO guacamole_entity (name, type) VALUES ('WS1@Alice', 'USER')`
    const before = await rowsWithXmin(db.sql)
    const e = await fail(op.service.ensure(access()))
    expect(e).toBeInstanceOf(GuacamoleConflictError)
    expect(isTransient(e)).toBe(false)
    expect(e.message).toContain("WS1@Alice")
    expect(e.message).toContain("ws1@alice")
    expect(e.message).not.toContain(VNC_PASSWORD)
    expect(await rowsWithXmin(db.sql)).toEqual(before)
    expect((await fail(op.service.plan(access())))._tag).toBe("GuacamoleConflictError")
  })

  test("a user someone else commits between the locked read and the insert is never taken for the operator's: the attempt fails, to be retried, and writes nothing", async () => {
    // As Guacamole's administration page would, once, at the moment the operator inserts: a
    // sequence is not rolled back, so only the first insert of the name meets it.
    await db.sql.unsafe(`
      CREATE SEQUENCE meanwhile;
      CREATE FUNCTION meanwhile() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.name = 'ws1@alice' AND nextval('meanwhile') = 1 THEN
          INSERT INTO guacamole_entity (name, type) VALUES (NEW.name, 'USER');
          INSERT INTO guacamole_user (entity_id, password_hash, password_date)
            SELECT entity_id, decode(repeat('ab', 32), 'hex'), now() FROM guacamole_entity WHERE name = NEW.name AND type = 'USER';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER meanwhile BEFORE INSERT ON guacamole_entity FOR EACH ROW EXECUTE FUNCTION meanwhile();`)
    const e = await fail(op.service.ensure(access()))
    expect(isTransient(e)).toBe(true)
    expect(Object.values(await counts(db.sql)).every((n) => n === 0)).toBe(true)
    // The retry creates the operator's own user, with a password nobody knows.
    await run(op.service.ensure(access()))
    const [user] = await db.sql`SELECT encode(u.password_hash, 'hex') AS hash FROM guacamole_user u JOIN guacamole_entity e USING (entity_id)
      WHERE e.name = 'ws1@alice'`
    expect(user!.hash).not.toBe("ab".repeat(32))
  })

  test("a failure half-way rolls everything back and its message holds no password", async () => {
    await db.sql.unsafe(`
      CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$;
      CREATE TRIGGER refuse BEFORE INSERT ON guacamole_connection_permission FOR EACH ROW EXECUTE FUNCTION refuse();`)
    const e = await fail(op.service.ensure(access()))
    expect(e._tag).toBe("GuacamoleQueryError")
    expect(e.message).toContain("P0001")
    expect(e.message).not.toContain(VNC_PASSWORD)
    expect(JSON.stringify(e)).not.toContain(VNC_PASSWORD)
    expect(Object.values(await counts(db.sql)).every((n) => n === 0)).toBe(true)
  })

  test("a value the database refuses gives an error without the value", async () => {
    const longSecret = `${VNC_PASSWORD}-${"x".repeat(5000)}`
    const e = await fail(op.service.ensure(access({ password: Redacted.make(longSecret) })))
    expect(e._tag).toBe("GuacamoleQueryError")
    expect(e.message).toContain("22001")
    expect(e.message).not.toContain(VNC_PASSWORD)
    expect(String(e)).not.toContain(VNC_PASSWORD)
    expect(Object.values(await counts(db.sql)).every((n) => n === 0)).toBe(true)
  })
})

describe("inspect, then ensure told so (the reconcile's order)", () => {
  test("a new binding: one read, then the locked transaction with no second read outside it; converged: one read", async () => {
    const a = access()
    op.statements.length = 0
    const seen = await run(op.service.inspect(a))
    expect(seen.holdsOthers).toBe(false)
    expect(seen.changes.length).toBe(12)
    expect(await run(op.service.ensure(a, { inspected: true }))).toEqual(seen.changes)
    const ours = op.statements.filter((s) => !s.includes("pg_catalog.pg_type")).map((s) => s.split(" ")[0]!.toUpperCase())
    expect(ours.slice(0, 4)).toEqual(["SELECT", "BEGIN", "SELECT", "SELECT"])
    expect(ours.at(-1)).toBe("COMMIT")
    expect(ours.filter((s) => s === "SELECT").length).toBe(3) // inspect, the lock, the read under it

    op.statements.length = 0
    expect(await run(op.service.inspect(a))).toEqual({ changes: [], holdsOthers: false })
    expect(op.statements.length).toBe(1)
  })

  test("says when the binding still holds another identity, as holdsOthers does", async () => {
    const old = access({ username: "old" })
    await run(op.service.ensure(old))
    const renamed = { ...access({ username: "new" }), holder: old.holder }
    const seen = await run(op.service.inspect(renamed))
    expect(seen.holdsOthers).toBe(true)
    expect(await run(op.service.holdsOthers({ holder: old.holder, keep: { workspace: "ws1", username: "new" } }))).toBe(true)
    expect((await run(op.service.inspect(old))).holdsOthers).toBe(false)
  })
})

describe("plan", () => {
  test("reports what ensure then does, and writes nothing", async () => {
    await run(op.service.ensure(access({ username: "bob" })))
    const before = await rowsWithXmin(db.sql)
    const planned = await run(op.service.plan(access()))
    expect(await rowsWithXmin(db.sql)).toEqual(before)
    expect(planned).toEqual([
      'create connection "ws1/alice" (vnc)',
      'set parameter hostname = "client-alice.guacamole.svc.cluster.local" of connection "ws1/alice"',
      'set parameter port = "5900" of connection "ws1/alice"',
      'set parameter password (value hidden) of connection "ws1/alice"',
      'set parameter disable-copy = "true" of connection "ws1/alice"',
      'set parameter disable-paste = "true" of connection "ws1/alice"',
      'create Guacamole user "ws1@alice"',
      'create guacamole_user row for "ws1@alice" (random unusable password, valid until 2031-12-31)',
      'grant "ws1@alice" READ on itself',
      'grant "ws1@alice" READ on connection group "ws1"',
      'grant "ws1@alice" READ on connection "ws1/alice"',
    ])
    expect(await run(op.service.ensure(access()))).toEqual(planned)
    expect(await run(op.service.plan(access()))).toEqual([])
  })
})

describe("revoke", () => {
  test("removes the user's rows, keeps the other user's, removes the group once empty; idempotent", async () => {
    await run(op.service.ensure(access({ username: "alice" })))
    await run(op.service.ensure(access({ username: "bob" })))
    const [alice] = await db.sql`SELECT entity_id FROM guacamole_entity WHERE name = 'ws1@alice'`
    const bobRowsBefore = await db.sql`
      SELECT e.name, c.connection_name FROM guacamole_entity e, guacamole_connection c
       WHERE e.name = 'ws1@bob' AND c.connection_name = 'bob'`
    expect(bobRowsBefore.length).toBe(1)

    const removed = await run(op.service.revoke({ holder: { namespace: "jupyterhub", name: "ws1-alice" } }))
    expect(removed.changes).toEqual([
      'delete Guacamole user "ws1@alice" with its permissions',
      'delete connection "ws1/alice"',
    ])
    // The cascades took the user row and every permission with the entity.
    for (const table of ["guacamole_user", "guacamole_connection_group_permission", "guacamole_connection_permission"]) {
      const rows = await db.sql.unsafe(`SELECT 1 FROM ${table} WHERE entity_id = $1`, [alice!.entity_id])
      expect(rows.length).toBe(0)
    }
    expect(await counts(db.sql)).toEqual({
      guacamole_connection_group: 1,
      guacamole_connection: 1,
      guacamole_connection_parameter: 5,
      guacamole_entity: 1,
      guacamole_user: 1,
      guacamole_user_permission: 1,
      guacamole_connection_group_permission: 1,
      guacamole_connection_permission: 1,
    })
    // Bob is untouched and still converged.
    expect(await run(op.service.plan(access({ username: "bob" })))).toEqual([])

    expect((await run(op.service.revoke({ holder: { namespace: "jupyterhub", name: "ws1-bob" } }))).changes).toEqual([
      'delete Guacamole user "ws1@bob" with its permissions',
      'delete connection "ws1/bob"',
      'delete empty connection group "ws1"',
    ])
    expect(Object.values(await counts(db.sql)).every((n) => n === 0)).toBe(true)
    expect((await run(op.service.revoke({ holder: { namespace: "jupyterhub", name: "ws1-bob" } }))).changes).toEqual([])
  })

  test("keeps a group that still holds a child group", async () => {
    await run(op.service.ensure(access()))
    await db.sql`INSERT INTO guacamole_connection_group (connection_group_name, parent_id)
                 SELECT 'inner', connection_group_id FROM guacamole_connection_group`
    const removed = await run(op.service.revoke({ holder: { namespace: "jupyterhub", name: "ws1-alice" } }))
    expect(removed.changes).not.toContain('delete empty connection group "ws1"')
    expect(await counts(db.sql)).toMatchObject({ guacamole_connection_group: 2 })
  })
})

describe("concurrency", () => {
  testWithRealPostgres("ten concurrent ensures of one workspace through a pool of 5 make exactly one group", async () => {
    const pool = serviceFor(db, 5)
    try {
      const names = Array.from({ length: 10 }, (_, i) => `user${i}`)
      await Promise.all(names.map((username) => run(pool.service.ensure(access({ username })))))
      const groups = await db.sql`SELECT connection_group_id FROM guacamole_connection_group`
      expect(groups.length).toBe(1)
      expect(await counts(db.sql)).toMatchObject({
        guacamole_connection: 10,
        guacamole_entity: 10,
        guacamole_connection_group_permission: 10,
      })
      for (const username of names) expect(await run(pool.service.plan(access({ username })))).toEqual([])
    } finally {
      await pool.end()
    }
  })

  testWithRealPostgres("an administrator's connection being added to the workspace's group as its last binding is revoked: the group and the connection stay", async () => {
    await run(op.service.ensure(access({ username: "alice" })))
    const [g] = await db.sql`SELECT connection_group_id FROM guacamole_connection_group WHERE connection_group_name = 'ws1'`
    const admin = postgres(db.url, { max: 1, onnotice: () => undefined })
    try {
      const session = await admin.reserve()
      await session.unsafe("BEGIN")
      await session`INSERT INTO guacamole_connection (connection_name, parent_id, protocol) VALUES ('admin-ssh', ${g!.connection_group_id}, 'ssh')`
      const revoked = run(op.service.revoke({ holder: { namespace: "jupyterhub", name: "ws1-alice" } }))
      // The revocation waits on the row the administrator's insert holds; then the administrator commits.
      await waitFor(
        async () => (await db.sql`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).length > 0,
        { message: "the revocation to wait on the administrator's transaction" },
      )
      await session.unsafe("COMMIT")
      session.release()
      const { changes } = await revoked
      expect(changes).toContain('delete Guacamole user "ws1@alice" with its permissions')
      expect(changes.some((c) => c.includes("connection group"))).toBe(false)
      expect([...(await db.sql`SELECT connection_name FROM guacamole_connection`)]).toEqual([{ connection_name: "admin-ssh" }])
      expect([...(await db.sql`SELECT connection_group_name FROM guacamole_connection_group`)]).toEqual([{ connection_group_name: "ws1" }])
    } finally {
      await admin.end({ timeout: 5 })
    }
  })
})
