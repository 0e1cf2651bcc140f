/**
 * The binding's status: merge-patched with the fields that differ, limited
 * to those the installed CRD declares (./status-fields.ts). Events are the
 * callers': one per fact, not one per status change.
 */
import { Effect } from "effect"
import { KubeClient, type KubeObject } from "../runtime/client.ts"
import { Bindings } from "../runtime/resources.ts"
import { ReconcilerSettings } from "./deps.ts"

export type StatusText = "PROVISIONING" | "READY" | "EXPIRED" | "ERROR"

export interface StatusUpdate {
  readonly deploymentName?: string
  readonly replicas?: number
  /** Browser pods ready (the printer column "Ready"); written only where the CRD declares it. */
  readonly readyReplicas?: number
  readonly message?: string
}

/** The status fields of `raw` that `update` changes (a message not given is cleared); empty when none. */
const statusPatch = (
  raw: KubeObject,
  statusText: StatusText,
  update: StatusUpdate,
  has: (field: string) => boolean,
): Record<string, unknown> => {
  const current = (raw.status ?? {}) as Record<string, unknown>
  const patch: Record<string, unknown> = {}
  for (const [field, value] of Object.entries({ statusText, ...update })) {
    if (value !== undefined && has(field) && current[field] !== value) patch[field] = value
  }
  if (update.message === undefined && current.message !== undefined && has("message")) patch.message = null
  return patch
}

export const writeStatus = (raw: KubeObject, statusText: StatusText, update: StatusUpdate) =>
  Effect.gen(function* () {
    const { statusFields } = yield* ReconcilerSettings
    const patch = statusPatch(raw, statusText, update, statusFields.has)
    if (Object.keys(patch).length === 0) return
    yield* (yield* KubeClient).patch(Bindings, raw.metadata.namespace, raw.metadata.name, { type: "merge", body: { status: patch } }, "status")
  })

/** Whether the binding already says ERROR with this message (then neither the status nor the Event is written again). */
export const showsError = (raw: KubeObject, message: string, has: (field: string) => boolean): boolean =>
  raw.status?.statusText === "ERROR" && (!has("message") || raw.status?.message === message)
