/**
 * Many converged bindings at once, written in a few set-based statements (as
 * `ensure` would have left them: group, connection, its five parameters,
 * user, the three READ permissions and the ownership marks), for tests at the
 * scale of a real installation.
 */
import { Redacted } from "effect"
import type postgres from "postgres"
import type { GuacamoleAccess } from "../../src/guacamole/db.ts"

/** The access the seeded binding `i` (1-based) of `workspaces` wants: exactly its rows. */
export const seededAccess = (i: number, workspaces: number): GuacamoleAccess => {
  const workspace = `ws${((i - 1) % workspaces) + 1}`
  const username = `u${i}`
  return {
    workspace,
    username,
    entityName: `${workspace}@${username}`,
    hostname: `client-${username}.seed.svc.cluster.local`,
    port: 5900,
    password: Redacted.make(`pw-${i}`),
    validUntil: "2031-12-31",
    disabled: false,
    holder: { namespace: "seed", name: `${workspace}-${username}`, uid: `uid-${i}` },
  }
}

/** Writes `bindings` converged bindings over `workspaces` workspaces, then ANALYZE; returns their accesses. */
export const seedBindings = async (sql: postgres.Sql, bindings: number, workspaces: number): Promise<GuacamoleAccess[]> => {
  const n = Math.trunc(bindings)
  const w = Math.trunc(workspaces)
  await sql.unsafe(`
    CREATE TEMP TABLE seed AS
      SELECT i, 'ws' || ((i - 1) % ${w} + 1) AS ws, 'u' || i AS u FROM generate_series(1, ${n}) i;
    INSERT INTO guacamole_connection_group
      (connection_group_name, parent_id, type, max_connections, max_connections_per_user, enable_session_affinity)
      SELECT 'ws' || g, NULL, 'ORGANIZATIONAL', 1000, 1000, true FROM generate_series(1, ${w}) g;
    INSERT INTO guacamole_connection_group_attribute (connection_group_id, attribute_name, attribute_value)
      SELECT connection_group_id, 'xlscsde.nhs.uk/managed-by', 'awms-guacamole-operator'
        FROM guacamole_connection_group WHERE parent_id IS NULL;
    INSERT INTO guacamole_connection (connection_name, parent_id, protocol, failover_only)
      SELECT s.u, g.connection_group_id, 'vnc', false
        FROM seed s JOIN guacamole_connection_group g ON g.parent_id IS NULL AND g.connection_group_name = s.ws;
    INSERT INTO guacamole_entity (name, type) SELECT s.ws || '@' || s.u, 'USER' FROM seed s;
    INSERT INTO guacamole_user (entity_id, password_hash, password_salt, password_date, disabled, expired, valid_until)
      SELECT e.entity_id, sha256(convert_to('h' || s.i, 'UTF8')), sha256(convert_to('s' || s.i, 'UTF8')), now(), false, false, DATE '2031-12-31'
        FROM seed s JOIN guacamole_entity e ON e.type = 'USER' AND e.name = s.ws || '@' || s.u;
    CREATE TEMP TABLE seeded AS
      SELECT s.*, g.connection_group_id AS group_id, c.connection_id, e.entity_id, usr.user_id,
             'seed/' || s.ws || '-' || s.u || '/uid-' || s.i AS holder
        FROM seed s
        JOIN guacamole_connection_group g ON g.parent_id IS NULL AND g.connection_group_name = s.ws
        JOIN guacamole_connection c ON c.parent_id = g.connection_group_id AND c.connection_name = s.u
        JOIN guacamole_entity e ON e.type = 'USER' AND e.name = s.ws || '@' || s.u
        JOIN guacamole_user usr ON usr.entity_id = e.entity_id;
    INSERT INTO guacamole_connection_parameter (connection_id, parameter_name, parameter_value)
      SELECT x.connection_id, p.name, p.value
        FROM seeded x CROSS JOIN LATERAL (VALUES
          ('hostname', 'client-' || x.u || '.seed.svc.cluster.local'), ('port', '5900'), ('password', 'pw-' || x.i),
          ('disable-copy', 'true'), ('disable-paste', 'true')) AS p(name, value);
    INSERT INTO guacamole_connection_attribute (connection_id, attribute_name, attribute_value)
      SELECT connection_id, 'xlscsde.nhs.uk/binding', holder FROM seeded;
    INSERT INTO guacamole_user_attribute (user_id, attribute_name, attribute_value)
      SELECT user_id, 'xlscsde.nhs.uk/binding', holder FROM seeded;
    INSERT INTO guacamole_user_permission (entity_id, affected_user_id, permission)
      SELECT entity_id, user_id, 'READ' FROM seeded;
    INSERT INTO guacamole_connection_group_permission (entity_id, connection_group_id, permission)
      SELECT entity_id, group_id, 'READ' FROM seeded;
    INSERT INTO guacamole_connection_permission (entity_id, connection_id, permission)
      SELECT entity_id, connection_id, 'READ' FROM seeded;
    DROP TABLE seeded;
    DROP TABLE seed;
    ANALYZE;
  `)
  return Array.from({ length: n }, (_, k) => seededAccess(k + 1, w))
}
