/**
 * Shared pieces of the tenancy tests: reading bindings and their objects
 * through the test's own Kubernetes client (so the same tests can run against
 * another API server), hand-made rows that are not the operator's, and a
 * checksum of rows the operator must never change.
 */
import { Effect, Either } from "effect"
import type postgres from "postgres"
import type { KubeObject } from "../../src/runtime/client.ts"
import { Bindings, Deployments, Events, Secrets } from "../../src/runtime/resources.ts"
import { BINDING_NAMESPACE, type Harness } from "../support/operator.ts"
import { waitFor } from "../support/wait.ts"

export const spec = (workspace: string, username: string, extra: Record<string, unknown> = {}) => ({
  workspace,
  username,
  expires: "2099-12-31",
  ...extra,
})

export const getBinding = async (h: Harness, name: string, namespace = BINDING_NAMESPACE): Promise<KubeObject | undefined> => {
  const r = await Effect.runPromise(Effect.either(h.kube.get(Bindings, namespace, name)))
  return Either.isRight(r) ? r.right : undefined
}

export const waitForStatusOf = (h: Harness, name: string, statusText: string, namespace = BINDING_NAMESPACE, timeoutMs = 15_000) =>
  waitFor(
    async () => {
      const b = await getBinding(h, name, namespace)
      return b?.status?.statusText === statusText ? b : undefined
    },
    { timeoutMs, message: `binding ${namespace}/${name} to be ${statusText}` },
  )

export const waitForGone = (h: Harness, name: string, namespace = BINDING_NAMESPACE) =>
  waitFor(async () => (await getBinding(h, name, namespace)) === undefined, { message: `binding ${namespace}/${name} to be gone` })

export const deleteBinding = (h: Harness, name: string, namespace = BINDING_NAMESPACE) =>
  Effect.runPromise(h.kube.delete(Bindings, namespace, name))

export const patchSpec = (h: Harness, name: string, patch: Record<string, unknown>, namespace = BINDING_NAMESPACE) =>
  Effect.runPromise(h.kube.patch(Bindings, namespace, name, { type: "merge", body: { spec: patch } }))

export const getObject = async (h: Harness, rt: typeof Deployments | typeof Secrets, namespace: string, name: string) => {
  const r = await Effect.runPromise(Effect.either(h.kube.get(rt, namespace, name)))
  return Either.isRight(r) ? r.right : undefined
}

export const eventsOf = async (h: Harness, name: string, namespace = BINDING_NAMESPACE) => {
  const r = await Effect.runPromise(h.kube.list(Events, { namespace }))
  return (r.items as KubeObject[]).filter((e: any) => e.involvedObject?.name === name)
}

/** What Guacamole shows a user: the connections it may READ, with where they lead and their password. */
export const connectionsOf = async (sql: postgres.Sql, entityName: string) => [
  ...(await sql<{ workspace: string; connection: string; hostname: string; password: string }[]>`
    SELECT g.connection_group_name AS workspace, c.connection_name AS connection,
           (SELECT parameter_value FROM guacamole_connection_parameter WHERE connection_id = c.connection_id AND parameter_name = 'hostname') AS hostname,
           (SELECT parameter_value FROM guacamole_connection_parameter WHERE connection_id = c.connection_id AND parameter_name = 'password') AS password
      FROM guacamole_connection_permission cp
      JOIN guacamole_entity e ON e.entity_id = cp.entity_id
      JOIN guacamole_connection c ON c.connection_id = cp.connection_id
      LEFT JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id
     WHERE e.name = ${entityName} AND cp.permission = 'READ'
     ORDER BY 1, 2`),
]

/**
 * A Guacamole administrator made by hand (as an admin does in Guacamole's UI):
 * entity, user with a password of its own, ADMINISTER and the other system
 * permissions, UPDATE/ADMINISTER on itself.
 */
