/**
 * The client reconcilers are given: reads go wherever they are sent, writes
 * go to the server and then into the cache of their resource type, so a
 * reconcile reads back what it wrote and the watch's echo of it is not taken
 * for news (./store.ts). Writes to a cached type are counted on the fiber
 * that makes them (`countWrites`), which is how the controller reports the
 * writes of each reconcile.
 */
import { Effect, FiberRef } from "effect"
import type { KubeClientService, KubeObject } from "./client.ts"
import type { KubeError } from "./errors.ts"
import type { ResourceType } from "./resources.ts"
import type { Writer } from "./store.ts"

const writeCount = FiberRef.unsafeMake<{ writes: number } | undefined>(undefined)

/** Runs `effect`, returning its result and the number of cached writes it made. */
export const countWrites = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<[A, number], E, R> =>
  Effect.suspend(() => {
    const counter = { writes: 0 }
    return Effect.locally(effect, writeCount, counter).pipe(Effect.map((a) => [a, counter.writes] as [A, number]))
  })

export const writeThrough = (
  client: KubeClientService,
  writerFor: (rt: ResourceType, namespace: string | undefined) => Writer | undefined,
): KubeClientService => {
  const write = <A>(
    rt: ResourceType,
    namespace: string | undefined,
    name: string,
    effect: Effect.Effect<A, KubeError>,
    result: (a: A) => KubeObject | "deleted" | undefined,
  ): Effect.Effect<A, KubeError> => {
    const writer = writerFor(rt, namespace)
    if (!writer) return effect
    return Effect.suspend(() => {
      const end = writer.writing(namespace, name)
      return effect.pipe(
        Effect.tap(() => FiberRef.get(writeCount).pipe(Effect.map((c) => void (c && c.writes++)))),
        Effect.onExit((exit) =>
          Effect.sync(() =>
end(exit._tag === "Success" ? result(exit.value) : undefined),
          ),
        ),
      )
    })
  }
  return {
    ...client,
    create: (rt, namespace, body, options) =>
      options?.dryRun
        ? client.create(rt, namespace, body, options)
        : write(rt, namespace, (body as KubeObject).metadata?.name ?? "", client.create(rt, namespace, body, options), (o) => o),
    replace: (rt, namespace, body) => write(rt, namespace, body.metadata.name, client.replace(rt, namespace, body), (o) => o),
    // The scale subresource answers with a Scale, not the object.
    patch: (rt, namespace, name, patch, subresource) =>
      write(rt, namespace, name, client.patch(rt, namespace, name, patch, subresource), (o) =>
        subresource === "scale" ? undefined : o,
      ),
    delete: (rt, namespace, name, options) =>
      write(
        rt,
        namespace,
        name,
        client.delete(rt, namespace, name, options).pipe(
          // Gone already: for the cache, the same as deleted now.
          Effect.catchTag("KubeNotFound", () => Effect.succeed("gone" as const)),
        ),
        () => "deleted",
      ).pipe(Effect.asVoid),
  }
}
