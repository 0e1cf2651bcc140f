/**
 * The chart on the real control plane: helm against it, the environment the kubelet would give
 * the chart's operator container, and the operator run in this process with that configuration
 * and the chart's ServiceAccount token.
 */
import type { KubeConfig } from "@kubernetes/client-node"
import { ConfigProvider, Effect, Either, Exit, Layer, Logger, LogLevel, Scope } from "effect"
import { formatConfigError, readConfig, type OperatorConfig } from "../../src/config.ts"
import type { KubeClientService } from "../../src/runtime/client.ts"
import { Secrets } from "../../src/runtime/resources.ts"
import { runOperator } from "../../src/operator.ts"
import type { ControlPlane } from "../support/control-plane.ts"
import { helmAsync } from "./helm.ts"

/** helm against the control plane; throws helm's message when it fails. */
export const helmOn = async (plane: ControlPlane, args: ReadonlyArray<string>): Promise<string> => {
  const r = await helmAsync([...args, "--kubeconfig", plane.kubeconfigPath])
  if (r.status !== 0) throw new Error(`helm ${args.join(" ")} failed: ${r.stderr.trim()}`)
  return r.stdout
}

/** The container's environment as the kubelet resolves it: values, Secret keys read from the cluster, the pod's fields. */
export const containerEnvironment = async (
  admin: KubeClientService,
  deployment: any,
  container: any,
): Promise<Map<string, string>> => {
  const namespace: string = deployment.metadata.namespace
  const env = new Map<string, string>()
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env.set(e.name, e.value)
    else if (e.valueFrom?.secretKeyRef) {
      const { name, key } = e.valueFrom.secretKeyRef
      const secret = await Effect.runPromise(admin.get(Secrets, namespace, name))
      env.set(e.name, Buffer.from((secret as any).data[key], "base64").toString("utf8"))
    } else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.name") env.set(e.name, `${deployment.metadata.name}-0`)
    else if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") env.set(e.name, namespace)
    else throw new Error(`cannot resolve env ${e.name}: ${JSON.stringify(e.valueFrom)}`)
  }
  return env
}

export const configFrom = (env: Map<string, string>): OperatorConfig => {
  const config = readConfig(ConfigProvider.fromMap(env))
  if (Either.isLeft(config)) throw new Error(formatConfigError(config.left))
  return config.right
}

/** Runs the operator in this process (the production code path) until the returned stop is called. */
export const runOperatorWith = async (config: OperatorConfig, kubeConfig: KubeConfig): Promise<() => Promise<void>> => {
  const scope = Effect.runSync(Scope.make())
  const quiet = Layer.merge(Logger.json, Logger.minimumLogLevel(process.env.TEST_LOG_LEVEL === "debug" ? LogLevel.Debug : LogLevel.None))
  await Effect.runPromise(Scope.extend(runOperator(config, { kubeConfig }), scope).pipe(Effect.provide(quiet)))
  return () => Effect.runPromise(Scope.close(scope, Exit.void))
}
