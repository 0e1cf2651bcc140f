/**
 * One researcher, one browser: what the binding's `spec.replicas` may start.
 *
 * - above 1: held at 1, with a Warning Event (two browsers of one researcher
 *   would share one VNC password and one Guacamole connection, and cost twice);
 * - invalid (negative, not an integer): the binding is in ERROR and its
 *   browser is stopped — fail closed, never "leave what runs running".
 */
import { Effect } from "effect"
import type { KubeClientService, KubeObject } from "../runtime/client.ts"
import type { KubeError } from "../runtime/errors.ts"
import type { Informer } from "../runtime/reflector.ts"
import { Deployments, type ResourceType } from "../runtime/resources.ts"
import type { EventRecorder } from "../runtime/events.ts"

/** The most browser pods one binding runs. */
export const MAX_BROWSERS = 1

export const heldReplicas = (
  env: { readonly events: EventRecorder },
  binding: KubeObject,
  replicas: number,
): Effect.Effect<number> =>
  replicas <= MAX_BROWSERS
    ? Effect.succeed(replicas)
    : env.events
        .record(
          binding,
          "Warning",
          "ReplicasLimited",
          `spec.replicas is ${replicas}, but a researcher has one browser: ${MAX_BROWSERS} runs`,
        )
        .pipe(Effect.as(MAX_BROWSERS))

/** Scales the binding's own browser Deployment to 0 when it runs any pod. */
export const stopOwnedBrowser = (
  env: { readonly kube: KubeClientService },
  owned: ReadonlyArray<{ readonly rt: ResourceType; readonly informer: Informer; readonly object: KubeObject }>,
  counted: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<A, E>,
): Effect.Effect<void, KubeError> =>
  Effect.forEach(
    owned.filter(({ rt, object }) => rt === Deployments && Number(object.spec?.replicas ?? 0) !== 0),
    ({ informer, object }) =>
      counted(
        env.kube.patch(Deployments, object.metadata.namespace, object.metadata.name, {
          type: "merge",
          body: { spec: { replicas: 0 } },
        }),
      ).pipe(
        Effect.tap((updated) => Effect.sync(() => informer.observe(updated))),
        Effect.zipRight(Effect.logInfo(`stopped browser Deployment ${object.metadata.name}: its binding is invalid`)),
      ),
    { discard: true },
  )
