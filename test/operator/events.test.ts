/**
 * What a user sees of the operator's work: one Event per fact, aggregated on
 * repeats; failures reported according to whose fault they are; one log line
 * per reconcile, none twice.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Effect, Exit, Fiber, Layer, Logger, LogLevel, Redacted, Scope } from "effect"
import { EventReason } from "../../src/reconciler/event-reasons.ts"
import { makeEventRecorder } from "../../src/runtime/events.ts"
import { Bindings, CustomResourceDefinitions } from "../../src/runtime/resources.ts"
import { runOperator } from "../../src/operator.ts"
import { testWithRealPostgres } from "../support/postgres.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, patchReplicasAsKeycloak, settled, startHarness, type Harness } from "../support/operator.ts"
import { waitFor } from "../support/wait.ts"

setDefaultTimeout(60_000)

let h: Harness
const logs: string[] = []
const spec = (workspace: string, username: string) => ({ workspace, username, expires: "2099-12-31" })
const eventsOf = (name: string) =>
  h.api.list("", "events", BINDING_NAMESPACE).filter((e: any) => e.involvedObject?.name === name)
const logLines = () => logs.map((l) => JSON.parse(l) as Record<string, any>)
const metricsText = async () => (await fetch(`${h.operator().http.url}/metrics`)).text()

beforeAll(async () => {
  h = await startHarness({ logs })
})
afterAll(async () => {
  await h?.close()
})

describe("Events", () => {
  test("an invalid spec gives one Warning Event, InvalidSpec, not a second one saying the same", async () => {
    await h.createBinding("no-user", {
      workspace: "ws1",
      claims: [{ name: "group", operator: "EQUALS", value: "researchers" }],
      expires: "2099-12-31",
    })
    await h.waitForStatus("no-user", "ERROR")
    await settled(h)
    const warnings = eventsOf("no-user").filter((e: any) => e.type === "Warning")
    expect(warnings.map((e: any) => e.reason)).toEqual([EventReason.InvalidSpec])
    expect(warnings[0].count).toBe(1)
  })

  test("a sign-in's scale-up records no Event of its own: the browser's BrowserReady says when it runs", async () => {
    await h.createBinding("scaler", spec("ws1", "scaler"))
    await h.waitForStatus("scaler", "READY")
    await settled(h)
    await patchReplicasAsKeycloak(h, "scaler", 1)
    const deploymentName = (await h.binding("scaler"))!.status.deploymentName
    await waitFor(async () => (await h.get("apps", "deployments", GUACAMOLE_NAMESPACE, deploymentName))?.spec?.replicas === 1, {
      message: "the Deployment scaled to 1",
    })
    await settled(h)
    // On the real cluster the pod comes up and BrowserReady follows; on the emulator (no pods) nothing.
    const reasons = eventsOf("scaler").map((e: any) => e.reason)
    expect(reasons.filter((r: string) => r !== EventReason.BrowserReady)).toEqual([EventReason.Provisioned])
  })

  test("the same Event again increments count and lastTimestamp of the first instead of making another", async () => {
    const binding = (await h.binding("scaler"))!
    let now = Date.parse("2030-01-01T00:00:00Z")
    const recorder = makeEventRecorder(h.kube, { component: "test", instance: "test" })
    const record = (message: string) =>
      Effect.runPromise(
        recorder.record(binding, "Warning", EventReason.Retrying, message).pipe(
          Effect.withClock({ ...Effect.runSync(Effect.clock), currentTimeMillis: Effect.sync(() => now), unsafeCurrentTimeMillis: () => now } as any),
        ),
      )
    const retrying = () => eventsOf("scaler").filter((e: any) => e.reason === EventReason.Retrying)
    await record("the database is restarting")
    now += 5_000
    await record("the database is restarting")
    now += 5_000
    await record("the database is restarting")
    await record("another message")
    const events = retrying()
    expect(events).toHaveLength(2)
    const repeated = events.find((e: any) => e.message === "the database is restarting")
    expect(repeated.count).toBe(3)
    expect(repeated.firstTimestamp).toBe("2030-01-01T00:00:00Z")
    expect(repeated.lastTimestamp).toBe("2030-01-01T00:00:10Z")
  })

  test("beyond the Events it remembers, it forgets the least recently recorded: memory stays bounded, recent repeats still aggregate", async () => {
    const binding = (await h.binding("scaler"))!
    let now = Date.parse("2031-01-01T00:00:00Z")
    const recorder = makeEventRecorder(h.kube, { component: "test", instance: "test", maxTracked: 2 })
    const record = (message: string) =>
      Effect.runPromise(
        recorder.record(binding, "Warning", EventReason.Retrying, message).pipe(
          Effect.withClock({ ...Effect.runSync(Effect.clock), currentTimeMillis: Effect.sync(() => now), unsafeCurrentTimeMillis: () => now } as any),
        ),
      )
    const of = (message: string) =>
      eventsOf("scaler")
        .filter((e: any) => e.reason === EventReason.Retrying && e.message === message)
        .map((e: any) => e.count)
    for (const message of ["first", "second", "first", "third", "fourth", "third"]) {
      await record(message)
      now += 1_000
    }
    // "first" was repeated while remembered; "second" fell out behind it, then "first" behind "third" and "fourth".
    expect(of("first")).toEqual([2])
    expect(of("third")).toEqual([2])
    expect(of("fourth")).toEqual([1])
    await record("second")
    await record("first")
    expect(of("second").sort()).toEqual([1, 1])
    expect(of("first").sort()).toEqual([1, 2])
  })

  test("a case-only username clash is a Conflict on the second binding, once, in words without internal prefixes", async () => {
    await h.createBinding("ivan", spec("ws6", "ivan@example.org"))
    await h.waitForStatus("ivan", "READY")
    await h.createBinding("ivan-upper", spec("ws6", "Ivan@example.org"))
    const b = await h.waitForStatus("ivan-upper", "ERROR")
    expect(b.status.message).not.toMatch(/^(plan|ensure) /)
    expect(b.status.message).toContain("only by letter case")
    // Retried meanwhile: still one Event.
    await waitFor(() => h.api.requests.count({ verb: "patch", resource: "analyticsworkspacebindings", name: "ivan-upper" }) >= 1)
    await Bun.sleep(0)
    const warnings = eventsOf("ivan-upper").filter((e: any) => e.type === "Warning")
    expect(warnings.map((e: any) => [e.reason, e.count])).toEqual([[EventReason.Conflict, 1]])
    expect(warnings[0].message).toBe(b.status.message)
  })
})

describe("races with deletion", () => {
  test("a 404 on an object deleted meanwhile is not an error: no ERROR line, not in reconcile_errors_total", async () => {
    h.api.faults.failNext({ verb: "patch", resource: "analyticsworkspacebindings", subresource: "status", name: "racer" }, { code: 404 })
    await h.createBinding("racer", spec("ws1", "racer"))
    await h.waitForStatus("racer", "READY")
    await settled(h)
    const failed = logLines().filter((l) => l.annotations?.key === `${BINDING_NAMESPACE}/racer` && l.logLevel === "ERROR")
    expect(failed).toEqual([])
    expect(await metricsText()).not.toContain('error="KubeNotFound"')
    expect(eventsOf("racer").filter((e: any) => e.type === "Warning")).toEqual([])
  })
})

describe("logs", () => {
  test("a deleted binding is released once: one line for it, not two", async () => {
    await h.createBinding("leaver", spec("ws1", "leaver"))
    await h.waitForStatus("leaver", "READY")
    await settled(h)
    await Effect.runPromise(h.kube.delete(Bindings, BINDING_NAMESPACE, "leaver"))
    await waitFor(async () => !(await h.binding("leaver")), { message: "leaver to be gone" })
    await settled(h)
    const released = logLines().filter((l) => String(l.message).includes("released the binding") && l.annotations?.binding === `${BINDING_NAMESPACE}/leaver`)
    expect(released).toHaveLength(1)
    const revoked = eventsOf("leaver").filter((e: any) => e.reason === EventReason.Revoked)
    expect(revoked).toHaveLength(1)
  })
})

describe("problems of the installation", () => {
  test("a missing Guacamole table: bindings keep their status, /readyz says why and what to do, one ERROR line", async () => {
    for (let i = 0; i < 5; i++) await h.createBinding(`inst-${i}`, spec("ws-inst", `user${i}`))
    for (let i = 0; i < 5; i++) await h.waitForStatus(`inst-${i}`, "READY")
    await settled(h)
    const before = logs.length
    await h.db.sql.unsafe("ALTER TABLE guacamole_connection_parameter RENAME TO moved_away")
    try {
      h.operator().controller.resync()
      const readyz = await waitFor(
        async () => {
          const res = await fetch(`${h.operator().http.url}/readyz`)
          return res.status === 503 ? res.text() : undefined
        },
        { message: "/readyz to fail" },
      )
      expect(readyz).toContain("the Guacamole schema is missing")
      expect(readyz).toContain("remedy:")
      await waitFor(() => logs.slice(before).filter((l) => l.includes('"logLevel":"DEBUG"') && l.includes("reconcile failed")).length >= 4, {
        message: "every binding to have failed once",
      })
      const errors = logs.slice(before).map((l) => JSON.parse(l)).filter((l) => l.logLevel === "ERROR")
      expect(errors).toHaveLength(1)
      expect(errors[0].message).toContain("remedy:")
      for (let i = 0; i < 5; i++) expect((await h.binding(`inst-${i}`))!.status.statusText).toBe("READY")
      expect(eventsOf("inst-0").filter((e: any) => e.type === "Warning")).toEqual([])
    } finally {
      await h.db.sql.unsafe("ALTER TABLE moved_away RENAME TO guacamole_connection_parameter")
    }
    h.operator().controller.resync()
    await waitFor(async () => (await fetch(`${h.operator().http.url}/readyz`)).status === 200, { timeoutMs: 20_000, message: "/readyz to recover" })
  })
})

describe("a wrong database password", () => {
  // PGlite takes any password: only a real server refuses one.
  testWithRealPostgres("is the installation's problem: no binding flips to ERROR, /readyz and one ERROR line say what to do", async () => {
    for (let i = 0; i < 3; i++) await h.createBinding(`pw-${i}`, spec("ws-pw", `user${i}`))
    for (let i = 0; i < 3; i++) await h.waitForStatus(`pw-${i}`, "READY")
    await settled(h)
    const ready = h.api.list(Bindings.group, Bindings.plural, BINDING_NAMESPACE).filter((b: any) => b.status?.statusText === "READY")
    const warningsBefore = h.api.list("", "events", BINDING_NAMESPACE).filter((e: any) => e.type === "Warning").length
    await h.stopOperator()
    const lines: string[] = []
    const logging = Layer.merge(
      Logger.replace(Logger.defaultLogger, Logger.map(Logger.jsonLogger, (line) => void lines.push(line))),
      Logger.minimumLogLevel(LogLevel.All),
    )
    const scope = Effect.runSync(Scope.make())
    try {
      const wrong = { ...h.config, db: { ...h.config.db, password: Redacted.make("not-the-password") } }
      const operator = await Effect.runPromise(
        Scope.extend(runOperator(wrong, { kubeConfig: h.kc }), scope).pipe(Effect.provide(logging)),
      )
      const readyz = await waitFor(
        async () => {
          const res = await fetch(`${operator.http.url}/readyz`)
          const text = await res.text()
          return res.status === 503 && text.includes("credentials") ? text : undefined
        },
        { message: "/readyz to name the refused credentials" },
      )
      expect(readyz).toContain("remedy:")
      expect(readyz).toContain("DB_PASS")
      // Every binding has been tried (and failed) at least once.
      await waitFor(() => new Set(lines.map((l) => JSON.parse(l).annotations?.key).filter(Boolean)).size >= ready.length, {
        message: "every binding to be tried",
      })
      const errors = lines.map((l) => JSON.parse(l)).filter((l) => l.logLevel === "ERROR")
      expect(errors.map((e) => e.message)).toHaveLength(1)
      expect(errors[0].message).toContain("credentials")
      expect(lines.join("\n")).not.toContain("not-the-password")
      for (const b of ready) expect((await h.binding(b.metadata.name))!.status.statusText).toBe("READY")
      expect(h.api.list("", "events", BINDING_NAMESPACE).filter((e: any) => e.type === "Warning")).toHaveLength(warningsBefore)
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })
})

describe("the CRD missing", () => {
  test("/readyz names it and check's remedy while the caches cannot fill, and one ERROR line says so", async () => {
    const bare = await startHarness({ start: false })
    const scope = Effect.runSync(Scope.make())
    let running: Fiber.RuntimeFiber<unknown, unknown> | undefined
    try {
      await Effect.runPromise(bare.kube.delete(CustomResourceDefinitions, undefined, `${Bindings.plural}.${Bindings.group}`))
      // A free port, known before the operator starts (its handle only comes once the caches are full).
      const probe = Bun.serve({ port: 0, fetch: () => new Response() })
      const port = probe.port!
      probe.stop(true)
      const lines: string[] = []
      const logging = Layer.merge(
        Logger.replace(Logger.defaultLogger, Logger.map(Logger.jsonLogger, (line) => void lines.push(line))),
        Logger.minimumLogLevel(LogLevel.All),
      )
      running = Effect.runFork(
        Scope.extend(runOperator({ ...bare.config, httpPort: port }, { kubeConfig: bare.kc }), scope).pipe(Effect.provide(logging)),
      )
      const readyz = await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined)
          const text = await res?.text()
          return res?.status === 503 && text?.includes("CRD") ? text : undefined
        },
        { message: "/readyz to name the missing CRD" },
      )
      expect(readyz).toContain("remedy: kubectl apply -f deploy/crd-analyticsworkspacebindings.yaml")
      const errors = lines.map((l) => JSON.parse(l)).filter((l) => l.logLevel === "ERROR")
      expect(errors.map((e) => e.message)).toEqual([expect.stringContaining("CRD")])
    } finally {
      if (running) await Effect.runPromise(Fiber.interrupt(running))
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await bare.close()
    }
  })
})
