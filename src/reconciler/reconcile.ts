/**
 * Reconcile one binding: level-triggered and idempotent.
 *
 * From the binding and the cached world it computes what should exist (pure
 * functions in src/domain), compares it with what the API server and the
 * database hold, and writes only the differences. A converged binding costs
 * no API write and no SQL write; a change of `spec.replicas` alone costs one
 * Deployment patch.
 */
import { createHash } from "node:crypto"
import { Clock, Duration, Effect, Either, Redacted } from "effect"
import {
  decodeBinding,
  expiryInstant,
  isExpired,
  type Binding,
} from "../domain/binding.ts"
import {
  bindingKeyOf,
  desiredDeployment,
  desiredSecret,
  desiredService,
  generateVncPassword,
  VNC_PORT,
  vncPasswordOf,
  type WorkloadSettings,
} from "../domain/desired.ts"
import { mergePatchFor, withoutTypeMeta } from "../domain/diff.ts"
import {
  connectionHostnameFor,
  deploymentNameFor,
  entityNameFor,
  secretNameFor,
  serviceNameFor,
} from "../domain/naming.ts"
import type { GuacamoleAccess, GuacamoleDbService } from "../guacamole/db.ts"
import type { GuacamoleError } from "../guacamole/errors.ts"
import type { KubeClientService, KubeObject } from "../runtime/client.ts"
import type { KubeError } from "../runtime/errors.ts"
import type { Informer } from "../runtime/reflector.ts"
import { Bindings, Deployments, Secrets, Services, type ResourceType } from "../runtime/resources.ts"
import type { BrowserLifecycle } from "./browser.ts"
import { EventReason } from "./event-reasons.ts"
import type { EventRecorder } from "../runtime/events.ts"
import { recordFacts } from "./facts.ts"
import { heldReplicas, stopOwnedBrowser } from "./replicas.ts"
import type { StatusFields } from "./status-fields.ts"

/** Held on every binding whose Guacamole access and browser objects the operator has created. */
export const FINALIZER = "xlscsde.nhs.uk/guacamole-operator"

export type StatusText = "PROVISIONING" | "READY" | "EXPIRED" | "ERROR"

/** Requeue long waits at least this often, so timers stay small; the resync covers the rest anyway. */
const MAX_REQUEUE = Duration.hours(12)

export interface ReconcileEnv {
  readonly kube: KubeClientService
  readonly db: GuacamoleDbService
  readonly bindings: { readonly get: (namespace: string, name: string) => KubeObject | undefined; readonly observe: (o: KubeObject) => void }
  readonly deployments: Informer
  readonly services: Informer
  readonly secrets: Informer
  readonly settings: WorkloadSettings
  readonly statusFields: StatusFields
  readonly events: EventRecorder
  /** Fingerprint of the Guacamole state last applied per binding key (no secrets: a hash). */
  readonly applied: Map<string, string>
  readonly randomBytes: (n: number) => Uint8Array
  /** Whether bindings of this namespace are watched (others are not ours to clean up after). */
  readonly watches: (namespace: string) => boolean
  /** Start-up metrics and the browser's ready and stopped Events. */
  readonly browser?: BrowserLifecycle
}

export type ReconcileResult = "converged" | "invalid" | "expired" | "deleted" | "cleaned-up" | "conflict" | "skipped"

export interface Outcome {
  readonly result: ReconcileResult
  readonly writes: number
  readonly requeueAfter?: Duration.Duration
  /** Identities (`<workspace>@<username>`) this binding gave up: bindings waiting for them may now take them. */
  readonly released?: ReadonlyArray<string>
}

/** A binding that cannot be provisioned as it stands (the user must change something). */
export class BindingProblem extends Error {
  readonly _tag = "BindingProblem"
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}

export type ReconcileError = KubeError | GuacamoleError | BindingProblem

interface Counter {
  writes: number
}

const splitKey = (key: string): [string, string] => {
  const i = key.indexOf("/")
  return [key.slice(0, i), key.slice(i + 1)]
}

