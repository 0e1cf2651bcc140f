/**
 * A binding's life after creation: bad input, expiry, deletion — and what an
 * operator must never do to other bindings meanwhile.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Effect } from "effect"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { Bindings, Secrets } from "../../src/runtime/resources.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, patchReplicasAsKeycloak, settled, startHarness, type Harness } from "../support/operator.ts"
import { forEachServer } from "../support/servers.ts"
import { settableClock } from "../support/clock.ts"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

forEachServer("lifecycle", (server) => {
  let h: Harness
  const clock = settableClock(new Date("2030-06-15T12:00:00Z"))

  const eventsOf = async (name: string) =>
    (await h.list("", "events", BINDING_NAMESPACE)).filter((e: any) => e.involvedObject?.name === name)

  beforeAll(async () => {
    h = await startHarness({ server, clock })
    await h.createBinding("steady", { workspace: "ws9", username: "steady", expires: "2099-12-31" })
    await h.waitForStatus("steady", "READY")
  })
  afterAll(async () => {
    await h?.close()
  })

  describe("bad input", () => {
    test("a binding matched by claims only gets ERROR with a clear message and an Event, and nothing is created", async () => {
      await h.createBinding("claims-only", {
        workspace: "ws9",
        claims: [{ name: "group", operator: "EQUALS", value: "researchers" }],
        expires: "2099-12-31",
      })
      const b = await h.waitForStatus("claims-only", "ERROR")
      expect(b.status.message).toContain("spec.username")
      const event = await waitFor(async () => (await eventsOf("claims-only")).find((e: any) => e.reason === "InvalidSpec"))
      expect(event.type).toBe("Warning")
      expect(event.message).toContain("spec.username")
      expect(b.metadata.finalizers ?? []).not.toContain("xlscsde.nhs.uk/guacamole-operator")
    })

    test("fixing the binding brings it to READY", async () => {
      await Effect.runPromise(
        h.kube.patch(Bindings, BINDING_NAMESPACE, "claims-only", { type: "merge", body: { spec: { username: "carol" } } }),
      )
      const b = await h.waitForStatus("claims-only", "READY")
      expect(b.status.message).toBeUndefined()
    })

    test("two bindings of the same workspace and user: the second is refused, the first untouched", async () => {
      await h.createBinding("steady-twin", { workspace: "ws9", username: "steady", expires: "2099-12-31" })
      const twin = await h.waitForStatus("steady-twin", "ERROR")
      expect(twin.status.message).toContain("already bound")
      expect(twin.status.message).toContain(`${BINDING_NAMESPACE}/steady`)
      const d = (await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentNameFor("ws9", "steady")))
      expect(d.metadata.annotations["xlscsde.nhs.uk/binding"]).toBe(`${BINDING_NAMESPACE}/steady`)
      await Effect.runPromise(h.kube.delete(Bindings, BINDING_NAMESPACE, "steady-twin"))
      await waitFor(async () => !(await h.binding("steady-twin")))
      expect((await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentNameFor("ws9", "steady")))).toBeDefined()
      expect((await h.binding("steady"))?.status.statusText).toBe("READY")
    })
  })

  describe("expiry", () => {
    test("an expired binding is EXPIRED, its browser scaled to 0 and its Guacamole user disabled", async () => {
      await h.createBinding("old", { workspace: "ws9", username: "old", expires: "2030-01-31", replicas: 1 })
      const b = await h.waitForStatus("old", "EXPIRED")
      expect(b.status.deploymentName).toBe(deploymentNameFor("ws9", "old"))
      expect((await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentNameFor("ws9", "old"))).spec.replicas).toBe(0)
      const [user] = await h.db.sql`
        SELECT u.disabled, u.valid_until::text AS valid_until FROM guacamole_user u
        JOIN guacamole_entity e USING (entity_id) WHERE e.name = 'ws9@old'`
      expect(user).toEqual({ disabled: true, valid_until: "2030-01-31" })
    })

    test("Keycloak cannot start the browser of an expired binding", async () => {
      await patchReplicasAsKeycloak(h, "old", 1)
      await settled(h)
      expect((await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentNameFor("ws9", "old"))).spec.replicas).toBe(0)
    })

    test("extending the expiry date restores access", async () => {
      await Effect.runPromise(
        h.kube.patch(Bindings, BINDING_NAMESPACE, "old", { type: "merge", body: { spec: { expires: "2031-01-31" } } }),
      )
      await h.waitForStatus("old", "READY")
      expect((await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentNameFor("ws9", "old"))).spec.replicas).toBe(1)
      const [user] = await h.db.sql`
        SELECT u.disabled FROM guacamole_user u JOIN guacamole_entity e USING (entity_id) WHERE e.name = 'ws9@old'`
      expect(user!.disabled).toBe(false)
    })

    test("a binding expires when its day is over, without any change to it", async () => {
      await h.createBinding("today", { workspace: "ws9", username: "today", expires: "2030-06-15", replicas: 1 })
      await h.waitForStatus("today", "READY")
      clock.set(new Date("2030-06-16T00:00:01Z"))
      h.operator().controller.resync()
      await h.waitForStatus("today", "EXPIRED")
      expect((await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentNameFor("ws9", "today"))).spec.replicas).toBe(0)
      clock.set(new Date("2030-06-15T12:00:00Z"))
    })
  })

  describe("deletion", () => {
    test("deleting a binding removes its Guacamole access, Deployment, Service and Secret, then the binding", async () => {
      await h.createBinding("leaver", { workspace: "ws8", username: "leaver", expires: "2099-12-31" })
      await h.createBinding("stayer", { workspace: "ws8", username: "stayer", expires: "2099-12-31" })
      await h.waitForStatus("leaver", "READY")
      await h.waitForStatus("stayer", "READY")
      const d = deploymentNameFor("ws8", "leaver")
      await Effect.runPromise(h.kube.delete(Bindings, BINDING_NAMESPACE, "leaver"))
      await waitFor(async () => !(await h.binding("leaver")), { message: "the binding to be released" })
      expect((await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, d))).toBeUndefined()
      expect((await h.get("", "services", GUACAMOLE_NAMESPACE, `client-${d}`))).toBeUndefined()
      expect((await h.get("", "secrets", GUACAMOLE_NAMESPACE, `client-${d}-vnc`))).toBeUndefined()
      const entities = await h.db.sql`SELECT name FROM guacamole_entity WHERE name LIKE 'ws8@%' ORDER BY name`
      expect(entities.map((e: any) => e.name)).toEqual(["ws8@stayer"])
      const connections = await h.db.sql`SELECT connection_name FROM guacamole_connection ORDER BY 1`
      expect(connections.map((c: any) => c.connection_name)).not.toContain("leaver")
      expect(connections.map((c: any) => c.connection_name)).toContain("stayer")
      expect((await h.binding("stayer"))?.status.statusText).toBe("READY")
    })

    test("deleting the last binding of a workspace removes its connection group", async () => {
      await Effect.runPromise(h.kube.delete(Bindings, BINDING_NAMESPACE, "stayer"))
      await waitFor(async () => !(await h.binding("stayer")))
      const groups = await h.db.sql`SELECT 1 FROM guacamole_connection_group WHERE connection_group_name = 'ws8'`
      expect(groups).toHaveLength(0)
    })

    test("objects left by a binding deleted while the operator was down are cleaned up at start", async () => {
      await h.createBinding("ghost", { workspace: "ws7", username: "ghost", expires: "2099-12-31" })
      await h.waitForStatus("ghost", "READY")
      await settled(h)
      await h.stopOperator()
      // Someone removes the finalizer by hand and deletes the binding while the operator is away.
      await Effect.runPromise(
        h.kube.patch(Bindings, BINDING_NAMESPACE, "ghost", { type: "merge", body: { metadata: { finalizers: null } } }),
      )
      await Effect.runPromise(h.kube.delete(Bindings, BINDING_NAMESPACE, "ghost"))
      await h.startOperator()
      const d = deploymentNameFor("ws7", "ghost")
      await waitFor(async () => !(await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, d)), { message: "the orphan Deployment to go" })
      await waitFor(async () => (await h.db.sql`SELECT 1 FROM guacamole_entity WHERE name = 'ws7@ghost'`).length === 0)
      expect((await h.binding("steady"))?.status.statusText).toBe("READY")
    })
  })

  describe("the VNC password", () => {
    test("a deleted Secret is replaced with a new password, Guacamole is told, and the browser restarts with it", async () => {
      await h.createBinding("rotated", { workspace: "ws6", username: "rotated", expires: "2099-12-31" })
      await h.waitForStatus("rotated", "READY")
      await settled(h)
      const d = deploymentNameFor("ws6", "rotated")
      const secretName = `client-${d}-vnc`
      const passwordOf = async () => Buffer.from((await h.get("", "secrets", GUACAMOLE_NAMESPACE, secretName)).data.password, "base64").toString()
      const podAnnotation = async () =>
        (await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, d)).spec.template.metadata.annotations["xlscsde.nhs.uk/vnc-secret-uid"]
      const oldPassword = (await passwordOf())
      const oldAnnotation = (await podAnnotation())
      const secretVersion = async () => {
        const { uid, resourceVersion } = (await h.get("", "secrets", GUACAMOLE_NAMESPACE, secretName)).metadata
        return `${uid}/${resourceVersion}`
      }
      expect(oldAnnotation).toBe(await secretVersion())

      await Effect.runPromise(h.kube.delete(Secrets, GUACAMOLE_NAMESPACE, secretName))
      await waitFor(async () => (await h.get("", "secrets", GUACAMOLE_NAMESPACE, secretName)), { message: "a new Secret" })
      await settled(h)
      const newPassword = (await passwordOf())
      expect(newPassword).not.toBe(oldPassword)
      expect(await podAnnotation()).toBe(await secretVersion())
      expect((await podAnnotation())).not.toBe(oldAnnotation)
      const [param] = await h.db.sql`
        SELECT p.parameter_value FROM guacamole_connection_parameter p
        JOIN guacamole_connection c USING (connection_id)
        WHERE c.connection_name = 'rotated' AND p.parameter_name = 'password'`
      expect(param!.parameter_value).toBe(newPassword)
    })
  })

  describe("a binding whose user changes", () => {
    test("keeps its deployment name, and Guacamole access moves from the old user to the new one", async () => {
      await h.createBinding("renamed", { workspace: "ws5", username: "before", expires: "2099-12-31" })
      const first = await h.waitForStatus("renamed", "READY")
      const d = first.status.deploymentName
      expect(d).toBe(deploymentNameFor("ws5", "before"))
      await Effect.runPromise(
        h.kube.patch(Bindings, BINDING_NAMESPACE, "renamed", { type: "merge", body: { spec: { username: "after" } } }),
      )
      await waitFor(async () => (await h.db.sql`SELECT 1 FROM guacamole_entity WHERE name = 'ws5@after'`).length === 1, {
        message: "the new Guacamole user",
      })
      await settled(h)
      expect(await h.db.sql`SELECT 1 FROM guacamole_entity WHERE name = 'ws5@before'`).toHaveLength(0)
      expect((await h.binding("renamed"))!.status.deploymentName).toBe(d)
      const deployment = (await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, d))
      expect(deployment.metadata.annotations["xlscsde.nhs.uk/username"]).toBe("after")
      const [hostname] = await h.db.sql`
        SELECT p.parameter_value FROM guacamole_connection_parameter p JOIN guacamole_connection c USING (connection_id)
        WHERE c.connection_name = 'after' AND p.parameter_name = 'hostname'`
      expect(hostname!.parameter_value).toBe(`client-${d}.${GUACAMOLE_NAMESPACE}.svc.cluster.local`)
    })
  })
})
