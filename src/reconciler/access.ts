/**
 * A binding's Guacamole access: what it should be (a pure function of the
 * binding and its VNC password), what was last applied (a fingerprint per
 * binding key, kept here), and the database calls that put it right.
 *
 * The applied state lets a converged binding cost no SQL: a reconcile whose
 * desired access has the fingerprint last applied skips the database. It is
 * cleared on every verification interval (the rows are read back then), and
 * `markApplied` lets a batched read of many bindings' rows mark those found
 * right at once.
 */
import { createHash } from "node:crypto"
import { Effect, Either, Redacted } from "effect"
import { decodeBinding, isExpired, splitBindingKey, type Binding } from "../domain/binding.ts"
import { VNC_PORT, vncPasswordOf } from "../domain/desired.ts"
import { connectionHostnameFor, deploymentNameFor, entityNameFor, secretNameFor } from "../domain/naming.ts"
import type { Store } from "../runtime/store.ts"
import { GuacamoleDb, type GuacamoleAccess } from "../guacamole/db.ts"
import { KubeClient } from "../runtime/client.ts"
import { Bindings } from "../runtime/resources.ts"
import { Applied, Recorder } from "./deps.ts"
import { EventReason } from "./event-reasons.ts"
import type { KubeObject } from "../runtime/client.ts"

export class BindingProblem extends Error {
  readonly _tag = "BindingProblem"
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message)
  }
}

/** The Deployment a binding's browser runs in: the one its status names, else the one its spec gives. */
export const deploymentNameOf = (raw: KubeObject, decoded = decodeBinding(raw)): string | undefined =>
  typeof raw.status?.deploymentName === "string" && raw.status.deploymentName !== ""
    ? raw.status.deploymentName
    : Either.isRight(decoded)
      ? deploymentNameFor(decoded.right.spec.workspace, decoded.right.spec.username)
      : undefined

export const identityOf = (raw: KubeObject): string | undefined => {
  const decoded = decodeBinding(raw)
  return Either.isRight(decoded) ? entityNameFor(decoded.right.spec.workspace, decoded.right.spec.username) : undefined
}

/** The Guacamole rows `binding` should have, its browser being `deploymentName` in `namespace`. */
export const desiredAccess = (
  binding: Binding,
  deploymentName: string,
  namespace: string,
  password: string,
  expired: boolean,
): GuacamoleAccess => ({
  workspace: binding.spec.workspace,
  username: binding.spec.username,
  entityName: entityNameFor(binding.spec.workspace, binding.spec.username),
  hostname: connectionHostnameFor(deploymentName, namespace),
  port: VNC_PORT,
  password: Redacted.make(password),
  validUntil: binding.spec.expires,
  disabled: expired,
  holder: { namespace: binding.metadata.namespace, name: binding.metadata.name, uid: binding.metadata.uid },
})

/**
 * The access a cached binding should have, with the password of its cached Secret: what a batched
 * read of many bindings' rows compares with. Undefined when the caches cannot say (an invalid
 * binding, one being deleted, or one whose Secret does not exist yet).
 */
export const cachedDesiredAccess = (raw: KubeObject, secrets: Store, namespace: string, now: Date): GuacamoleAccess | undefined => {
  if (raw.metadata.deletionTimestamp) return undefined
  const decoded = decodeBinding(raw)
  if (Either.isLeft(decoded)) return undefined
  const deploymentName = deploymentNameOf(raw, decoded)!
  const secret = secrets.get(namespace, secretNameFor(deploymentName))
  const password = secret && vncPasswordOf(secret as { data?: Record<string, string> })
  if (password === undefined) return undefined
  return desiredAccess(decoded.right, deploymentName, namespace, password, isExpired(decoded.right.spec.expires, now))
}

const fingerprint = (access: GuacamoleAccess): string =>
  createHash("sha256")
    .update(JSON.stringify({ ...access, password: Redacted.value(access.password) }))
    .digest("hex")

