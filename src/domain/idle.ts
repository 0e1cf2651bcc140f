/**
 * Whether a running browser should be stopped: the idle culler's decision,
 * pure. Times are wall-clock milliseconds.
 *
 * A browser is in use while Guacamole has a connection open to it, and
 * during the grace period after it was started (the researcher's first
 * connection takes time). Past the idle timeout without either, it is
 * stopped; past the maximum age it is stopped even in use.
 */
import { Duration } from "effect"

export interface IdlePolicy {
  readonly timeout: Duration.Duration | undefined
  readonly gracePeriod: Duration.Duration
  readonly maxAge: Duration.Duration | undefined
}

export interface BrowserActivity {
  /** When the browser was started (or first seen running by this process). */
  readonly startedAt: number
  /** The last check that found it in use, if any. */
  readonly lastActiveAt: number | undefined
  /** Whether a connection is open now. */
  readonly inUse: boolean
}

export type IdleDecision =
  | { readonly _tag: "InUse" }
  | { readonly _tag: "Keep" }
  | { readonly _tag: "StopIdle"; readonly idleFor: Duration.Duration }
  | { readonly _tag: "StopMaxAge"; readonly age: Duration.Duration }

export const decideIdle = (policy: IdlePolicy, browser: BrowserActivity, now: number): IdleDecision => {
  const age = now - browser.startedAt
  if (policy.maxAge !== undefined && age >= Duration.toMillis(policy.maxAge)) {
    return { _tag: "StopMaxAge", age: Duration.millis(age) }
  }
  if (browser.inUse) return { _tag: "InUse" }
  if (policy.timeout === undefined) return { _tag: "Keep" }
  const lastInUse = Math.max(browser.lastActiveAt ?? -Infinity, browser.startedAt + Duration.toMillis(policy.gracePeriod))
  const idleFor = now - lastInUse
  return idleFor >= Duration.toMillis(policy.timeout) ? { _tag: "StopIdle", idleFor: Duration.millis(idleFor) } : { _tag: "Keep" }
}
