/**
 * Whose fault a failed reconcile is, which decides what a user sees:
 *
 * - the binding's (its spec, or a clash with another binding): ERROR on that
 *   binding, with one Event, until the binding (or what it clashes with) changes;
 * - the installation's (database credentials refused, RBAC forbidding a call,
 *   the CRD or the Guacamole schema missing): nothing is wrong with any one
 *   binding, so none of them is touched; `/readyz` fails with the reason and
 *   the remedy `check` would give, and it is logged once a minute;
 * - transient (the database or the API server failing for a moment): a
 *   `Retrying` Event, retried with backoff;
 * - a race with a deletion (404 on an object deleted meanwhile), or with
 *   another writer (409): not an error at all; the key is looked at again.
 *
 * Messages are for people: no internal operation names (`plan ws@alice: …`).
 *
 * `classifyFailure` decides; `errorPolicy` acts on it in one place: the log
 * line, the status, the Event and what `/readyz` says.
 */
import { splitBindingKey } from "../domain/binding.ts"
import { Clock, Duration, Effect } from "effect"
import type { GuacamoleError } from "../guacamole/errors.ts"
import type { ErrorPolicy } from "../runtime/controller.ts"
import { retryAfterOf } from "../runtime/controller.ts"
import type { KubeError } from "../runtime/errors.ts"
import { Caches, Installation, ReconcilerSettings, Recorder } from "./deps.ts"
import { EventReason } from "./event-reasons.ts"
import { showsError, writeStatus } from "./status.ts"
import type { KubeClient } from "../runtime/client.ts"

/** The error a reconcile fails with (structurally: the binding problem class lives in access.ts). */
export type Failure = KubeError | GuacamoleError | { readonly _tag: "BindingProblem"; readonly reason: string; readonly message: string }

export type Fault =
  | { readonly kind: "binding"; readonly reason: EventReason; readonly message: string }
  | { readonly kind: "installation"; readonly problem: string; readonly remedy: string }
  | { readonly kind: "transient"; readonly message: string }
  | { readonly kind: "race"; readonly message: string }

const CHECK = "run `awms-guacamole-operator check` with the operator's settings for details"

/** The error's message without the `operation: ` prefix the database layer puts on it. */
export const userMessage = (error: Failure): string => {
  const operation = "operation" in error ? error.operation : undefined
  return operation && error.message.startsWith(`${operation}: `) ? error.message.slice(operation.length + 2) : error.message
}

const databaseInstallation: Record<string, { problem: string; remedy: string }> = {
  "28P01": {
    problem: "the Guacamole database refused the operator's credentials",
    remedy: "set DB_USER and DB_PASS (the Secret awms-guacamole-operator-db) to a role of the Guacamole database",
  },
  "28000": {
    problem: "the Guacamole database refused the operator's connection (pg_hba or DB_USER)",
    remedy: "allow DB_USER to connect from the operator's pod in pg_hba.conf, or correct DB_USER",
  },
  "3D000": { problem: "the Guacamole database does not exist", remedy: "set DB_NAME to Guacamole's database" },
  "42501": {
    problem: "the Guacamole database denies the operator a table it needs",
    remedy: "grant DB_USER SELECT, INSERT, UPDATE and DELETE on the Guacamole tables",
  },
}
const schemaInstallation = {
  problem: "the Guacamole schema is missing from the database",
  remedy: "install Guacamole's schema (initdb.sql of guacamole-auth-jdbc-postgresql) in DB_NAME, or correct DB_NAME",
}

/** SQLSTATE classes of a value the binding supplied (too long, out of range, violating a constraint). */
const isDataError = (code: string | undefined) => code !== undefined && (code.startsWith("22") || code.startsWith("23"))

export const classifyFailure = (error: Failure): Fault => {
  const message = userMessage(error)
  switch (error._tag) {
    case "BindingProblem":
      return {
        kind: "binding",
        reason: error.reason === "AlreadyBound" || error.reason === "NotOurs" ? EventReason.Conflict : EventReason.InvalidSpec,
        message,
      }
    case "GuacamoleConflictError":
    case "GuacamoleHeldError":
      return { kind: "binding", reason: EventReason.Conflict, message }
    case "GuacamoleUnavailable":
      return { kind: "transient", message }
    case "GuacamoleSchemaError":
      return { kind: "installation", ...schemaInstallation, remedy: `${schemaInstallation.remedy}; ${CHECK}` }
    case "GuacamoleQueryError": {
      if (isDataError(error.code)) return { kind: "binding", reason: EventReason.Rejected, message: `the Guacamole database refused it: ${message}` }
      const known = error.code === "42P01" || error.code === "42703" || error.code === "42704"
        ? schemaInstallation
        : error.code !== undefined ? databaseInstallation[error.code] : undefined
      const what = known ?? {
        problem: /authentication/i.test(message)
          ? "the Guacamole database refused the operator's credentials"
          : `the Guacamole database refused the operator: ${message}`,
        remedy: "check DB_HOST, DB_USER, DB_PASS and DB_SSLMODE",
      }
      return { kind: "installation", problem: what.problem, remedy: `${what.remedy}; ${CHECK}` }
    }
    case "KubeForbidden":
      return {
        kind: "installation",
        problem: `the operator's service account may not do what it needs (RBAC): ${message}`,
        remedy: `grant it the permissions of deploy/rbac.yaml (kubectl apply -f deploy/rbac.yaml); ${CHECK}`,
      }
    case "KubeNotFound":
      // A resource type the server does not serve (no CRD) rather than one object gone.
      return /could not find the requested resource|page not found/i.test(message)
        ? {
            kind: "installation",
            problem: "the API server does not serve AnalyticsWorkspaceBindings (is the CRD installed?)",
            remedy: `kubectl apply -f deploy/crd-analyticsworkspacebindings.yaml; ${CHECK}`,
          }
        : { kind: "race", message }
    case "KubeConflict":
      return { kind: "race", message }
    case "KubeInvalid":
      return { kind: "binding", reason: EventReason.Rejected, message: `the API server refused a write: ${message}` }
    case "KubeGone":
    case "KubeTransient":
      return { kind: "transient", message }
  }
}

