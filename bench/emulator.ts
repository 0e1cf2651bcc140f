/**
 * The benchmark's emulator, as its own process so that its CPU time is its
 * own: the API server the tests use (test/support/servers.ts: the project's
 * CRD, the operator's namespaces, deploy/rbac.yaml enforced for the
 * operator's service account), with the Deployment status simulator on.
 * Prints `emulator ready: KUBECONFIG=<admin> OPERATOR_KUBECONFIG=<operator>`,
 * then answers the benchmark over IPC: the operator's requests since an
 * index, and switching the simulator. Stops on SIGTERM.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, loadYaml, projectCrdPath } from "../test/support/operator.ts"
import { OPERATOR_USER, startServer } from "../test/support/servers.ts"

export type EmulatorQuery = { readonly op: "requests"; readonly since: number } | { readonly op: "workloads"; readonly enabled: boolean }
/** One request of the operator: verb, resource (with /subresource), when (ms since the epoch). */
export type CompactRequest = readonly [verb: string, resource: string, at: number]
export type EmulatorAnswer = { readonly next: number; readonly requests: ReadonlyArray<CompactRequest> } | { readonly ok: true }

const server = await startServer("emulator", {
  namespaces: ["default", GUACAMOLE_NAMESPACE, BINDING_NAMESPACE],
  crds: [loadYaml(projectCrdPath)],
  emulator: { workloads: { enabled: true, delayMs: 0 } },
})
const api = server.emulator!
const dir = mkdtempSync(join(tmpdir(), "bench-emulator-"))
const operatorKubeconfig = join(dir, "operator.kubeconfig")
writeFileSync(operatorKubeconfig, (await server.operatorKubeConfig()).exportConfig(), { mode: 0o600 })

process.on("message", (query: EmulatorQuery) => {
  if (query.op === "workloads") {
    api.workloads.setEnabled(query.enabled)
    process.send!({ ok: true } satisfies EmulatorAnswer)
    return
  }
  const all = api.requests.all()
  const requests: CompactRequest[] = []
  for (let i = query.since; i < all.length; i++) {
    const r = all[i]!
    if (r.user === OPERATOR_USER) requests.push([r.verb, r.subresource ? `${r.resource}/${r.subresource}` : r.resource, r.at])
  }
  process.send!({ next: all.length, requests } satisfies EmulatorAnswer)
})

console.log(`emulator ready: KUBECONFIG=${server.kubeconfigPath} OPERATOR_KUBECONFIG=${operatorKubeconfig}`)
const stop = async () => {
  await server.stop()
  process.exit(0)
}
process.on("SIGTERM", () => void stop())
process.on("SIGINT", () => void stop())
