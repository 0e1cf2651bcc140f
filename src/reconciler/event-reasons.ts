/**
 * The reasons of the Events the operator records on bindings: a short list a
 * user can filter on (`kubectl get events --field-selector reason=Conflict`).
 * Every Event the operator records uses one of these constants; the README's
 * Troubleshooting section is rendered from `eventReasons` (scripts/readme.ts).
 *
 * One Event per fact: a reason names what happened, its message the details.
 */

export const EventReason = {
  /** The binding's Guacamole access and browser objects were created: it is READY. */
  Provisioned: "Provisioned",
  /** Something that differed from the binding was put right (Guacamole rows, a recreated object, a restored expiry). */
  Updated: "Updated",
  /** The browser is running and ready (its Deployment has every replica ready). */
  BrowserReady: "BrowserReady",
  /** The browser has stopped (no replica runs). */
  BrowserStopped: "BrowserStopped",
  /** The idle culler stopped a browser nobody had used for BROWSER_IDLE_TIMEOUT. */
  BrowserIdle: "BrowserIdle",
  /** The idle culler stopped a browser that had run for BROWSER_MAX_AGE. */
  BrowserMaxAge: "BrowserMaxAge",
  /** `spec.replicas` asked for more browsers than a researcher has (one). */
  ReplicasLimited: "ReplicasLimited",
  /** `spec.expires` has passed: the browser is stopped and the Guacamole user disabled. */
  Expired: "Expired",
  /** Guacamole access was removed: the binding was deleted, or now names another workspace or user. */
  Revoked: "Revoked",
  /** The binding's spec cannot be served as written. */
  InvalidSpec: "InvalidSpec",
  /** Another binding, a Guacamole user, or an object the operator did not make, already holds this binding's workspace and user or its browser's name. */
  Conflict: "Conflict",
  /** The API server, or the Guacamole database, refused a write made for this binding. */
  Rejected: "Rejected",
  /** A transient failure (the database or the API server); retried with backoff. */
  Retrying: "Retrying",
} as const

export type EventReason = (typeof EventReason)[keyof typeof EventReason]

export interface EventReasonDoc {
  readonly reason: EventReason
  readonly type: "Normal" | "Warning"
  readonly meaning: string
  readonly action: string
}

/** What each reason means and what to do about it (rendered into the README). */
export const eventReasons: ReadonlyArray<EventReasonDoc> = [
  {
    reason: EventReason.Provisioned,
    type: "Normal",
    meaning: "The Guacamole user, connection and permissions and the browser's Deployment, Service and Secret were created; the binding is READY.",
    action: "Nothing.",
  },
  {
    reason: EventReason.Updated,
    type: "Normal",
    meaning: "Something differed from what the binding asks (a Guacamole row changed by hand, a deleted object, an extended expiry) and was put right; the message lists what.",
    action: "Nothing; if it recurs, find who changes the rows or objects.",
  },
  {
    reason: EventReason.BrowserReady,
    type: "Normal",
    meaning: "The browser runs and is ready to be opened from Guacamole.",
    action: "Nothing.",
  },
  {
    reason: EventReason.BrowserStopped,
    type: "Normal",
    meaning: "No browser replica runs any more.",
    action: "Nothing; scale the binding to 1 to start it.",
  },
  {
    reason: EventReason.BrowserIdle,
    type: "Normal",
    meaning: "The browser was stopped (the binding scaled to 0) because no Guacamole connection used it for `BROWSER_IDLE_TIMEOUT`.",
    action: "Nothing; signing in again starts it.",
  },
  {
    reason: EventReason.BrowserMaxAge,
    type: "Normal",
    meaning: "The browser was stopped (the binding scaled to 0) after running for `BROWSER_MAX_AGE`.",
    action: "Nothing; signing in again starts a fresh one.",
  },
  {
    reason: EventReason.ReplicasLimited,
    type: "Warning",
    meaning: "`spec.replicas` is above 1; a researcher has one browser, so one runs.",
    action: "Set `spec.replicas` to 0 or 1 (whatever sets it, e.g. the sign-in flow, is misconfigured).",
  },
  {
    reason: EventReason.Expired,
    type: "Normal",
    meaning: "`spec.expires` has passed: the browser is scaled to 0 and the Guacamole user disabled; the binding is EXPIRED.",
    action: "Extend `spec.expires` to restore access, or delete the binding.",
  },
  {
    reason: EventReason.Revoked,
    type: "Normal",
    meaning: "The Guacamole access was removed: the binding is being deleted, or it now names another workspace or user.",
    action: "Nothing.",
  },
  {
    reason: EventReason.InvalidSpec,
    type: "Warning",
    meaning: "The spec cannot be served as written (no `username`, an invalid date, a name too long for Guacamole); the message names the field. The binding is ERROR.",
    action: "Correct the binding; it is looked at again as soon as it changes.",
  },
  {
    reason: EventReason.Conflict,
    type: "Warning",
    meaning:
      "Another binding, or a Guacamole user differing only by letter case, already holds this workspace and user; or a Deployment, Service or Secret of the browser's name exists that the operator did not make (it lacks the label `xlscsde.nhs.uk/purpose=workspace-client`). The binding is ERROR.",
    action:
      "Delete one of the two bindings, or change this one's `username`; it is served once the other lets go. An object the operator did not make is left alone: rename or remove it, and the binding is served.",
  },
  {
    reason: EventReason.Rejected,
    type: "Warning",
    meaning: "The API server or the Guacamole database refused a write made for this binding (the message says why). The binding is ERROR.",
    action: "Read the message: usually an admission policy or a quota in the Guacamole namespace, or a value too long for a Guacamole column.",
  },
  {
    reason: EventReason.Retrying,
    type: "Warning",
    meaning: "The database or the API server failed for a moment; the operator retries with backoff. The binding keeps its status.",
    action: "Nothing, unless the count keeps growing: then see `/readyz` and `check`.",
  },
]
