/**
 * Whether an operator has caught up with an API server: its work queue is
 * empty with no reconcile running, and each of its caches holds exactly the
 * objects the server has in that informer's scope, at their current
 * resourceVersions. Shared by the tests and the sandbox.
 */
import type { Controller } from "../../src/reconciler/controller.ts"
import type { Emulator } from "@awms/kube-emulator"

type Informer = Controller["informers"][number]

/** The objects of the informer's scope among `objects` (the operator's selectors are single `key=value` terms). */
const inScope = (informer: Informer, objects: ReadonlyArray<any>) => {
  const [labelKey, labelValue] = (informer.labelSelector ?? "").split("=")
  return objects.filter((o: any) => !labelKey || o.metadata.labels?.[labelKey] === labelValue)
}

const cacheMatches = (informer: Informer, truth: ReadonlyArray<any>): boolean =>
  informer.list().length === truth.length &&
  truth.every((o) => informer.get(o.metadata.namespace, o.metadata.name)?.metadata.resourceVersion === o.metadata.resourceVersion)

export function isSettled(controller: Controller, api: Pick<Emulator, "list">): boolean {
  if (!controller.ready() || !controller.idle()) return false
  for (const informer of controller.informers) {
    const rt = informer.resource
    if (!cacheMatches(informer, inScope(informer, api.list(rt.group, rt.plural, informer.namespace)))) return false
  }
  return controller.idle()
}

/** The same, reading the server's truth over HTTP (any server). */
export async function isSettledOn(
  controller: Controller,
  list: (group: string, plural: string, namespace?: string) => Promise<any[]>,
): Promise<boolean> {
  if (!controller.ready() || !controller.idle()) return false
  for (const informer of controller.informers) {
    const rt = informer.resource
    if (!cacheMatches(informer, inScope(informer, await list(rt.group, rt.plural, informer.namespace)))) return false
  }
  return controller.idle()
}
