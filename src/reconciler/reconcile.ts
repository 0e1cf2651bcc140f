/**
 * Reconcile one binding: level-triggered and idempotent.
 *
 * From the binding and the cached world it computes what should exist (pure
 * functions in src/domain), compares it with what the API server and the
 * database hold, and writes only the differences. A converged binding costs
 * no API write and no SQL; a change of `spec.replicas` alone costs one
 * Deployment patch.
 *
 *   reconcile(key) ── no binding ─────────────▶ cleanup (what a binding gone without its finalizer left)
 *                  └─ finalizer ── Cleanup ───▶ cleanup, then the finalizer goes
 *                                └─ Apply ─┬─ invalid ─▶ ERROR, browser stopped, access revoked
 *                                          └─ apply ───▶ Guacamole, Secret, Deployment, Service, then status
 */
import { Clock, Duration, Effect, Either } from "effect"
import { bindingKey, decodeBinding, expiryInstant, isExpired, splitBindingKey, type Binding } from "../domain/binding.ts"
import { desiredDeployment, desiredService, generateVncPassword, vncPasswordOf } from "../domain/desired.ts"
import { entityNameFor, secretNameFor, serviceNameFor } from "../domain/naming.ts"
import type { GuacamoleDb } from "../guacamole/db.ts"
import type { GuacamoleError } from "../guacamole/errors.ts"
import { KubeClient, type KubeObject } from "../runtime/client.ts"
import type { Action } from "../runtime/controller.ts"
import type { KubeError } from "../runtime/errors.ts"
import { finalizer, holdsFinalizer } from "../runtime/finalizer.ts"
import { Bindings, Deployments, Services } from "../runtime/resources.ts"
import { applyAccess, deploymentNameOf, desiredAccess, revokeHeld, type BindingProblem } from "./access.ts"
import { bindingExists, ensureObject, ensureSecret, ownedObjects, refuseIfHeldByAnother, withSecretVersion } from "./children.ts"
import { Applied, Browsers, Caches, ReconcilerSettings, Recorder } from "./deps.ts"
import { EventReason } from "./event-reasons.ts"
import { recordFacts } from "./facts.ts"
import { heldReplicas, stopOwnedBrowser } from "./replicas.ts"
import { showsError, writeStatus } from "./status.ts"

/** Held on every binding whose Guacamole access and browser objects the operator has created. */
const FINALIZER = "xlscsde.nhs.uk/guacamole-operator"

/** Requeue long waits at least this often, so timers stay small; the resync covers the rest anyway. */
const MAX_REQUEUE = Duration.hours(12)

export type ReconcileError = KubeError | GuacamoleError | BindingProblem
export type ReconcileDeps = KubeClient | GuacamoleDb | Caches | ReconcilerSettings | Recorder | Applied | Browsers

/** The index of the binding cache: identity (`<workspace>@<username>`) → the bindings that ask for it. */
export const IDENTITY_INDEX = "identity"
/** The index of the binding cache: the browser Deployment's name → the binding (for the original operator's objects). */
export const DEPLOYMENT_INDEX = "deployment"

/** The bindings other than `key` waiting for identities it gave up. */
const waitingFor = (key: string, released: ReadonlyArray<string>) =>
  Effect.map(Caches, ({ bindings }) =>
    [...new Set(released.flatMap((identity) => bindings.byIndex(IDENTITY_INDEX, identity).map(bindingKey)))].filter((k) => k !== key),
  )

export const reconcile = (key: string): Effect.Effect<Action, ReconcileError, ReconcileDeps> =>
  Effect.gen(function* () {
    const [namespace, name] = splitBindingKey(key)
    const raw = (yield* Caches).bindings.get(namespace, name)
    if (!raw) {
      if (!(yield* ReconcilerSettings).watches(namespace)) return { result: "skipped" }
      // The cache may lag the server: its first list can come from a watch cache behind it, and a
      // child's event can name a binding before the binding's own watch has brought it. What
      // follows deletes, so the server is asked first; a binding it has will come through the
      // watch and be reconciled then.
      if (yield* bindingExists(namespace, name)) return { result: "not-cached-yet" }
      // Rows and objects of a binding gone without its finalizer running (removed by hand, say).
      const { released, deleted } = yield* cleanup(key, undefined)
      return { result: released.length > 0 || deleted > 0 ? "cleaned-up" : "skipped", wake: yield* waitingFor(key, released) }
    }
    const decoded = decodeBinding(raw)
    const deploymentName = deploymentNameOf(raw, decoded)
    const action = yield* finalizer(Bindings, FINALIZER, raw, (event) =>
      Effect.gen(function* () {
        if (event._tag === "Cleanup") {
          const { released } = yield* cleanup(key, deploymentName, raw)
          yield* Effect.logDebug("released the binding: its Guacamole access and browser objects are gone")
          return { result: "deleted", wake: yield* waitingFor(key, released) } satisfies Action
        }
        if (Either.isLeft(decoded)) return yield* invalid(key, raw, decoded.left.message, deploymentName)
        return yield* apply(key, decoded.right, deploymentName!, event.hold)
      }),
    )
    return action ?? { result: "deleted" }
  }).pipe(Effect.annotateLogs({ binding: key }))

