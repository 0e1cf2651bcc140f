/**
 * Issue 8: no binding can reach another researcher's access or an
 * administrator's rows. Each numbered case is a reproduction of what the issue
 * saw. Reads go through the test's own Kubernetes client (h.kube); tests that
 * need the emulator's fault injection are in their own describe at the end.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Duration, Effect } from "effect"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { Deployments, Secrets } from "../../src/runtime/resources.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, settled, startHarness, type Harness } from "../support/operator.ts"
import { forEachServer } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"
import {
  connectionsOf,
  deleteBinding,
  eventsOf,
  getBinding,
  getObject,
  handMadeAdmin,
  handMadeSshGroup,
  patchSpec,
  spec,
  unmarkedRowsChecksum,
  waitForGone,
  waitForStatusOf,
} from "./support.ts"

setDefaultTimeout(60_000)

forEachServer("tenancy", (server) => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({ server, config: { verifyInterval: Duration.seconds(1) } })
  })
  afterAll(async () => {
    await h?.close()
  })

  const hostOf = (workspace: string, username: string) =>
    `client-${deploymentNameFor(workspace, username)}.${GUACAMOLE_NAMESPACE}.svc.cluster.local`

  describe("issue 8 case 1: a binding cannot adopt, disable or delete a hand-made administrator", () => {
    test("binding admin/trust.nhs.uk over the admin admin@trust.nhs.uk: ERROR naming the row; expiry and deletion leave the admin as it was", async () => {
      await handMadeAdmin(h.db.sql, "admin@trust.nhs.uk")
      const before = await unmarkedRowsChecksum(h.db.sql)
      await h.createBinding("admin-grab", spec("admin", "trust.nhs.uk"))
      const b = await waitForStatusOf(h, "admin-grab", "ERROR")
      expect(b.status!.message).toContain('Guacamole user "admin@trust.nhs.uk"')
      expect(b.status!.message).toContain("not made by this operator")
      const failed = await waitFor(async () => (await eventsOf(h, "admin-grab")).find((e: any) => e.reason === "Conflict"))
      expect(failed.message).toContain("admin@trust.nhs.uk")
      // No write: not the user, not a group or connection of that name, no browser.
      expect(await unmarkedRowsChecksum(h.db.sql)).toBe(before)
      expect(await h.db.sql`SELECT 1 FROM guacamole_connection_group WHERE connection_group_name = 'admin'`).toHaveLength(0)
      expect(await getObject(h, Deployments, GUACAMOLE_NAMESPACE, deploymentNameFor("admin", "trust.nhs.uk"))).toBeUndefined()

      await patchSpec(h, "admin-grab", { expires: "2001-01-01" })
      await settled(h)
      await deleteBinding(h, "admin-grab")
      await waitForGone(h, "admin-grab")
      await settled(h)
      expect(await unmarkedRowsChecksum(h.db.sql)).toBe(before)
      const [admin] = await h.db.sql`SELECT u.disabled, (SELECT count(*)::int FROM guacamole_system_permission s
          WHERE s.entity_id = e.entity_id AND s.permission = 'ADMINISTER') AS administer
        FROM guacamole_entity e JOIN guacamole_user u USING (entity_id) WHERE e.name = 'admin@trust.nhs.uk'`
      expect(admin).toEqual({ disabled: false, administer: 1 })
    })
  })

  describe("issue 8 case 2: a binding cannot take over an administrator's group and connection", () => {
    test("workspace admin-tools / user prod-db over a BALANCING group with an ssh connection: ERROR, nothing rewritten or deleted", async () => {
      await handMadeSshGroup(h.db.sql, "admin-tools", "prod-db")
      const before = await unmarkedRowsChecksum(h.db.sql)
      await h.createBinding("tools-grab", spec("admin-tools", "prod-db"))
      const b = await waitForStatusOf(h, "tools-grab", "ERROR")
      expect(b.status!.message).toContain('connection group "admin-tools"')
      expect(await unmarkedRowsChecksum(h.db.sql)).toBe(before)
      await deleteBinding(h, "tools-grab")
      await waitForGone(h, "tools-grab")
      await settled(h)
      expect(await unmarkedRowsChecksum(h.db.sql)).toBe(before)
      const params = await h.db.sql`SELECT parameter_name FROM guacamole_connection_parameter p JOIN guacamole_connection c USING (connection_id)
        WHERE c.connection_name = 'prod-db' ORDER BY 1`
      expect(params.map((p) => p.parameter_name)).toEqual(["hostname", "port", "private-key"])
    })

    test('the issue\'s own workspace "Admin Tools" is not an AnalyticsWorkspace name: ERROR before anything is touched', async () => {
      await h.createBinding("tools-grab-2", spec("Admin Tools", "prod-db"))
      const b = await waitForStatusOf(h, "tools-grab-2", "ERROR")
      expect(b.status!.message).toStartWith("spec.workspace must be the name of an AnalyticsWorkspace")
    })
  })

  describe("issue 8 case 3: bindings a@b/c and a/b@c no longer share one Guacamole user", () => {
    test("the first is refused; the second has its user, reading only its own connection, and keeps it when the first is deleted", async () => {
      await h.createBinding("amb-1", spec("a@b", "c"))
      await h.createBinding("amb-2", spec("a", "b@c"))
      await waitForStatusOf(h, "amb-1", "ERROR")
      await waitForStatusOf(h, "amb-2", "READY")
      expect(await connectionsOf(h.db.sql, "a@b@c")).toEqual([
        { workspace: "a", connection: "b@c", hostname: hostOf("a", "b@c"), password: expect.any(String) },
      ])
      await deleteBinding(h, "amb-1")
      await waitForGone(h, "amb-1")
      await settled(h)
      expect(await connectionsOf(h.db.sql, "a@b@c")).toHaveLength(1)
      expect((await getBinding(h, "amb-2"))!.status!.statusText).toBe("READY")
    })
  })

  describe("issue 8 case 4: bindings x/y/z and x/y/z (split differently) no longer share one Deployment", () => {
    test("created together, x/y + z is refused and x + y/z alone has the browser and its password", async () => {
      await Promise.all([h.createBinding("slash-1", spec("x/y", "z")), h.createBinding("slash-2", spec("x", "y/z"))])
      await waitForStatusOf(h, "slash-1", "ERROR")
      const ready = await waitForStatusOf(h, "slash-2", "READY")
      const d = deploymentNameFor("x", "y/z")
      const deployment = await getObject(h, Deployments, GUACAMOLE_NAMESPACE, d)
      expect(deployment!.metadata.annotations!["xlscsde.nhs.uk/binding"]).toBe(`${BINDING_NAMESPACE}/slash-2`)
      expect(ready.status!.deploymentName).toBe(d)
      expect((await getBinding(h, "slash-1"))!.status!.deploymentName).toBeUndefined()
    })
  })

  describe("issue 8 case 5: patching a binding onto another researcher's pair", () => {
    test("is refused; the victim's connection keeps its browser and password; deleting the patcher leaves the victim's access", async () => {
      await h.createBinding("victim", spec("ws-v", "victim"))
      await h.createBinding("patcher", spec("ws-v", "patcher"))
      await waitForStatusOf(h, "victim", "READY")
      await waitForStatusOf(h, "patcher", "READY")
      await settled(h)
      const victimBefore = await connectionsOf(h.db.sql, "ws-v@victim")
      expect(victimBefore).toHaveLength(1)

      await patchSpec(h, "patcher", { username: "victim" })
      const refused = await waitForStatusOf(h, "patcher", "ERROR")
      expect(refused.status!.message).toContain("already bound")
      await settled(h)
      expect(await connectionsOf(h.db.sql, "ws-v@victim")).toEqual(victimBefore)
      // The patcher gave up what it held.
      expect(await connectionsOf(h.db.sql, "ws-v@patcher")).toEqual([])

      await deleteBinding(h, "patcher")
      await waitForGone(h, "patcher")
      await settled(h)
      expect(await connectionsOf(h.db.sql, "ws-v@victim")).toEqual(victimBefore)
      expect((await getBinding(h, "victim"))!.status!.statusText).toBe("READY")
    })

    test("a binding refused because another holds its pair takes it as soon as the holder is deleted", async () => {
      await h.createBinding("holder", spec("ws-q", "q"))
      await waitForStatusOf(h, "holder", "READY")
      await h.createBinding("waiter", spec("ws-q", "q"))
      await waitForStatusOf(h, "waiter", "ERROR")
      await deleteBinding(h, "holder")
      await waitForStatusOf(h, "waiter", "READY")
      const [connection] = await connectionsOf(h.db.sql, "ws-q@q")
      const secret = await getObject(h, Secrets, GUACAMOLE_NAMESPACE, `client-${deploymentNameFor("ws-q", "q")}-vnc`)
      expect(secret!.metadata.annotations!["xlscsde.nhs.uk/binding"]).toBe(`${BINDING_NAMESPACE}/waiter`)
      expect(connection!.password).toBe(Buffer.from((secret as any).data.password, "base64").toString())
    })
  })

  describe("issue 8 case 6: two bindings of one pair in two namespaces", () => {
    test("created at once, one holds the rows; deleting the other leaves the holder's access (5 trials)", async () => {
      for (let trial = 0; trial < 5; trial++) {
        const username = `twin${trial}`
        await Promise.all([
          h.createBinding("twin", spec("ws-twin", username)),
          h.createBinding("twin", spec("ws-twin", username), "default"),
        ])
        const [holder, other] = await waitFor(async () => {
          const a = await getBinding(h, "twin", BINDING_NAMESPACE)
          const b = await getBinding(h, "twin", "default")
          const sa = a?.status?.statusText
          const sb = b?.status?.statusText
          if (sa === "READY" && sb === "ERROR") return [BINDING_NAMESPACE, "default"] as const
          if (sb === "READY" && sa === "ERROR") return ["default", BINDING_NAMESPACE] as const
          return undefined
        }, { message: "one twin READY and the other ERROR" })
        await deleteBinding(h, "twin", other)
        await waitForGone(h, "twin", other)
        await settled(h)
        const connections = await connectionsOf(h.db.sql, `ws-twin@${username}`)
        expect(connections).toHaveLength(1)
        expect(connections[0]!.hostname).toBe(hostOf("ws-twin", username))
        expect((await getBinding(h, "twin", holder))!.status!.statusText).toBe("READY")
        await deleteBinding(h, "twin", holder)
        await waitForGone(h, "twin", holder)
      }
    })
  })

  describe("an object of the browser's name that the operator did not make", () => {
    for (const [kind, rt, make] of [
      [
        "Secret",
        Secrets,
        (name: string) => ({ apiVersion: "v1", kind: "Secret", metadata: { name }, data: { password: Buffer.from("someone-elses").toString("base64") } }),
      ],
      [
        "Deployment",
        Deployments,
        (name: string) => ({
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: "theirs" } },
            template: { metadata: { labels: { app: "theirs" } }, spec: { containers: [{ name: "theirs", image: "theirs:1" }] } },
          },
        }),
      ],
    ] as const) {
      test(`a hand-made ${kind}: ERROR naming it; it is neither rewritten nor deleted, and no password of it reaches Guacamole`, async () => {
        const username = `taken-${kind.toLowerCase()}`
        const d = deploymentNameFor("ws-taken", username)
        const name = kind === "Secret" ? `client-${d}-vnc` : d
        // What the operator would change; not the status and revision kube-controller-manager keeps for a Deployment.
        const ours = (m: Record<string, string> | undefined) => Object.entries(m ?? {}).filter(([k]) => k.startsWith("xlscsde.nhs.uk/"))
        const asMade = (o: any) => JSON.stringify([o.metadata.generation, o.metadata.labels, ours(o.metadata.annotations), o.spec, o.data])
        const theirs = asMade(await Effect.runPromise(h.kube.create(rt, GUACAMOLE_NAMESPACE, make(name))))
        const bindingName = `taken-${kind.toLowerCase()}`
        await h.createBinding(bindingName, spec("ws-taken", username))
        const b = await waitForStatusOf(h, bindingName, "ERROR")
        expect(b.status!.message).toContain(`${kind} ${GUACAMOLE_NAMESPACE}/${name}`)
        expect(b.status!.message).toContain("not made by this operator")
        const failed = await waitFor(async () => (await eventsOf(h, bindingName)).find((e: any) => e.reason === "Conflict"))
        expect(failed.message).toContain(name)
        expect(asMade(await getObject(h, rt, GUACAMOLE_NAMESPACE, name))).toBe(theirs)
        expect((await connectionsOf(h.db.sql, `ws-taken@${username}`)).map((c) => c.password)).not.toContain("someone-elses")

        await deleteBinding(h, bindingName)
        await waitForGone(h, bindingName)
        await settled(h)
        expect(asMade(await getObject(h, rt, GUACAMOLE_NAMESPACE, name))).toBe(theirs)
        await Effect.runPromise(h.kube.delete(rt, GUACAMOLE_NAMESPACE, name))
      })
    }
  })

  describe("a hand-edited VNC Secret and a tampered database", () => {
    test("editing the Secret's password: Guacamole gets the new password and the browser restarts with it", async () => {
      await h.createBinding("edited", spec("ws-e", "edited"))
      await waitForStatusOf(h, "edited", "READY")
      await settled(h)
      const d = deploymentNameFor("ws-e", "edited")
      const template = async () => (await getObject(h, Deployments, GUACAMOLE_NAMESPACE, d))!.spec.template.metadata.annotations
      const before = await template()
      await Effect.runPromise(
        h.kube.patch(Secrets, GUACAMOLE_NAMESPACE, `client-${d}-vnc`, {
          type: "merge",
          body: { data: { password: Buffer.from("handmade").toString("base64") } },
        }),
      )
      await waitFor(async () => (await connectionsOf(h.db.sql, "ws-e@edited"))[0]?.password === "handmade", {
        message: "Guacamole to have the edited password",
      })
      await waitFor(async () => JSON.stringify(await template()) !== JSON.stringify(before), { message: "the browser to restart" })
    })

    test("a redirected hostname is put back within the verification interval (1 s here), without any Kubernetes change", async () => {
      await h.createBinding("tampered", spec("ws-t", "tampered"))
      await waitForStatusOf(h, "tampered", "READY")
      await settled(h)
      await h.db.sql`UPDATE guacamole_connection_parameter SET parameter_value = 'evil.example'
        WHERE parameter_name = 'hostname' AND connection_id = (SELECT connection_id FROM guacamole_connection WHERE connection_name = 'tampered')`
      await waitFor(async () => (await connectionsOf(h.db.sql, "ws-t@tampered"))[0]?.hostname === hostOf("ws-t", "tampered"), {
        timeoutMs: 5_000,
        message: "the hostname to be put back",
      })
    })
  })

  describe("a connection sent through another guacd", () => {
    test("a proxy set on the operator's connection (another guacd would see the VNC password) is removed within the verification interval", async () => {
      await h.createBinding("proxied", spec("ws-p", "proxied"))
      await waitForStatusOf(h, "proxied", "READY")
      await settled(h)
      const proxy = () => h.db.sql`SELECT proxy_hostname, proxy_port, proxy_encryption_method::text AS method FROM guacamole_connection WHERE connection_name = 'proxied'`
      await h.db.sql`UPDATE guacamole_connection SET proxy_hostname = 'guacd.evil.example', proxy_port = 4822, proxy_encryption_method = 'NONE'
        WHERE connection_name = 'proxied'`
      await waitFor(async () => (await proxy())[0]?.proxy_hostname === null, { timeoutMs: 5_000, message: "the proxy to be removed" })
      expect([...(await proxy())]).toEqual([{ proxy_hostname: null, proxy_port: null, method: null }])
    })
  })

  // Fault injection is the emulator's alone.
  if (server === "emulator") describe("with injected API faults (emulator only)", () => {
    test("issue 8 case 7: a workspace changed while the first Deployment create fails (503): the old workspace's access goes, and all of it on deletion", async () => {
      await settled(h)
      h.api.faults.failNext({ verb: "create", resource: "deployments" }, { code: 503, count: 1000 })
      try {
        await h.createBinding("moving", spec("ws-old", "mover"))
        await waitFor(async () => (await connectionsOf(h.db.sql, "ws-old@mover")).length === 1, { message: "the first access" })
        expect((await getBinding(h, "moving"))!.status?.deploymentName).toBeUndefined()
        await patchSpec(h, "moving", { workspace: "ws-new" })
        await waitFor(async () => (await connectionsOf(h.db.sql, "ws-new@mover")).length === 1, { message: "the new access" })
        expect(await connectionsOf(h.db.sql, "ws-old@mover")).toEqual([])
      } finally {
        h.api.faults.clear()
      }
      await waitForStatusOf(h, "moving", "READY")
      await deleteBinding(h, "moving")
      await waitForGone(h, "moving")
      await settled(h)
      expect(await connectionsOf(h.db.sql, "ws-new@mover")).toEqual([])
      expect((await h.db.sql`SELECT name FROM guacamole_entity WHERE name LIKE '%@mover'`).length).toBe(0)
      const left = await Effect.runPromise(h.kube.list(Secrets, { namespace: GUACAMOLE_NAMESPACE }))
      expect(left.items.filter((s) => s.metadata.annotations?.["xlscsde.nhs.uk/binding"] === `${BINDING_NAMESPACE}/moving`)).toEqual([])
    })
  })
})
