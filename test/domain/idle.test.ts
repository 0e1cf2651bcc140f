import { describe, expect, test } from "bun:test"
import { Duration } from "effect"
import { decideIdle, type IdlePolicy } from "../../src/domain/idle.ts"

const MIN = 60_000
const policy: IdlePolicy = { timeout: Duration.minutes(30), gracePeriod: Duration.minutes(10), maxAge: Duration.hours(12) }
const tag = (p: IdlePolicy, startedAt: number, lastActiveAt: number | undefined, inUse: boolean, now: number) =>
  decideIdle(p, { startedAt, lastActiveAt, inUse }, now)._tag

describe("decideIdle", () => {
  test("a connected browser is in use; one never connected is stopped only after grace period plus timeout", () => {
    expect(tag(policy, 0, undefined, true, 20 * MIN)).toBe("InUse")
    expect(tag(policy, 0, undefined, false, 39 * MIN)).toBe("Keep")
    expect(tag(policy, 0, undefined, false, 40 * MIN)).toBe("StopIdle")
  })

  test("the timeout counts from the last check that found it in use", () => {
    expect(tag(policy, 0, 60 * MIN, false, 89 * MIN)).toBe("Keep")
    expect(tag(policy, 0, 60 * MIN, false, 90 * MIN)).toBe("StopIdle")
  })

  test("activity from before this start does not shorten its grace period", () => {
    expect(tag(policy, 100 * MIN, 50 * MIN, false, 139 * MIN)).toBe("Keep")
  })

  test("past the maximum age it is stopped even in use; without a timeout only the age stops it", () => {
    expect(tag(policy, 0, 12 * 60 * MIN, true, 12 * 60 * MIN)).toBe("StopMaxAge")
    const ageOnly = { ...policy, timeout: undefined }
    expect(tag(ageOnly, 0, undefined, false, 11 * 60 * MIN)).toBe("Keep")
    expect(tag(ageOnly, 0, undefined, false, 12 * 60 * MIN)).toBe("StopMaxAge")
  })
})
