/**
 * Whether an operator has caught up with an API server: its work queue is
 * empty with no reconcile running, and each of its caches holds exactly the
 * objects the server has in that informer's scope, at their current
 * resourceVersions. Shared by the tests and the sandbox.
 */
import type { Controller } from "../../src/controller/controller.ts"
import type { Emulator } from "@awms/kube-emulator"

export function isSettled(controller: Controller, api: Pick<Emulator, "list">): boolean {
  if (!controller.ready() || !controller.idle()) return false
  for (const informer of controller.informers) {
    const rt = informer.resource
    // The operator's selectors are single `key=value` terms.
    const [labelKey, labelValue] = (informer.labelSelector ?? "").split("=")
    const truth = api
      .list(rt.group, rt.plural, informer.namespace)
      .filter((o: any) => !labelKey || o.metadata.labels?.[labelKey] === labelValue)
    if (informer.list().length !== truth.length) return false
    for (const o of truth) {
      if (informer.get(o.metadata.namespace, o.metadata.name)?.metadata.resourceVersion !== o.metadata.resourceVersion) {
        return false
      }
    }
  }
  return controller.idle()
}
