/** Shared test data for the domain tests: a decoded binding and settings. */
import { Either } from "effect"
import { type Binding, decodeBinding } from "../../src/domain/binding.ts"
import { defaultBrowserPod } from "../../src/domain/browser-pod.ts"
import type { WorkloadSettings } from "../../src/domain/desired.ts"

export const settings: WorkloadSettings = {
  namespace: "guacamole",
  imageName: "lscsde/browser:1.2.3",
  browserUrl: "https://jupyter.example.org/",
  operatorName: "awms-guacamole-operator",
  pod: defaultBrowserPod
}

export const bindingOf = (
  spec: Record<string, unknown> = {},
  metadata: Record<string, unknown> = {}
): Binding => {
  const r = decodeBinding({
    metadata: { name: "alice-ws1", namespace: "jupyterhub", uid: "uid-1", resourceVersion: "7", ...metadata },
    spec: { workspace: "ws1", username: "alice", replicas: 1, expires: "2030-12-31", ...spec }
  })
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

export const DEPLOYMENT = "cee3c61f22f5523cab33ca6ab9cfc699"
