/**
 * A new binding, end to end: the operator creates the Guacamole rows, the
 * browser Deployment, Service and VNC Secret, and reports READY.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, startHarness, type Harness } from "../support/operator.ts"
import { forEachServer } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

forEachServer("provisioning", (server) => {
  let h: Harness

  beforeAll(async () => {
    h = await startHarness({ server })
  })
  afterAll(async () => {
    await h?.close()
  })

  describe("a new binding", () => {
    const name = "ws1-alice"
    const deployment = deploymentNameFor("ws1", "alice")

    test("ends READY with its deployment name in status", async () => {
      await h.createBinding(name, { workspace: "ws1", username: "alice", expires: "2099-12-31" })
      const b = await h.waitForStatus(name, "READY")
      expect(deployment).toBe("cee3c61f22f5523cab33ca6ab9cfc699")
      expect(b.status.deploymentName).toBe(deployment)
      expect(b.status.replicas).toBe(0)
      expect(b.metadata.finalizers).toContain("xlscsde.nhs.uk/guacamole-operator")
    })

    test("has a Deployment as the reference operator made it, scaled to the binding's replicas", async () => {
      const d = (await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deployment))
      expect(d).toBeDefined()
      expect(d.metadata.labels["xlscsde.nhs.uk/purpose"]).toBe("workspace-client")
      expect(d.spec.replicas).toBe(0)
      expect(d.spec.selector.matchLabels).toEqual({ "xlscsde.nhs.uk/deployment-name": deployment })
      const pod = d.spec.template
      expect(pod.metadata.labels["xlscsde.nhs.uk/deployment-name"]).toBe(deployment)
      expect(pod.metadata.annotations["xlscsde.nhs.uk/workspace"]).toBe("ws1")
      expect(pod.metadata.annotations["xlscsde.nhs.uk/username"]).toBe("alice")
      expect(pod.spec.containers).toHaveLength(1)
      const c = pod.spec.containers[0]
      expect(c.name).toBe(deployment)
      expect(c.image).toBe("browser:test")
      expect(c.ports[0].containerPort).toBe(5900)
      const env = Object.fromEntries(c.env.map((e: any) => [e.name, e]))
      expect(env.BROWSER_URL.value).toBe("https://jupyter.test")
      expect(env.VNC_PASSWORD.valueFrom.secretKeyRef).toEqual({ name: `client-${deployment}-vnc`, key: "password" })
      const mounts = Object.fromEntries(c.volumeMounts.map((m: any) => [m.mountPath, m]))
      expect(mounts["/usr/lib/firefox/distribution/certs"].readOnly).toBe(true)
      expect(mounts["/usr/lib/firefox/distribution"].readOnly).toBe(true)
      const volumes = Object.fromEntries(pod.spec.volumes.map((v: any) => [v.configMap.name, v]))
      expect(Object.keys(volumes).sort()).toEqual(["firefox-config", "xlscsde-enterprise-certificate"])
      expect(d.metadata.annotations["xlscsde.nhs.uk/binding"]).toBe(`${BINDING_NAMESPACE}/${name}`)
    })

    test("has a headless Service on 5900 selecting the browser pod", async () => {
      const s = (await h.get("", "services", GUACAMOLE_NAMESPACE, `client-${deployment}`))
      expect(s).toBeDefined()
      expect(s.spec.clusterIP).toBe("None")
      expect(s.spec.selector).toEqual({ "xlscsde.nhs.uk/deployment-name": deployment })
      expect(s.spec.ports[0].port).toBe(5900)
      expect(s.spec.ports[0].targetPort).toBe(5900)
      expect(s.metadata.annotations["xlscsde.nhs.uk/workspace"]).toBe("ws1")
      expect(s.metadata.annotations["xlscsde.nhs.uk/username"]).toBe("alice")
    })

    test("has a per-binding random VNC password, in a Secret and in the Guacamole connection", async () => {
      const secret = (await h.get("", "secrets", GUACAMOLE_NAMESPACE, `client-${deployment}-vnc`))
      expect(secret).toBeDefined()
      const password = Buffer.from(secret.data.password, "base64").toString()
      expect(password).toHaveLength(8)
      expect(password).not.toBe("1234")
      const rows = await h.db.sql`
        SELECT p.parameter_name, p.parameter_value
        FROM guacamole_connection_parameter p JOIN guacamole_connection c USING (connection_id)
        WHERE c.connection_name = 'alice'`
      const params = Object.fromEntries(rows.map((r: any) => [r.parameter_name, r.parameter_value]))
      expect(params).toEqual({
        hostname: `client-${deployment}.${GUACAMOLE_NAMESPACE}.svc.cluster.local`,
        port: "5900",
        password,
        "disable-copy": "true",
        "disable-paste": "true",
      })
    })

    test("has the Guacamole user, connection group, connection and the three READ permissions", async () => {
      const [group] = await h.db.sql`
        SELECT connection_group_id, type, max_connections, max_connections_per_user, enable_session_affinity, parent_id
        FROM guacamole_connection_group WHERE connection_group_name = 'ws1'`
      expect(group).toMatchObject({
        type: "ORGANIZATIONAL",
        max_connections: 1000,
        max_connections_per_user: 1000,
        enable_session_affinity: true,
        parent_id: null,
      })
      const [connection] = await h.db.sql`
        SELECT connection_id, protocol, failover_only FROM guacamole_connection
        WHERE connection_name = 'alice' AND parent_id = ${group!.connection_group_id}`
      expect(connection).toMatchObject({ protocol: "vnc", failover_only: false })
      const [user] = await h.db.sql`
        SELECT e.entity_id, u.user_id, u.disabled, u.expired FROM guacamole_entity e
        JOIN guacamole_user u USING (entity_id) WHERE e.name = 'ws1@alice' AND e.type = 'USER'`
      expect(user).toMatchObject({ disabled: false, expired: false })
      const perms = await h.db.sql`
        SELECT 'user' AS kind, permission::text FROM guacamole_user_permission
          WHERE entity_id = ${user!.entity_id} AND affected_user_id = ${user!.user_id}
        UNION ALL SELECT 'group', permission::text FROM guacamole_connection_group_permission
          WHERE entity_id = ${user!.entity_id} AND connection_group_id = ${group!.connection_group_id}
        UNION ALL SELECT 'connection', permission::text FROM guacamole_connection_permission
          WHERE entity_id = ${user!.entity_id} AND connection_id = ${connection!.connection_id}`
      expect(perms.map((p: any) => `${p.kind}:${p.permission}`).sort()).toEqual([
        "connection:READ",
        "group:READ",
        "user:READ",
      ])
    })

    test("records Events on the binding", async () => {
      const events = await waitFor(async () => {
        const list = (await h.list("", "events", BINDING_NAMESPACE)).filter((e: any) => e.involvedObject?.name === name)
        return list.length >= 1 ? list : undefined
      })
      const reasons = events.map((e: any) => e.reason)
      // One Event for one fact: the binding was provisioned (what was created is in its message).
      expect(reasons).toEqual(["Provisioned"])
      expect(events[0].message).toContain("create Guacamole user")
      expect(events[0].message).toContain("create Deployment")
      for (const e of events) expect(JSON.stringify(e)).not.toContain(
        Buffer.from((await h.get("", "secrets", GUACAMOLE_NAMESPACE, `client-${deployment}-vnc`)).data.password, "base64").toString(),
      )
    })
  })
})