export interface AppliedAccess {
  readonly isApplied: (key: string, access: GuacamoleAccess) => boolean
  /** Notes that these bindings' rows are as `access` says (after a write, or a read that found them right). */
  readonly markApplied: (entries: ReadonlyArray<{ readonly key: string; readonly access: GuacamoleAccess }>) => void
  readonly forget: (key: string) => void
  /** Forgets everything: every binding's rows are read again at its next reconcile. */
  readonly clear: () => void
}

/** No secrets are kept: a hash of the access, password included. */
export const makeAppliedAccess = (): AppliedAccess => {
  const applied = new Map<string, string>()
  return {
    isApplied: (key, access) => applied.get(key) === fingerprint(access),
    markApplied: (entries) => {
      for (const { key, access } of entries) applied.set(key, fingerprint(access))
    },
    forget: (key) => void applied.delete(key),
    clear: () => applied.clear(),
  }
}

/** Revokes whatever Guacamole access the binding `key` holds (except `keep`); returns the identities released. */
export const revokeHeld = (key: string, keep?: { workspace: string; username: string }, on?: KubeObject) =>
  Effect.gen(function* () {
    const db = yield* GuacamoleDb
    const [namespace, name] = splitBindingKey(key)
    const { changes, released } = yield* db.revoke({ holder: { namespace, name }, ...(keep ? { keep } : {}) })
    if (changes.length > 0) {
      yield* Effect.logDebug(`revoked Guacamole access: ${changes.join("; ")}`)
      if (on) yield* (yield* Recorder).record(on, "Normal", EventReason.Revoked, changes.join("; "))
    }
    return released
  })

/**
 * Puts the binding's rows right unless they are known to be: first whatever
 * else it holds goes (an old workspace or user), found by the same one read
 * that says what would change; when something would, one locked transaction writes it. Returns what changed and the identities released.
 */
export const applyAccess = (key: string, binding: Binding, access: GuacamoleAccess, on: KubeObject) =>
  Effect.gen(function* () {
    const applied = yield* Applied
    if (applied.isApplied(key, access)) return { changes: [] as ReadonlyArray<string>, released: [] as ReadonlyArray<string> }
    const db = yield* GuacamoleDb
    const keep = { workspace: binding.spec.workspace, username: binding.spec.username }
    // One read answers both: what else it holds, and what would change.
    const seen = yield* db.inspect(access).pipe(
      Effect.catchTag("GuacamoleConflictError", (conflict) =>
        Effect.gen(function* () {
          // The identity it asks for cannot be had; what it held before goes all the same.
          if (yield* db.holdsOthers({ holder: access.holder, keep })) yield* revokeHeld(key, keep, on)
          return yield* Effect.fail(conflict)
        }),
      ),
    )
    const released = seen.holdsOthers ? yield* revokeHeld(key, keep, on) : []
    const changes = seen.changes.length > 0 ? yield* ensureHeld(key, binding, access) : []
    applied.markApplied([{ key, access }])
    return { changes, released }
  })

/** `ensure`, where rows held by a binding the API server no longer has are taken over, and a live holder is an AlreadyBound. */
const ensureHeld = (key: string, binding: Binding, access: GuacamoleAccess) =>
  Effect.gen(function* () {
    const db = yield* GuacamoleDb
    return yield* db.ensure(access, { inspected: true }).pipe(
      Effect.catchTag("GuacamoleHeldError", (held) =>
        Effect.gen(function* () {
          const [namespace, rest] = splitBindingKey(held.holder)
          const slash = rest.lastIndexOf("/")
          const name = rest.slice(0, slash)
          const uid = rest.slice(slash + 1)
          const live = yield* (yield* KubeClient).get(Bindings, namespace, name).pipe(
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
          return yield* db.ensure(access, { replacing: held.holder, inspected: true })
        }),
      ),
    )
  })
