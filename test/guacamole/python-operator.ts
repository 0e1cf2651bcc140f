/**
 * The rows the Python operator left in Guacamole's database for one binding,
 * written the way its service.py wrote them: a root-level ORGANIZATIONAL
 * group (1000/1000, session affinity), a vnc connection whose parameters
 * point at the binding's Service with the shared password 1234, the entity and
 * its guacamole_user with the one fixed password hash and salt every user got,
 * and the three READ permissions. No attributes: it marked nothing.
 */
import type postgres from "postgres"
import { PYTHON_OPERATOR_PASSWORD_HASH, PYTHON_OPERATOR_PASSWORD_SALT } from "../../src/guacamole/db.ts"

export async function pythonOperatorRows(sql: postgres.Sql, workspace: string, username: string, hostname: string) {
  const entity = `${workspace}@${username}`
  await sql.begin(async (tx) => {
    const existing = await tx`SELECT 1 FROM guacamole_connection_group WHERE connection_group_name = ${workspace} AND parent_id IS NULL`
    if (existing.length === 0) {
      await tx`INSERT INTO guacamole_connection_group (connection_group_name, type, max_connections, max_connections_per_user, enable_session_affinity)
               VALUES (${workspace}, 'ORGANIZATIONAL', 1000, 1000, true)`
    }
    await tx`INSERT INTO guacamole_connection (parent_id, connection_name, protocol, failover_only)
             SELECT connection_group_id, ${username}, 'vnc', false FROM guacamole_connection_group
              WHERE connection_group_name = ${workspace} AND parent_id IS NULL`
    for (const [name, value] of [["hostname", hostname], ["port", "5900"], ["password", "1234"], ["disable-copy", "true"], ["disable-paste", "true"]]) {
      await tx`INSERT INTO guacamole_connection_parameter (connection_id, parameter_name, parameter_value)
               SELECT c.connection_id, ${name!}, ${value!} FROM guacamole_connection c JOIN guacamole_connection_group g
                   ON c.parent_id = g.connection_group_id WHERE g.connection_group_name = ${workspace} AND c.connection_name = ${username}`
    }
    await tx`INSERT INTO guacamole_entity (name, type) VALUES (${entity}, 'USER')`
    await tx`INSERT INTO guacamole_user (entity_id, disabled, expired, password_hash, password_salt, password_date)
             SELECT entity_id, false, false, ${PYTHON_OPERATOR_PASSWORD_HASH}, ${PYTHON_OPERATOR_PASSWORD_SALT}, now()
               FROM guacamole_entity WHERE name = ${entity}`
    await tx`INSERT INTO guacamole_user_permission (entity_id, affected_user_id, permission)
             SELECT e.entity_id, u.user_id, 'READ' FROM guacamole_entity e JOIN guacamole_user u USING (entity_id) WHERE e.name = ${entity}`
    await tx`INSERT INTO guacamole_connection_group_permission (entity_id, connection_group_id, permission)
             SELECT e.entity_id, g.connection_group_id, 'READ' FROM guacamole_entity e, guacamole_connection_group g
              WHERE e.name = ${entity} AND g.connection_group_name = ${workspace} AND g.parent_id IS NULL`
    await tx`INSERT INTO guacamole_connection_permission (entity_id, connection_id, permission)
             SELECT e.entity_id, c.connection_id, 'READ' FROM guacamole_entity e, guacamole_connection c
               JOIN guacamole_connection_group g ON c.parent_id = g.connection_group_id
              WHERE e.name = ${entity} AND g.connection_group_name = ${workspace} AND c.connection_name = ${username}`
  })
}