const fingerprint = (access: GuacamoleAccess): string =>
  createHash("sha256")
    .update(JSON.stringify({ ...access, password: Redacted.value(access.password) }))
    .digest("hex")

/** Kept in `applied` for a binding whose finalizer this operator has removed. */
const releasedMark = (raw: KubeObject) => `released ${raw.metadata.uid}`

const ignoreNotFound = <A, R>(effect: Effect.Effect<A, KubeError, R>) =>
  effect.pipe(Effect.catchTag("KubeNotFound", () => Effect.void))

export const reconcile = (env: ReconcileEnv, key: string): Effect.Effect<Outcome, ReconcileError> =>
  Effect.gen(function* () {
    const counter: Counter = { writes: 0 }
    const counted = <A, E>(effect: Effect.Effect<A, E>) => effect.pipe(Effect.tap(() => void counter.writes++))
    const ns = env.settings.namespace
    const [bindingNamespace, bindingName] = splitKey(key)
    const raw = env.bindings.get(bindingNamespace, bindingName)

    // ---- cleanup of everything a binding owned -------------------------------------------
    const ownedObjects = (deploymentName: string | undefined) => {
      const owned: Array<{ rt: ResourceType; informer: Informer; object: KubeObject }> = []
      for (const [rt, informer, legacyName] of [
        [Deployments, env.deployments, deploymentName],
        [Services, env.services, deploymentName && serviceNameFor(deploymentName)],
        [Secrets, env.secrets, deploymentName && secretNameFor(deploymentName)],
      ] as const) {
        for (const object of informer.list()) {
          const owner = bindingKeyOf(object)
          // Objects of the original operator carry no binding annotation: they are found by name.
          if (owner === key || (owner === undefined && object.metadata.name === legacyName)) {
            owned.push({ rt, informer, object })
          }
        }
      }
      return owned
    }

    /** Revokes whatever Guacamole access this binding holds (except `keep`); returns the identities released. */
    const revokeHeld = (keep?: { workspace: string; username: string }, on?: KubeObject) =>
      Effect.gen(function* () {
        const { changes, released } = yield* env.db.revoke({
          holder: { namespace: bindingNamespace, name: bindingName },
          ...(keep ? { keep } : {}),
        })
        if (changes.length > 0) {
          yield* Effect.logDebug(`revoked Guacamole access: ${changes.join("; ")}`)
          if (on) yield* env.events.record(on, "Normal", EventReason.Revoked, changes.join("; "))
        }
        return released
      })

    const cleanup = (deploymentName: string | undefined, on?: KubeObject) =>
      Effect.gen(function* () {
        // Access goes first: once the rows are gone nobody can open the browser.
        const released = yield* revokeHeld(undefined, on)
        env.applied.delete(key)
        env.browser?.forget(key)
        for (const { rt, informer, object } of ownedObjects(deploymentName)) {
          yield* counted(
            ignoreNotFound(
              env.kube.delete(rt, object.metadata.namespace, object.metadata.name, {
                preconditions: { uid: object.metadata.uid! },
              }),
            ),
          )
          informer.forget(object.metadata.namespace, object.metadata.name)
        }
        return released
      })

    if (!raw) {
      if (!env.watches(bindingNamespace)) return { result: "skipped", writes: 0 } satisfies Outcome
      // Rows and objects of a binding gone without its finalizer running (removed by hand, say).
      const released = yield* cleanup(undefined)
      return { result: released.length > 0 || counter.writes > 0 ? "cleaned-up" : "skipped", writes: counter.writes, released } satisfies Outcome
    }

    const decoded = decodeBinding(raw)
    const knownDeploymentName: string | undefined =
      typeof raw.status?.deploymentName === "string" && raw.status.deploymentName !== ""
        ? raw.status.deploymentName
        : Either.isRight(decoded)
          ? deploymentNameFor(decoded.right.spec.workspace, decoded.right.spec.username)
          : undefined

    // ---- deletion ----------------------------------------------------------------------
    if (raw.metadata.deletionTimestamp) {
      const finalizers = raw.metadata.finalizers ?? []
      const index = finalizers.indexOf(FINALIZER)
      if (index < 0 || env.applied.get(key) === releasedMark(raw)) return { result: "deleted", writes: 0 } satisfies Outcome
      const released = yield* cleanup(knownDeploymentName, raw)
      yield* counted(
        ignoreNotFound(
          env.kube.patch(
            Bindings,
            bindingNamespace,
            bindingName,
            finalizersPatch(raw, finalizers.filter((f) => f !== FINALIZER)),
          ),
        ),
      )
      // Until the watch says the binding is gone, the cache still shows it with our finalizer, and the
      // deletions of its children queue it again: remember that this one is released.
      env.applied.set(key, releasedMark(raw))
      yield* Effect.logDebug("released the binding: its Guacamole access and browser objects are gone")
      return { result: "deleted", writes: counter.writes, released } satisfies Outcome
    }

    const writeStatus = (statusText: StatusText, fields: StatusFieldsUpdate) =>
      writeBindingStatus(env, raw, statusText, fields, counted)

    if (Either.isLeft(decoded)) {
      const message = decoded.left.message
      const changed = raw.status?.statusText !== "ERROR" || (env.statusFields.has("message") && raw.status?.message !== message)
      if (changed) {
        yield* env.events.record(raw, "Warning", EventReason.InvalidSpec, message)
        yield* writeStatus("ERROR", { message })
      }
      // Fail closed: a browser whose binding cannot be read is not left running,
      // and a binding changed into something invalid keeps no access from what it was.
      yield* stopOwnedBrowser(env, ownedObjects(knownDeploymentName), counted)
      const released = (raw.metadata.finalizers ?? []).includes(FINALIZER) ? yield* revokeHeld(undefined, raw) : []
      return { result: "invalid", writes: counter.writes, released } satisfies Outcome
    }
    const binding = decoded.right
    const deploymentName = knownDeploymentName!

    // The browser objects this binding would use must not be another live binding's
    // (asked of the API server, not the cache: the cache may not have seen it yet).
    const existingDeployment = env.deployments.get(ns, deploymentName)
    for (const object of [
      existingDeployment,
      env.services.get(ns, serviceNameFor(deploymentName)),
      env.secrets.get(ns, secretNameFor(deploymentName)),
    ]) {
      if (object) yield* refuseIfHeldByAnother(env, key, binding, object)
    }

    // ---- finalizer ---------------------------------------------------------------------
    let current: KubeObject = raw
    const finalizers = raw.metadata.finalizers ?? []
    if (!finalizers.includes(FINALIZER)) {
      current = yield* counted(
        env.kube.patch(Bindings, bindingNamespace, bindingName, finalizersPatch(raw, [...finalizers, FINALIZER])),
      )
      env.bindings.observe(current)
    }

    const now = new Date(yield* Clock.currentTimeMillis)
    const expired = isExpired(binding.spec.expires, now)
    const replicas = expired ? 0 : yield* heldReplicas(env, current, binding.spec.replicas)

    // ---- Guacamole, then the VNC password Secret ----------------------------------------
    // The database decides who holds the identity (under the workspace's lock), so it
    // comes before any object is created: the loser of a race writes nothing.
    const created: string[] = []
    // What this reconcile changed, for the one Event that says so.
    const noteCreated = (what: string) => void created.push(`create ${what}`)
    const cachedSecret = env.secrets.get(ns, secretNameFor(deploymentName))
    const cachedPassword = cachedSecret ? vncPasswordOf(cachedSecret as { data?: Record<string, string> }) : undefined
    const accessWith = (password: string): GuacamoleAccess => ({
      workspace: binding.spec.workspace,
      username: binding.spec.username,
      entityName: entityNameFor(binding.spec.workspace, binding.spec.username),
      hostname: connectionHostnameFor(deploymentName, ns),
      port: VNC_PORT,
      password: Redacted.make(password),
      validUntil: binding.spec.expires,
      disabled: expired,
      holder: { namespace: bindingNamespace, name: bindingName, uid: binding.metadata.uid },
    })
    const keep = { workspace: binding.spec.workspace, username: binding.spec.username }
    const released: Array<string> = []
    const applyAccess = (access: GuacamoleAccess) =>
      Effect.gen(function* () {
        const print = fingerprint(access)
        if (env.applied.get(key) === print) return
        // Whatever else this binding holds (an old workspace or user, even one it took before its
        // first status write) goes, found from the ownership recorded in the database.
        if (yield* env.db.holdsOthers({ holder: access.holder, keep })) released.push(...(yield* revokeHeld(keep, current)))
        const planned = yield* env.db.plan(access)
        if (planned.length > 0) {
          const changes = yield* ensureHeld(env, key, binding, access)
          created.push(...changes)
        }
        env.applied.set(key, print)
      })
    const firstPassword = cachedPassword ?? generateVncPassword(env.randomBytes)
    yield* applyAccess(accessWith(firstPassword))
    const secret = yield* ensureSecret(env, key, binding, deploymentName, firstPassword, counted, noteCreated)
    // The Secret already held another password (created meanwhile, or edited by hand): Guacamole follows it.
    if (secret.password !== firstPassword) yield* applyAccess(accessWith(secret.password))

    // ---- Deployment and Service --------------------------------------------------------
    const replicasBefore = existingDeployment?.spec?.replicas
    const deployment = yield* ensureObject(
      env,
      key,
      binding,
      Deployments,
      env.deployments,
      withSecretVersion(desiredDeployment(binding, deploymentName, replicas, env.settings), secret.version),
      counted,
      noteCreated,
    )
    yield* ensureObject(env, key, binding, Services, env.services, desiredService(binding, deploymentName, env.settings), counted, noteCreated)
    if (env.browser) {
      yield* env.browser.afterDeployment({ key, binding: current, before: existingDeployment, after: deployment, nowMillis: now.getTime() })
    }

    // ---- status ------------------------------------------------------------------------
    const observedReplicas = Number(deployment.status?.replicas ?? 0)
    const readyReplicas = Number(deployment.status?.readyReplicas ?? 0)
    yield* writeStatus(expired ? "EXPIRED" : "READY", { deploymentName, replicas: observedReplicas, readyReplicas })
    yield* recordFacts(env.events, current, {
      expired,
      expires: binding.spec.expires,
      entityName: entityNameFor(binding.spec.workspace, binding.spec.username),
      changes: created,
      replicasBefore: typeof replicasBefore === "number" ? replicasBefore : undefined,
      replicas,
    })
    if (expired) return { result: "expired", writes: counter.writes, released } satisfies Outcome
    const untilExpiry = Duration.millis(Math.max(0, expiryInstant(binding.spec.expires).getTime() - now.getTime()))
    return {
      result: "converged",
      writes: counter.writes,
      requeueAfter: Duration.min(untilExpiry, MAX_REQUEUE),
      released,
    } satisfies Outcome
  }).pipe(Effect.annotateLogs({ binding: key }))

