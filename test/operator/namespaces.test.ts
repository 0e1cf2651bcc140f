/** WATCH_NAMESPACES: only the listed namespaces' bindings are served, and others' are left alone entirely. */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { Effect } from "effect"
import { Namespaces } from "../../src/runtime/resources.ts"
import { settled, startHarness, type Harness } from "../support/operator.ts"
import { forEachServer } from "../support/servers.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

forEachServer("namespaces", (server) => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({ server, config: { watchNamespaces: ["jupyterhub"] }, start: false })
    await Effect.runPromise(
      h.kube.create(Namespaces, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name: "elsewhere" } }),
    )
    await h.startOperator()
  })
  afterAll(async () => {
    await h?.close()
  })

  test("a binding in a watched namespace is served; one elsewhere gets no status, finalizer or objects", async () => {
    await h.createBinding("served", { workspace: "ws1", username: "served", expires: "2099-12-31" })
    await h.createBinding("ignored", { workspace: "ws1", username: "ignored", expires: "2099-12-31" }, "elsewhere")
    await h.waitForStatus("served", "READY")
    await settled(h)
    const ignored = (await h.binding("ignored", "elsewhere"))!
    expect(ignored.status).toBeUndefined()
    expect(ignored.metadata.finalizers).toBeUndefined()
    expect((await h.list("apps", "deployments", "guacamole"))).toHaveLength(1)
    const watched = (await h.server.requestsSince({ at: 0 })).filter(
      (r) => r.resource === "analyticsworkspacebindings" && (r.verb === "watch" || r.verb === "list"),
    )
    expect(watched.length).toBeGreaterThan(0)
    expect(watched.every((r) => r.namespace === "jupyterhub")).toBe(true)
  })
})