export async function handMadeAdmin(sql: postgres.Sql, name: string) {
  await sql.begin(async (tx) => {
    await tx`INSERT INTO guacamole_entity (name, type) VALUES (${name}, 'USER')`
    await tx`INSERT INTO guacamole_user (entity_id, password_hash, password_salt, password_date)
             SELECT entity_id, sha256(convert_to(${name}, 'UTF8')), sha256(convert_to('salt', 'UTF8')), now()
               FROM guacamole_entity WHERE name = ${name}`
    await tx`INSERT INTO guacamole_system_permission (entity_id, permission)
             SELECT entity_id, p::guacamole_system_permission_type FROM guacamole_entity,
                    unnest(ARRAY['ADMINISTER', 'CREATE_USER', 'CREATE_CONNECTION']) AS p WHERE name = ${name}`
    await tx`INSERT INTO guacamole_user_permission (entity_id, affected_user_id, permission)
             SELECT e.entity_id, u.user_id, p::guacamole_object_permission_type FROM guacamole_entity e
               JOIN guacamole_user u USING (entity_id), unnest(ARRAY['READ', 'UPDATE', 'ADMINISTER']) AS p WHERE e.name = ${name}`
  })
}

/** An administrator's BALANCING group with an ssh connection holding a private key. */
export async function handMadeSshGroup(sql: postgres.Sql, group: string, connection: string) {
  await sql.begin(async (tx) => {
    await tx`INSERT INTO guacamole_connection_group (connection_group_name, type) VALUES (${group}, 'BALANCING')`
    await tx`INSERT INTO guacamole_connection (connection_name, parent_id, protocol)
             SELECT ${connection}, connection_group_id, 'ssh' FROM guacamole_connection_group WHERE connection_group_name = ${group}`
    for (const [name, value] of [["hostname", "prod-db.internal"], ["port", "22"], ["private-key", "-----BEGIN KEY-----"]] as const) {
      await tx`INSERT INTO guacamole_connection_parameter (connection_id, parameter_name, parameter_value)
               SELECT connection_id, ${name}, ${value} FROM guacamole_connection WHERE connection_name = ${connection}`
    }
  })
}

/** Every row of every Guacamole table the operator writes, except those it marks, as one text: to compare before and after. */
export const unmarkedRowsChecksum = async (sql: postgres.Sql): Promise<string> => {
  const [row] = await sql<{ sum: string }[]>`
    WITH marked_users AS (SELECT u.user_id, u.entity_id FROM guacamole_user u JOIN guacamole_user_attribute a USING (user_id)
                           WHERE a.attribute_name = 'xlscsde.nhs.uk/binding'),
         marked_connections AS (SELECT connection_id FROM guacamole_connection_attribute WHERE attribute_name = 'xlscsde.nhs.uk/binding'),
         marked_groups AS (SELECT connection_group_id FROM guacamole_connection_group_attribute WHERE attribute_name = 'xlscsde.nhs.uk/managed-by')
    SELECT md5(string_agg(r, E'\n' ORDER BY r)) AS sum FROM (
      SELECT 'e ' || row(e.*)::text AS r FROM guacamole_entity e WHERE e.entity_id NOT IN (SELECT entity_id FROM marked_users)
      UNION ALL SELECT 'u ' || row(u.*)::text FROM guacamole_user u WHERE u.user_id NOT IN (SELECT user_id FROM marked_users)
      UNION ALL SELECT 'g ' || row(g.*)::text FROM guacamole_connection_group g WHERE g.connection_group_id NOT IN (SELECT * FROM marked_groups)
      UNION ALL SELECT 'c ' || row(c.*)::text FROM guacamole_connection c WHERE c.connection_id NOT IN (SELECT * FROM marked_connections)
      UNION ALL SELECT 'p ' || row(p.*)::text FROM guacamole_connection_parameter p WHERE p.connection_id NOT IN (SELECT * FROM marked_connections)
      UNION ALL SELECT 's ' || row(s.*)::text FROM guacamole_system_permission s WHERE s.entity_id NOT IN (SELECT entity_id FROM marked_users)
      UNION ALL SELECT 'up ' || row(x.*)::text FROM guacamole_user_permission x WHERE x.entity_id NOT IN (SELECT entity_id FROM marked_users)
      UNION ALL SELECT 'gp ' || row(x.*)::text FROM guacamole_connection_group_permission x WHERE x.entity_id NOT IN (SELECT entity_id FROM marked_users)
      UNION ALL SELECT 'cp ' || row(x.*)::text FROM guacamole_connection_permission x WHERE x.entity_id NOT IN (SELECT entity_id FROM marked_users)
      UNION ALL SELECT 'ua ' || row(x.*)::text FROM guacamole_user_attribute x WHERE x.user_id NOT IN (SELECT user_id FROM marked_users)
    ) t`
  return row!.sum ?? ""
}