/**
 * The pod template names the Secret version (uid/resourceVersion) it was started with, so a
 * replaced or edited Secret (a new password, whoever changed it) restarts the browser with it.
 */
export const VNC_SECRET_ANNOTATION = "xlscsde.nhs.uk/vnc-secret-uid"

const withSecretVersion = <D extends { spec: { template: { metadata: { annotations?: Record<string, string> } } } }>(
  deployment: D,
  version: string,
): D => ({
  ...deployment,
  spec: {
    ...deployment.spec,
    template: {
      ...deployment.spec.template,
      metadata: {
        ...deployment.spec.template.metadata,
        annotations: { ...deployment.spec.template.metadata.annotations, [VNC_SECRET_ANNOTATION]: version },
      },
    },
  },
})

/**
 * Sets the finalizer list, on the condition that the binding is still the
 * version we read: another writer's change in between is a 409 Conflict
 * (retried with a fresh read), never a lost finalizer of theirs.
 */
const finalizersPatch = (raw: KubeObject, finalizers: ReadonlyArray<string>) =>
  ({
    type: "merge",
    body: { metadata: { finalizers: finalizers.length > 0 ? finalizers : null, resourceVersion: raw.metadata.resourceVersion } },
  }) as const

type Counted = <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>

export interface StatusFieldsUpdate {
  readonly deploymentName?: string
  readonly replicas?: number
  /** Browser pods ready (the printer column "Ready"); written only where the CRD declares it. */
  readonly readyReplicas?: number
  readonly message?: string
}

