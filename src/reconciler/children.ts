/**
 * The binding's browser objects (Deployment, Service, VNC password Secret):
 * created when missing, merge-patched where they differ from what the
 * server holds, never taken from another live binding. The client is the
 * runtime's write-through one: what is written is in the cache at once.
 */
import { Effect } from "effect"
import { splitBindingKey, type Binding } from "../domain/binding.ts"
import { desiredSecret, ownerBindingKey, PURPOSE, PURPOSE_LABEL, vncPasswordOf } from "../domain/desired.ts"
import { mergePatchFor, withoutTypeMeta } from "../domain/diff.ts"
import { secretNameFor, serviceNameFor } from "../domain/naming.ts"
import { KubeClient, type KubeObject } from "../runtime/client.ts"
import type { KubeError } from "../runtime/errors.ts"
import { Bindings, Deployments, Secrets, Services, type ResourceType } from "../runtime/resources.ts"
import type { Store } from "../runtime/store.ts"
import { BindingProblem } from "./access.ts"
import { Caches, ReconcilerSettings } from "./deps.ts"

export interface Owned {
  readonly rt: ResourceType
  readonly object: KubeObject
}

/** The index of the browser objects' caches by the key of the binding they belong to (their binding annotation). */
export const OWNER_INDEX = "owner"

/** The objects of binding `key` in the caches; those of the original operator (no binding annotation) by name. */
export const ownedObjects = (key: string, deploymentName: string | undefined) =>
  Effect.map(Caches, (caches) => {
    const owned: Array<Owned> = []
    for (const [rt, store, legacyName] of [
      [Deployments, caches.deployments, deploymentName],
      [Services, caches.services, deploymentName && serviceNameFor(deploymentName)],
      [Secrets, caches.secrets, deploymentName && secretNameFor(deploymentName)],
    ] as const satisfies ReadonlyArray<readonly [ResourceType, Store, string | undefined]>) {
      for (const object of store.byIndex(OWNER_INDEX, key)) owned.push({ rt, object })
      const legacy = legacyName === undefined ? undefined : store.get(store.namespace, legacyName)
      if (legacy && ownerBindingKey(legacy) === undefined) owned.push({ rt, object: legacy })
    }
    return owned
  })

/** Whether the API server has a binding of this name (asked of the server: the cache may lag it). */
export const bindingExists = (namespace: string, name: string) =>
  Effect.flatMap(KubeClient, (kube) =>
    kube.get(Bindings, namespace, name).pipe(
      Effect.as(true),
      Effect.catchTag("KubeNotFound", () => Effect.succeed(false)),
    ),
  )

/**
 * Fails with NotOurs when `object` lacks the purpose label that the operator,
 * and the previous operator, put on every browser object: someone else made it
 * under the browser's name, and it is neither patched, adopted nor deleted.
 * Fails with AlreadyBound when it belongs to another binding that the API
 * server still has (asked of the server: the cache may not have seen it yet).
 * An object of a binding that is gone may be taken over; a labelled one with no
 * binding annotation is the previous operator's and is adopted.
 */
export const refuseIfHeldByAnother = (key: string, binding: Binding, object: KubeObject) =>
  Effect.gen(function* () {
    if (object.metadata.labels?.[PURPOSE_LABEL] !== PURPOSE) {
      return yield* Effect.fail(
        new BindingProblem(
          "NotOurs",
          `${object.kind ?? "object"} ${object.metadata.namespace}/${object.metadata.name} has the name of this binding's browser ` +
            `but was not made by this operator (it lacks the label ${PURPOSE_LABEL}=${PURPOSE}): rename or remove it`,
        ),
      )
    }
    const owner = ownerBindingKey(object)
    if (owner === undefined || owner === key) return
    const [namespace, name] = splitBindingKey(owner)
    // A binding of that name exists: it holds the object (a later binding of a deleted one's name takes its place).
    if (yield* bindingExists(namespace, name)) {
      return yield* Effect.fail(
        new BindingProblem(
          "AlreadyBound",
          `workspace "${binding.spec.workspace}" is already bound to user "${binding.spec.username}" by binding ${owner} ` +
            `(${object.kind ?? "object"} ${object.metadata.namespace}/${object.metadata.name} is its)`,
        ),
      )
    }
  })

