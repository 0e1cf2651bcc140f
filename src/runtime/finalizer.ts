/**
 * The finalizer helper (kube-rs's `finalizer()`): a reconcile is either
 * `Apply` (the object lives: make the world match it) or `Cleanup` (it is
 * being deleted and still carries our finalizer: undo what we made, then
 * let it go). `Apply` is given `hold`, which adds the finalizer when it is
 * missing — the apply decides when, typically once it knows it will create
 * something. Both finalizer writes carry the resourceVersion read, so
 * another writer's change in between is a 409 (looked at again), never a
 * lost finalizer of theirs.
 */
import { Effect } from "effect"
import { KubeClient, type KubeObject } from "./client.ts"
import type { KubeError } from "./errors.ts"
import type { ResourceType } from "./resources.ts"

export type FinalizerEvent =
  | { readonly _tag: "Apply"; readonly object: KubeObject; readonly hold: Effect.Effect<KubeObject, KubeError, KubeClient> }
  | { readonly _tag: "Cleanup"; readonly object: KubeObject }

const setFinalizers = (rt: ResourceType, object: KubeObject, finalizers: ReadonlyArray<string>) =>
  Effect.flatMap(KubeClient, (kube) =>
    kube.patch(rt, object.metadata.namespace, object.metadata.name, {
      type: "merge",
      body: { metadata: { finalizers: finalizers.length > 0 ? finalizers : null, resourceVersion: object.metadata.resourceVersion } },
    }),
  )

export const holdsFinalizer = (object: KubeObject, finalizer: string): boolean =>
  (object.metadata.finalizers ?? []).includes(finalizer)

/**
 * Runs `handle` with the event `object` is in; undefined when it is being
 * deleted without our finalizer (nothing of ours is left).
 */
export const finalizer = <A, E, R>(
  rt: ResourceType,
  name: string,
  object: KubeObject,
  handle: (event: FinalizerEvent) => Effect.Effect<A, E, R>,
): Effect.Effect<A | undefined, E | KubeError, R | KubeClient> =>
  Effect.gen(function* () {
    const finalizers = object.metadata.finalizers ?? []
    if (object.metadata.deletionTimestamp) {
      if (!finalizers.includes(name)) return undefined
      const done = yield* handle({ _tag: "Cleanup", object })
      yield* setFinalizers(rt, object, finalizers.filter((f) => f !== name)).pipe(Effect.catchTag("KubeNotFound", () => Effect.void))
      return done
    }
    const hold = finalizers.includes(name) ? Effect.succeed(object) : setFinalizers(rt, object, [...finalizers, name])
    return yield* handle({ _tag: "Apply", object, hold })
  })