/**
 * Merge-patches the binding's status subresource with the fields that differ,
 * limited to those the installed CRD declares. (Events are the callers':
 * one per fact, not one per status change.)
 */
export const writeBindingStatus = (
  env: Pick<ReconcileEnv, "kube" | "bindings" | "statusFields">,
  raw: KubeObject,
  statusText: StatusText,
  fields: StatusFieldsUpdate,
  counted: Counted = (e) => e,
): Effect.Effect<void, KubeError> =>
  Effect.gen(function* () {
    const current = (raw.status ?? {}) as Record<string, unknown>
    const desired: Record<string, unknown> = { statusText, ...fields }
    const patch: Record<string, unknown> = {}
    for (const [field, value] of Object.entries(desired)) {
      if (value === undefined || !env.statusFields.has(field)) continue
      if (current[field] !== value) patch[field] = value
    }
    if (fields.message === undefined && current.message !== undefined && env.statusFields.has("message")) {
      patch.message = null
    }
    if (Object.keys(patch).length === 0) return
    const { namespace, name } = raw.metadata
    const updated = yield* counted(
      env.kube.patch(Bindings, namespace, name, { type: "merge", body: { status: patch } }, "status"),
    )
    env.bindings.observe(updated)
  })

/** Creates the object, or merge-patches the fields that differ from what the server holds (after its defaulting). */
const ensureObject = (
  env: ReconcileEnv,
  key: string,
  binding: Binding,
  rt: ResourceType,
  informer: Informer,
  desired: { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string } },
  counted: Counted,
  onCreated: (what: string) => void,
): Effect.Effect<KubeObject, ReconcileError> =>
  Effect.gen(function* () {
    const ns = env.settings.namespace
    const name = desired.metadata.name
    const patchWith = (observed: KubeObject) =>
      Effect.gen(function* () {
        yield* refuseIfHeldByAnother(env, key, binding, observed)
        const patch = mergePatchFor(withoutTypeMeta(desired), observed)
        if (patch === undefined) return observed
        const updated = yield* counted(env.kube.patch(rt, ns, name, { type: "merge", body: patch }))
        informer.observe(updated)
        return updated
      })
    const cached = informer.get(ns, name)
    if (cached) return yield* patchWith(cached)
    const created = yield* counted(env.kube.create(rt, ns, desired)).pipe(
      Effect.tap(() => Effect.sync(() => onCreated(`${rt.kind} ${ns}/${name}`))),
      Effect.catchIf(
        (e): e is Extract<KubeError, { _tag: "KubeConflict" }> => e._tag === "KubeConflict" && e.alreadyExists,
        // The cache has not seen it yet: read it once and patch what differs.
        () => env.kube.get(rt, ns, name).pipe(Effect.flatMap(patchWith)),
      ),
    )
    informer.observe(created)
    return created
  })

