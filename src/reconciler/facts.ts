/**
 * The Events of a reconcile that went through, one per fact: the binding was
 * provisioned, updated (something put right), or it expired. What changed
 * goes in the message, not in more Events. A scale that follows spec.replicas
 * is no fact of the operator's: the browser's own Events (BrowserReady,
 * BrowserStopped) tell when the pod has followed it, and Keycloak's sign-in
 * costs the one Deployment patch.
 */
import { Effect } from "effect"
import type { KubeObject } from "../runtime/client.ts"
import { EventReason } from "./event-reasons.ts"
import type { EventRecorder } from "../runtime/events.ts"

export interface Facts {
  readonly expired: boolean
  readonly expires: string | null
  readonly entityName: string
  /** What this reconcile created or corrected, in Guacamole and in the cluster. */
  readonly changes: ReadonlyArray<string>
}

/** One Event per fact of a reconcile that went through: provisioned, updated, expired. */
export const recordFacts = (events: EventRecorder, binding: KubeObject, facts: Facts): Effect.Effect<void> =>
  Effect.gen(function* () {
    const before = String(binding.status?.statusText ?? "PROVISIONING")
    const changes = facts.changes.join("; ")
    if (facts.expired) {
      if (before !== "EXPIRED") {
        yield* events.record(
          binding,
          "Normal",
          EventReason.Expired,
          `spec.expires (${facts.expires}) has passed: the browser is stopped and Guacamole user "${facts.entityName}" disabled`,
        )
      }
      return
    }
    const firstTime = before !== "READY" && before !== "EXPIRED" && !binding.status?.deploymentName
    if (firstTime) {
      yield* events.record(binding, "Normal", EventReason.Provisioned, changes === "" ? "READY" : changes)
    } else if (changes !== "" || before !== "READY") {
      yield* events.record(
        binding,
        "Normal",
        EventReason.Updated,
        [before !== "READY" ? `${before} → READY` : "", changes].filter((s) => s !== "").join("; "),
      )
    }
  })