type Desired = { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string } }

/** Creates the object, or merge-patches the fields that differ from what the server holds (after its defaulting). */
export const ensureObject = (
  key: string,
  binding: Binding,
  rt: ResourceType,
  store: Store,
  desired: Desired,
  onCreated: (what: string) => void,
): Effect.Effect<KubeObject, KubeError | BindingProblem, KubeClient | ReconcilerSettings> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const ns = (yield* ReconcilerSettings).workload.namespace
    const name = desired.metadata.name
    const patchWith = (observed: KubeObject) =>
      Effect.gen(function* () {
        yield* refuseIfHeldByAnother(key, binding, observed)
        const patch = mergePatchFor(withoutTypeMeta(desired), observed)
        return patch === undefined ? observed : yield* kube.patch(rt, ns, name, { type: "merge", body: patch })
      })
    const cached = store.get(ns, name)
    if (cached) return yield* patchWith(cached)
    return yield* kube.create(rt, ns, desired).pipe(
      Effect.tap(() => Effect.sync(() => onCreated(`${rt.kind} ${ns}/${name}`))),
      Effect.catchIf(
        (e): e is Extract<KubeError, { _tag: "KubeConflict" }> => e._tag === "KubeConflict" && e.alreadyExists,
        // The cache has not seen it yet: read it once and patch what differs.
        () => kube.get(rt, ns, name).pipe(Effect.flatMap(patchWith)),
      ),
    )
  })

export interface VncSecret {
  readonly password: string
  /** Changes whenever the Secret does (replaced, or its password edited by hand): the browser restarts with it. */
  readonly version: string
}

const versionOf = (secret: KubeObject): string => `${secret.metadata.uid ?? ""}/${secret.metadata.resourceVersion ?? ""}`

/** The binding's VNC password: read from its Secret, or `fresh` stored in a new one. */
export const ensureSecret = (
  key: string,
  binding: Binding,
  deploymentName: string,
  fresh: string,
  onCreated: (what: string) => void,
) =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const { workload } = yield* ReconcilerSettings
    const { secrets } = yield* Caches
    const ns = workload.namespace
    const name = secretNameFor(deploymentName)
    const withoutData = (password: string) => {
      const { data: _data, ...rest } = desiredSecret(binding, deploymentName, password, workload) as Record<string, unknown>
      return rest
    }
    const adopt = (observed: KubeObject) =>
      Effect.gen(function* () {
        yield* refuseIfHeldByAnother(key, binding, observed)
        const existing = vncPasswordOf(observed as { data?: Record<string, string> })
        const password = existing ?? fresh
        const patch = existing
          ? mergePatchFor(withoutTypeMeta(withoutData(password)), observed)
          : mergePatchFor(withoutTypeMeta(desiredSecret(binding, deploymentName, password, workload)), observed)
        const current = patch === undefined ? observed : yield* kube.patch(Secrets, ns, name, { type: "merge", body: patch })
        return { password, version: versionOf(current) } satisfies VncSecret
      })
    const cached = secrets.get(ns, name)
    if (cached) return yield* adopt(cached)
    return yield* kube.create(Secrets, ns, desiredSecret(binding, deploymentName, fresh, workload)).pipe(
      Effect.tap(() => Effect.sync(() => onCreated(`Secret ${ns}/${name} (a new VNC password)`))),
      Effect.map((created): VncSecret => ({ password: fresh, version: versionOf(created) })),
      Effect.catchIf(
        (e): e is Extract<KubeError, { _tag: "KubeConflict" }> => e._tag === "KubeConflict" && e.alreadyExists,
        () => kube.get(Secrets, ns, name).pipe(Effect.flatMap(adopt)),
      ),
    )
  })

/**
 * The pod template names the Secret version (uid/resourceVersion) it was started with, so a
 * replaced or edited Secret (a new password, whoever changed it) restarts the browser with it.
 */
const VNC_SECRET_ANNOTATION = "xlscsde.nhs.uk/vnc-secret-uid"

export const withSecretVersion = <D extends { spec: { template: { metadata: { annotations?: Record<string, string> } } } }>(
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