interface VncSecret {
  readonly password: string
  /** Changes whenever the Secret does (replaced, or its password edited by hand): the browser restarts with it. */
  readonly version: string
}

const versionOf = (secret: KubeObject): string => `${secret.metadata.uid ?? ""}/${secret.metadata.resourceVersion ?? ""}`

/**
 * Fails with AlreadyBound when `object` belongs to another binding that the API
 * server still has. An object of a binding that is gone may be taken over;
 * one with no binding annotation is the previous operator's and is adopted.
 */
const refuseIfHeldByAnother = (
  env: ReconcileEnv,
  key: string,
  binding: Binding,
  object: KubeObject,
): Effect.Effect<void, ReconcileError> =>
  Effect.gen(function* () {
    const owner = bindingKeyOf(object)
    if (owner === undefined || owner === key) return
    const [namespace, name] = splitKey(owner)
    const live = yield* env.kube.get(Bindings, namespace, name).pipe(
      // A binding of that name exists: it holds the object (a later binding of a deleted one's name takes its place).
      Effect.as(true),
      Effect.catchTag("KubeNotFound", () => Effect.succeed(false)),
    )
    if (live) {
      return yield* Effect.fail(
        new BindingProblem(
          "AlreadyBound",
          `workspace "${binding.spec.workspace}" is already bound to user "${binding.spec.username}" by binding ${owner} ` +
            `(${object.kind ?? "object"} ${object.metadata.namespace}/${object.metadata.name} is its)`,
        ),
      )
    }
  })

