import { describe, expect, test } from "bun:test"
import { Option } from "effect"
import { classifyFailure, makeInstallationHealth, userMessage } from "../../src/reconciler/classify.ts"
import { classifyError, GuacamoleConflictError, GuacamoleUnavailable } from "../../src/guacamole/errors.ts"
import { fromStatus, KubeTransient } from "../../src/runtime/errors.ts"

/** What postgres.js throws for a server error. */
const postgresError = (code: string) => Object.assign(new Error("server said no"), { name: "PostgresError", code })

describe("whose fault a failure is", () => {
  test("a refused database password is the installation's, with check's remedy, not the binding's", () => {
    const fault = classifyFailure(classifyError(postgresError("28P01"), "plan ws1@alice"))
    expect(fault.kind).toBe("installation")
    if (fault.kind !== "installation") return
    expect(fault.problem).toContain("credentials")
    expect(fault.remedy).toContain("DB_PASS")
    expect(fault.remedy).toContain("check")
  })

  test("RBAC forbidding a call and a missing CRD are the installation's", () => {
    expect(classifyFailure(fromStatus(403, { message: 'secrets is forbidden: User "x" cannot create' })).kind).toBe("installation")
    const crd = classifyFailure(fromStatus(404, { message: "the server could not find the requested resource" }))
    expect(crd.kind).toBe("installation")
    if (crd.kind === "installation") expect(crd.remedy).toContain("crd-analyticsworkspacebindings.yaml")
  })

  test("an object deleted meanwhile (404) and a stale write (409) are races, not errors", () => {
    expect(classifyFailure(fromStatus(404, { message: 'deployments.apps "d" not found' })).kind).toBe("race")
    expect(classifyFailure(fromStatus(409, { message: "the object has been modified" })).kind).toBe("race")
  })

  test("an unreachable database and a 503 are transient; a case-only clash is the binding's Conflict", () => {
    expect(classifyFailure(new GuacamoleUnavailable({ message: "x", operation: "ping", code: "ECONNREFUSED" })).kind).toBe("transient")
    expect(classifyFailure(new KubeTransient({ code: 503, message: "unavailable", retryAfter: Option.none() })).kind).toBe("transient")
    const clash = new GuacamoleConflictError({
      message: 'plan ws6@Ivan: Guacamole user "ws6@ivan" already exists and differs only by letter case',
      operation: "plan ws6@Ivan",
      requested: "ws6@Ivan",
      existing: "ws6@ivan",
    })
    expect(classifyFailure(clash)).toEqual({
      kind: "binding",
      reason: "Conflict",
      message: 'Guacamole user "ws6@ivan" already exists and differs only by letter case',
    })
    expect(userMessage(clash)).not.toContain("plan ")
  })
})

describe("the installation's health", () => {
  test("one log line a minute for one problem, however many bindings meet it; cleared by a success", () => {
    const health = makeInstallationHealth()
    const problem = { problem: "the database refused the credentials", remedy: "set DB_PASS" }
    const logged = Array.from({ length: 100 }, (_, i) => health.report(problem, `ns/b${i}`, 1000 + i)).filter(Boolean)
    expect(logged).toHaveLength(1)
    expect(health.affected()).toBe(100)
    expect(health.current()).toBe("the database refused the credentials — remedy: set DB_PASS")
    expect(health.report(problem, "ns/b0", 1000 + 60_000)).toBe(true)
    health.clear()
    expect(health.current()).toBeUndefined()
    // A problem that comes back within the minute after a success is not logged again.
    expect(health.report(problem, "ns/b0", 1000 + 60_000 + 5)).toBe(false)
    expect(health.current()).toContain("DB_PASS")
    expect(health.report({ problem: "another", remedy: "x" }, "ns/b0", 1000 + 60_000 + 6)).toBe(true)
  })
})
