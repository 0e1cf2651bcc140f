import { describe, expect, test } from "bun:test"
import { Effect } from "effect"
import type { EventRecorder } from "../../src/runtime/events.ts"
import { recordFacts, type Facts } from "../../src/reconciler/facts.ts"
import type { KubeObject } from "../../src/runtime/client.ts"

const recorded = (status: Record<string, unknown> | undefined, facts: Partial<Facts>) => {
  const events: Array<[string, string, string]> = []
  const recorder: EventRecorder = { record: (_b, type, reason, message) => Effect.sync(() => void events.push([type, reason, message])) }
  const binding: KubeObject = { metadata: { name: "b", namespace: "ns", uid: "u" }, ...(status ? { status } : {}) }
  Effect.runSync(
    recordFacts(recorder, binding, {
      expired: false,
      expires: "2099-12-31",
      entityName: "ws1@alice",
      changes: [],
      ...facts,
    }),
  )
  return events
}

describe("one Event per fact", () => {
  test("a new binding: Provisioned, with what was created", () => {
    expect(recorded(undefined, { changes: ["create Guacamole user \"ws1@alice\"", "create Deployment guacamole/d"] })).toEqual([
      ["Normal", "Provisioned", 'create Guacamole user "ws1@alice"; create Deployment guacamole/d'],
    ])
  })

  test("nothing changed: no Event", () => {
    expect(recorded({ statusText: "READY", deploymentName: "d" }, {})).toEqual([])
  })

  test("expiry: Expired once", () => {
    const expired = { expired: true, expires: "2020-01-01" }
    expect(recorded({ statusText: "READY", deploymentName: "d" }, expired)).toEqual([
      ["Normal", "Expired", 'spec.expires (2020-01-01) has passed: the browser is stopped and Guacamole user "ws1@alice" disabled'],
    ])
    expect(recorded({ statusText: "EXPIRED", deploymentName: "d" }, expired)).toEqual([])
  })

  test("an extended expiry: Updated, saying it is READY again", () => {
    expect(recorded({ statusText: "EXPIRED", deploymentName: "d" }, { changes: ["update Guacamole user \"ws1@alice\": disabled true → false"] })).toEqual([
      ["Normal", "Updated", 'EXPIRED → READY; update Guacamole user "ws1@alice": disabled true → false'],
    ])
  })
})