/** `ensure`, where rows held by a binding the API server no longer has are taken over, and a live holder is an AlreadyBound. */
const ensureHeld = (
  env: ReconcileEnv,
  key: string,
  binding: Binding,
  access: GuacamoleAccess,
): Effect.Effect<ReadonlyArray<string>, ReconcileError> =>
  env.db.ensure(access).pipe(
    Effect.catchTag("GuacamoleHeldError", (held) =>
      Effect.gen(function* () {
        const [namespace, rest] = splitKey(held.holder)
        const slash = rest.lastIndexOf("/")
        const name = rest.slice(0, slash)
        const uid = rest.slice(slash + 1)
        const live = yield* env.kube.get(Bindings, namespace, name).pipe(
          Effect.map((b) => b.metadata.uid === uid),
          Effect.catchTag("KubeNotFound", () => Effect.succeed(false)),
        )
        if (live && `${namespace}/${name}` !== key) {
          return yield* Effect.fail(
            new BindingProblem(
              "AlreadyBound",
              `workspace "${binding.spec.workspace}" is already bound to user "${binding.spec.username}" by binding ${namespace}/${name}`,
            ),
          )
        }
        return yield* env.db.ensure(access, { replacing: held.holder })
      }),
    ),
  )

/** The binding's VNC password: read from its Secret, or `fresh` stored in a new one. */
const ensureSecret = (
  env: ReconcileEnv,
  key: string,
  binding: Binding,
  deploymentName: string,
  fresh: string,
  counted: Counted,
  onCreated: (what: string) => void,
): Effect.Effect<VncSecret, ReconcileError> =>
  Effect.gen(function* () {
    const ns = env.settings.namespace
    const name = secretNameFor(deploymentName)
    const withoutData = (password: string) => {
      const { data: _data, ...rest } = desiredSecret(binding, deploymentName, password, env.settings) as Record<string, unknown>
      return rest
    }
    const adopt = (observed: KubeObject) =>
      Effect.gen(function* () {
        yield* refuseIfHeldByAnother(env, key, binding, observed)
        const existing = vncPasswordOf(observed as { data?: Record<string, string> })
        const password = existing ?? fresh
        const patch = existing
          ? mergePatchFor(withoutTypeMeta(withoutData(password)), observed)
          : mergePatchFor(withoutTypeMeta(desiredSecret(binding, deploymentName, password, env.settings)), observed)
        if (patch !== undefined) {
          const updated = yield* counted(env.kube.patch(Secrets, ns, name, { type: "merge", body: patch }))
          env.secrets.observe(updated)
          return { password, version: versionOf(updated) }
        }
        return { password, version: versionOf(observed) }
      })
    const cached = env.secrets.get(ns, name)
    if (cached) return yield* adopt(cached)
    return yield* counted(env.kube.create(Secrets, ns, desiredSecret(binding, deploymentName, fresh, env.settings))).pipe(
      Effect.tap((created) =>
        Effect.sync(() => env.secrets.observe(created)).pipe(
          Effect.zipRight(Effect.sync(() => onCreated(`Secret ${ns}/${name} (a new VNC password)`))),
        ),
      ),
      Effect.map((created): VncSecret => ({ password: fresh, version: versionOf(created) })),
      Effect.catchIf(
        (e): e is Extract<KubeError, { _tag: "KubeConflict" }> => e._tag === "KubeConflict" && e.alreadyExists,
        () => env.kube.get(Secrets, ns, name).pipe(Effect.flatMap(adopt)),
      ),
    )
  })
