/**
 * Upgrading from the Python operator: its Deployment, Service and Guacamole
 * rows are adopted — patched where they differ, never recreated — and the
 * shared VNC password `1234` is replaced by the binding's own.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { Effect } from "effect"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { PYTHON_OPERATOR_PASSWORD_HASH, PYTHON_OPERATOR_PASSWORD_SALT } from "../../src/guacamole/db.ts"
import { pythonOperatorRows } from "../guacamole/python-operator.ts"
import { Bindings, Deployments, Services } from "../../src/runtime/resources.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, settled, startHarness, type Harness } from "../support/operator.ts"
import { forEachServer } from "../support/servers.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

forEachServer("upgrade", (server) => {
  let h: Harness
  const d = deploymentNameFor("ws1", "alice")
  const before: Record<string, string> = {}

  beforeAll(async () => {
    h = await startHarness({ server, start: false })
    // What the Python operator left: a READY binding, its Deployment and Service, and the rows with password 1234.
    const binding = await Effect.runPromise(
      h.kube.create(Bindings, BINDING_NAMESPACE, {
        apiVersion: "xlscsde.nhs.uk/v1",
        kind: "AnalyticsWorkspaceBinding",
        metadata: { name: "ws1-alice", namespace: BINDING_NAMESPACE },
        spec: { workspace: "ws1", username: "alice", expires: "2099-12-31", replicas: 1 },
      }),
    )
    await Effect.runPromise(
      h.kube.patch(Bindings, BINDING_NAMESPACE, "ws1-alice", { type: "merge", body: { status: { statusText: "READY", deploymentName: d } } }, "status"),
    )
    expect(binding.metadata.uid).toBeDefined()
    const labels = { "xlscsde.nhs.uk/purpose": "workspace-client" }
    const annotations = { "xlscsde.nhs.uk/workspace": "ws1", "xlscsde.nhs.uk/username": "alice" }
    const deployment = await Effect.runPromise(
      h.kube.create(Deployments, GUACAMOLE_NAMESPACE, {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: d, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: { "xlscsde.nhs.uk/deployment-name": d } },
          template: {
            metadata: { labels: { "xlscsde.nhs.uk/deployment-name": d }, annotations },
            spec: {
              containers: [
                {
                  name: d,
                  image: "browser:old",
                  ports: [{ containerPort: 5900 }],
                  env: [{ name: "BROWSER_URL", value: "https://jupyter.test" }],
                  volumeMounts: [
                    { name: "certs", mountPath: "/usr/lib/firefox/distribution/certs", readOnly: true },
                    { name: "config", mountPath: "/usr/lib/firefox/distribution", readOnly: true },
                  ],
                },
              ],
              volumes: [
                { name: "certs", configMap: { name: "xlscsde-enterprise-certificate" } },
                { name: "config", configMap: { name: "firefox-config" } },
              ],
            },
          },
        },
      }),
    )
    const service = await Effect.runPromise(
      h.kube.create(Services, GUACAMOLE_NAMESPACE, {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: `client-${d}`, labels, annotations },
        spec: {
          clusterIP: "None",
          selector: { "xlscsde.nhs.uk/deployment-name": d },
          ports: [{ port: 5900, targetPort: 5900 }],
        },
      }),
    )
    before.deployment = deployment.metadata.uid!
    before.service = service.metadata.uid!
    await pythonOperatorRows(h.db.sql, "ws1", "alice", `client-${d}.${GUACAMOLE_NAMESPACE}.svc.cluster.local`)
    await h.startOperator()
    await settled(h)
  })
  afterAll(async () => {
    await h?.close()
  })

  test("the Deployment and Service are adopted in place, and the browser gets its own VNC password", async () => {
    const deployment = (await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, d))
    const service = (await h.get("", "services", GUACAMOLE_NAMESPACE, `client-${d}`))
    expect(deployment.metadata.uid).toBe(before.deployment)
    expect(service.metadata.uid).toBe(before.service)
    expect(deployment.metadata.annotations["xlscsde.nhs.uk/binding"]).toBe(`${BINDING_NAMESPACE}/ws1-alice`)
    expect(deployment.spec.replicas).toBe(1)
    const container = deployment.spec.template.spec.containers[0]
    expect(container.image).toBe("browser:test")
    const vnc = container.env.find((e: any) => e.name === "VNC_PASSWORD")
    expect(vnc.valueFrom.secretKeyRef).toEqual({ name: `client-${d}-vnc`, key: "password" })
    expect(service.metadata.annotations["xlscsde.nhs.uk/binding"]).toBe(`${BINDING_NAMESPACE}/ws1-alice`)
  })

  test("the Guacamole rows are kept, with the shared password 1234 replaced by the binding's", async () => {
    const secret = (await h.get("", "secrets", GUACAMOLE_NAMESPACE, `client-${d}-vnc`))
    const password = Buffer.from(secret.data.password, "base64").toString()
    expect(password).not.toBe("1234")
    const groups = await h.db.sql`SELECT 1 FROM guacamole_connection_group WHERE connection_group_name = 'ws1'`
    expect(groups).toHaveLength(1)
    const [param] = await h.db.sql`
      SELECT p.parameter_value FROM guacamole_connection_parameter p JOIN guacamole_connection c USING (connection_id)
      WHERE c.connection_name = 'alice' AND p.parameter_name = 'password'`
    expect(param!.parameter_value).toBe(password)
    const [user] = await h.db.sql`SELECT u.valid_until::text AS valid_until FROM guacamole_user u
      JOIN guacamole_entity e USING (entity_id) WHERE e.name = 'ws1@alice'`
    expect(user!.valid_until).toBe("2099-12-31")
    expect((await h.binding("ws1-alice"))!.status.statusText).toBe("READY")
    expect((await h.binding("ws1-alice"))!.status.deploymentName).toBe(d)
  })

  test("the adopted user's password is no longer the hash every user of the Python operator shared", async () => {
    const [user] = await h.db.sql<{ shared: boolean; hash_length: number; salt_length: number }[]>`
      SELECT (u.password_hash = ${PYTHON_OPERATOR_PASSWORD_HASH} OR u.password_salt = ${PYTHON_OPERATOR_PASSWORD_SALT}) AS shared,
             length(u.password_hash) AS hash_length, length(u.password_salt) AS salt_length
        FROM guacamole_user u JOIN guacamole_entity e USING (entity_id) WHERE e.name = 'ws1@alice'`
    expect(user).toEqual({ shared: false, hash_length: 32, salt_length: 32 })
    const events = (await h.list("", "events", BINDING_NAMESPACE)).filter((e: any) => e.involvedObject?.name === "ws1-alice")
    const [event] = events.filter((e: any) => e.message.includes("shared password"))
    expect(event?.message).toContain("ws1@alice")
  })

  test("the Python operator's rows are adopted: marked in Guacamole's attribute tables as this binding's", async () => {
    const binding = (await h.binding("ws1-alice"))!
    const holder = `${BINDING_NAMESPACE}/ws1-alice/${binding.metadata.uid}`
    const [user] = await h.db.sql`SELECT ua.attribute_value FROM guacamole_user_attribute ua JOIN guacamole_user u USING (user_id)
      JOIN guacamole_entity e USING (entity_id) WHERE e.name = 'ws1@alice' AND ua.attribute_name = 'xlscsde.nhs.uk/binding'`
    expect(user!.attribute_value).toBe(holder)
    const [connection] = await h.db.sql`SELECT ca.attribute_value FROM guacamole_connection_attribute ca
      JOIN guacamole_connection c USING (connection_id) WHERE c.connection_name = 'alice'`
    expect(connection!.attribute_value).toBe(holder)
    const [group] = await h.db.sql`SELECT ga.attribute_value FROM guacamole_connection_group_attribute ga
      JOIN guacamole_connection_group g USING (connection_group_id) WHERE g.connection_group_name = 'ws1'`
    expect(group!.attribute_value).toBe("awms-guacamole-operator")
  })
})
