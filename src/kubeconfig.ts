/**
 * Where the Kubernetes credentials come from, decided before a client is
 * built, as client-node's `loadFromDefault` looks: `--kubeconfig`, then
 * KUBECONFIG, then ~/.kube/config, then the pod's service account. When none
 * is there, client-node would quietly aim at http://localhost:8080 and fail
 * later with `HTTP protocol is not allowed when skipTLSVerify is not set`;
 * this says what is missing instead.
 */
import { existsSync } from "node:fs"
import { homedir } from "node:os"
import { delimiter, join } from "node:path"

export const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

export const NO_KUBECONFIG = "no kubeconfig found and not in a pod"

export interface KubeconfigLookup {
  /** The KUBECONFIG variable (default: the environment's). */
  readonly env?: string | undefined
  readonly home?: string
  readonly exists?: (path: string) => boolean
}

/** Undefined when credentials can be found; otherwise what is missing and what to do. */
export const kubeconfigProblem = (explicit: string | undefined, lookup: KubeconfigLookup = {}): string | undefined => {
  const exists = lookup.exists ?? existsSync
  if (explicit) return exists(explicit) ? undefined : `the kubeconfig ${explicit} does not exist`
  const env = "env" in lookup ? lookup.env : process.env.KUBECONFIG
  const listed = (env ?? "").split(delimiter).filter((p) => p.trim() !== "")
  if (listed.length > 0) return listed.some(exists) ? undefined : `KUBECONFIG names no file that exists (${env})`
  if (exists(join(lookup.home ?? homedir(), ".kube", "config"))) return undefined
  if (exists(SERVICE_ACCOUNT_TOKEN)) return undefined
  return `${NO_KUBECONFIG}: pass --kubeconfig PATH or set KUBECONFIG (in a pod, its service account is used)`
}