/** Everything binding `key` owned goes: its access first (once the rows are gone nobody can open the browser), then its objects. */
const cleanup = (key: string, deploymentName: string | undefined, on?: KubeObject) =>
  Effect.gen(function* () {
    const released = yield* revokeHeld(key, undefined, on)
    ;(yield* Applied).forget(key)
    ;(yield* Browsers).forget(key)
    const kube = yield* KubeClient
    const owned = yield* ownedObjects(key, deploymentName)
    for (const { rt, object } of owned) {
      yield* kube
        .delete(rt, object.metadata.namespace, object.metadata.name, { preconditions: { uid: object.metadata.uid! } })
        .pipe(Effect.catchTag("KubeNotFound", () => Effect.void))
    }
    return { released, deleted: owned.length }
  })

/**
 * A binding that cannot be read: ERROR with one Event until the message changes. Fail closed:
 * its browser is stopped, and a binding changed into something invalid keeps no access from what it was.
 */
const invalid = (key: string, raw: KubeObject, message: string, deploymentName: string | undefined) =>
  Effect.gen(function* () {
    if (!showsError(raw, message, (yield* ReconcilerSettings).statusFields.has)) {
      yield* (yield* Recorder).record(raw, "Warning", EventReason.InvalidSpec, message)
      yield* writeStatus(raw, "ERROR", { message })
    }
    yield* stopOwnedBrowser(yield* ownedObjects(key, deploymentName))
    const released = holdsFinalizer(raw, FINALIZER) ? yield* revokeHeld(key, undefined, raw) : []
    return { result: "invalid", wake: yield* waitingFor(key, released) } satisfies Action
  })

const apply = (
  key: string,
  binding: Binding,
  deploymentName: string,
  hold: Effect.Effect<KubeObject, KubeError, KubeClient>,
) =>
  Effect.gen(function* () {
    const caches = yield* Caches
    const settings = yield* ReconcilerSettings
    const ns = settings.workload.namespace

    // The browser objects this binding would use must not be another live binding's.
    const existingDeployment = caches.deployments.get(ns, deploymentName)
    for (const object of [
      existingDeployment,
      caches.services.get(ns, serviceNameFor(deploymentName)),
      caches.secrets.get(ns, secretNameFor(deploymentName)),
    ]) {
      if (object) yield* refuseIfHeldByAnother(key, binding, object)
    }
    const current = yield* hold

    const now = new Date(yield* Clock.currentTimeMillis)
    const expired = isExpired(binding.spec.expires, now)
    const recorder = yield* Recorder
    const replicas = expired ? 0 : yield* heldReplicas({ events: recorder }, current, binding.spec.replicas)

    // Guacamole, then the VNC password Secret. The database decides who holds the identity (under
    // the workspace's lock), so it comes before any object is created: the loser of a race writes nothing.
    const changes: Array<string> = []
    const released: Array<string> = []
    const noteCreated = (what: string) => void changes.push(`create ${what}`)
    const accessWith = (password: string) =>
      applyAccess(key, binding, desiredAccess(binding, deploymentName, ns, password, expired), current).pipe(
        Effect.tap((r) => void (changes.push(...r.changes), released.push(...r.released))),
      )
    const cachedSecret = caches.secrets.get(ns, secretNameFor(deploymentName))
    const firstPassword =
      (cachedSecret && vncPasswordOf(cachedSecret as { data?: Record<string, string> })) ?? generateVncPassword(settings.randomBytes)
    yield* accessWith(firstPassword)
    const secret = yield* ensureSecret(key, binding, deploymentName, firstPassword, noteCreated)
    // The Secret already held another password (created meanwhile, or edited by hand): Guacamole follows it.
    if (secret.password !== firstPassword) yield* accessWith(secret.password)

    const deployment = yield* ensureObject(
      key,
      binding,
      Deployments,
      caches.deployments,
      withSecretVersion(desiredDeployment(binding, deploymentName, replicas, settings.workload), secret.version),
      noteCreated,
    )
    yield* ensureObject(key, binding, Services, caches.services, desiredService(binding, deploymentName, settings.workload), noteCreated)
    yield* (yield* Browsers).afterDeployment({ key, binding: current, before: existingDeployment, after: deployment, nowMillis: now.getTime() })

    yield* writeStatus(current, expired ? "EXPIRED" : "READY", {
      deploymentName,
      replicas: Number(deployment.status?.replicas ?? 0),
      readyReplicas: Number(deployment.status?.readyReplicas ?? 0),
    })
    yield* recordFacts(recorder, current, {
      expired,
      expires: binding.spec.expires,
      entityName: entityNameFor(binding.spec.workspace, binding.spec.username),
      changes,
    })
    const wake = yield* waitingFor(key, released)
    if (expired) return { result: "expired", wake } satisfies Action
    const untilExpiry = Duration.millis(Math.max(0, expiryInstant(binding.spec.expires).getTime() - now.getTime()))
    return { result: "converged", requeueAfter: Duration.min(untilExpiry, MAX_REQUEUE), wake } satisfies Action
  })