// ---------------------------------------------------------------------------
// The installation's health

export interface InstallationProblem {
  readonly problem: string
  readonly remedy: string
}

export interface InstallationHealth {
  /** Notes a problem; returns true when it should be logged now (a new problem, or a minute since the last line). */
  readonly report: (problem: InstallationProblem, key: string, now: number) => boolean
  /** A reconcile went through: the problem, if any, is over. */
  readonly clear: () => void
  /** What `/readyz` says while there is a problem. */
  readonly current: () => string | undefined
  /** Bindings that failed on the current problem (for the log line). */
  readonly affected: () => number
}

const LOG_EVERY_MS = 60_000

export const makeInstallationHealth = (logEveryMs = LOG_EVERY_MS): InstallationHealth => {
  let current: InstallationProblem | undefined
  // What was last logged and when: kept across a clear, so a problem that comes and goes is still logged once a minute.
  let logged: { problem: string; at: number } | undefined
  const keys = new Set<string>()
  return {
    report: (problem, key, now) => {
      if (current?.problem !== problem.problem) keys.clear()
      current = problem
      keys.add(key)
      if (logged?.problem === problem.problem && now - logged.at < logEveryMs) return false
      logged = { problem: problem.problem, at: now }
      return true
    },
    clear: () => {
      current = undefined
      keys.clear()
    },
    current: () => (current ? `${current.problem} — remedy: ${current.remedy}` : undefined),
    affected: () => keys.size,
  }
}

// ---------------------------------------------------------------------------
// The error policy

/** What the binding shows for a failure that is its own, or transient; installation problems and races touch no binding. */
const reportOnBinding = (key: string, fault: Fault) =>
  Effect.gen(function* () {
    if (fault.kind !== "binding" && fault.kind !== "transient") return
    const [namespace, name] = splitBindingKey(key)
    const raw = (yield* Caches).bindings.get(namespace, name)
    if (!raw || raw.metadata.deletionTimestamp) return
    const recorder = yield* Recorder
    if (fault.kind === "transient") return yield* recorder.record(raw, "Warning", EventReason.Retrying, fault.message)
    // Once: the status says ERROR with this message, and one Event says why, until either changes.
    if (showsError(raw, fault.message, (yield* ReconcilerSettings).statusFields.has)) return
    yield* writeStatus(raw, "ERROR", { message: fault.message })
    yield* recorder.record(raw, "Warning", fault.reason, fault.message)
  }).pipe(Effect.catchAll((e) => Effect.logWarning(`could not report the failure on ${key}: ${e.message}`)))

/** Notes a problem of the installation; logs it (ERROR: a person must act) once a minute, not once per binding. */
export const reportInstallation = (fault: Extract<Fault, { kind: "installation" }>, key: string, annotations: Record<string, unknown> = {}) =>
  Effect.gen(function* () {
    const health = yield* Installation
    if (health.report(fault, key, yield* Clock.currentTimeMillis)) {
      yield* Effect.logError(`${fault.problem} — remedy: ${fault.remedy}`).pipe(
        Effect.annotateLogs({ ...annotations, bindingsWaiting: health.affected() }),
      )
    } else {
      yield* Effect.logDebug("reconcile failed").pipe(Effect.annotateLogs(annotations))
    }
  })

export const errorPolicy: ErrorPolicy<Failure, Caches | ReconcilerSettings | Recorder | Installation | KubeClient> = {
  retryAfter: retryAfterOf,
  handle: (key, error, retryIn) =>
    Effect.gen(function* () {
      const fault = classifyFailure(error)
      const retryInMs = Math.round(Duration.toMillis(retryIn))
      switch (fault.kind) {
        case "race":
          // Someone else wrote first, or the object went while we worked on it: look again, nothing failed.
          yield* Effect.logInfo("reconcile superseded").pipe(
            Effect.annotateLogs({ key, result: "requeue", message: fault.message, retryInMs }),
          )
          return "requeue" as const
        case "installation":
          yield* reportInstallation(fault, key, { key, error: error._tag, retryInMs })
          return "error" as const
        default:
          yield* Effect.logWarning("reconcile failed").pipe(
            Effect.annotateLogs({
              key,
              error: error._tag,
              ...(fault.kind === "binding" ? { reason: fault.reason } : {}),
              message: fault.message,
              retryInMs,
            }),
          )
          yield* reportOnBinding(key, fault)
          return "error" as const
      }
    }),
}
