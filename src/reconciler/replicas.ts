/**
 * One researcher, one browser: what the binding's `spec.replicas` may start.
 *
 * - above 1: held at 1, with a Warning Event (two browsers of one researcher
 *   would share one VNC password and one Guacamole connection, and cost twice);
 * - invalid (negative, not an integer): the binding is in ERROR and its
 *   browser is stopped — fail closed, never "leave what runs running".
 */
import { Effect } from "effect"
import { KubeClient, type KubeObject } from "../runtime/client.ts"
import type { EventRecorder } from "../runtime/events.ts"
import { Deployments, type ResourceType } from "../runtime/resources.ts"

/** The most browser pods one binding runs. */
const MAX_BROWSERS = 1

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
export const stopOwnedBrowser = (owned: ReadonlyArray<{ readonly rt: ResourceType; readonly object: KubeObject }>) =>
  Effect.flatMap(KubeClient, (kube) =>
    Effect.forEach(
      owned.filter(({ rt, object }) => rt === Deployments && Number(object.spec?.replicas ?? 0) !== 0),
      ({ object }) =>
        kube
          .patch(Deployments, object.metadata.namespace, object.metadata.name, { type: "merge", body: { spec: { replicas: 0 } } })
          .pipe(Effect.zipRight(Effect.logInfo(`stopped browser Deployment ${object.metadata.name}: its binding is invalid`))),
      { discard: true },
    ),
  )
