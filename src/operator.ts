/**
 * The operator assembled: Kubernetes client, Guacamole database pool, HTTP
 * endpoints and the binding controller, each a scoped resource, so closing
 * the scope stops the workers and watches, then the HTTP server, then the
 * database pool.
 */
import { hostname } from "node:os"
import type { KubeConfig } from "@kubernetes/client-node"
import { Duration, Effect, Layer, type Scope } from "effect"
import { OPERATOR_NAME, type OperatorConfig } from "./config.ts"
import { startController, type Controller, type ControllerOptions } from "./reconciler/controller.ts"
import { makeInstallationHealth } from "./reconciler/classify.ts"
import * as GuacamoleDbModule from "./guacamole/db.ts"
import { serveHttp, type HttpEndpoints } from "./http/server.ts"
import { makeMetrics, type Metrics } from "./http/metrics.ts"
import * as KubeClientModule from "./runtime/client.ts"
import { acquireLeadership, defaultTimings } from "./runtime/leader.ts"

export { OPERATOR_NAME }

/** /readyz waits at most this long for the database (kubelet's default probe timeout is 1 second). */
const READINESS_PING_TIMEOUT = Duration.millis(800)

export interface OperatorHandle {
  readonly controller: Controller
  readonly http: HttpEndpoints
  readonly metrics: Metrics
  /** Runs as long as the operator may run: fails when leadership is lost. */
  readonly done: Effect.Effect<never, Error>
}

export interface OperatorOptions extends Partial<Omit<ControllerOptions, "metrics">> {
  /** Use this KubeConfig instead of loading one (tests, the sandbox). */
  readonly kubeConfig?: KubeConfig
  readonly metrics?: Metrics
}

export const runOperator = (
  config: OperatorConfig,
  options: OperatorOptions = {},
): Effect.Effect<OperatorHandle, Error, Scope.Scope> =>
  Effect.gen(function* () {
    const metrics = options.metrics ?? makeMetrics({ defaultMetrics: true })
    const kubeLayer = options.kubeConfig
      ? KubeClientModule.layerFromConfig(options.kubeConfig)
      : KubeClientModule.layer(config.kubeconfig)
    const context = yield* Layer.build(Layer.merge(kubeLayer, GuacamoleDbModule.layer(config.db)))
    const db = yield* Effect.provide(GuacamoleDbModule.GuacamoleDb, context)

    let controller: Controller | undefined
    const installation = makeInstallationHealth()
    const http = yield* serveHttp({
      port: config.httpPort,
      metrics,
      readiness: async () => {
        const problem = installation.current()
        if (problem !== undefined) return problem
        if (!controller?.ready()) return "caches are still being filled"
        // Bounded: with every pool connection waiting on a lock, the probe still answers.
        const ping = await Effect.runPromise(
          Effect.either(db.ping).pipe(Effect.timeoutTo({ duration: READINESS_PING_TIMEOUT, onTimeout: () => "timeout" as const, onSuccess: (r) => r })),
        )
        if (ping === "timeout") return `the Guacamole database does not answer within ${Duration.format(READINESS_PING_TIMEOUT)}`
        return ping._tag === "Left" ? `the Guacamole database does not answer: ${ping.left.message}` : undefined
      },
    })
    yield* Effect.logInfo(`serving /healthz, /readyz and /metrics on port ${http.port}`)

    let done: Effect.Effect<never, Error> = Effect.never
    if (config.leaderElection) {
      const leadership = yield* acquireLeadership({
        namespace: config.workload.namespace,
        name: OPERATOR_NAME,
        identity: config.podName ?? hostname(),
        ...defaultTimings,
      }).pipe(Effect.provide(context))
      done = leadership.lost.pipe(Effect.flatMap((reason) => Effect.fail(new Error(`lost leadership: ${reason}`))))
    }

    controller = yield* startController(
      {
        workload: config.workload,
        watchNamespaces: config.watchNamespaces,
        concurrency: config.concurrency,
        resyncInterval: config.resyncInterval,
        verifyInterval: config.verifyInterval,
        watchTimeoutSeconds: config.watchTimeoutSeconds,
        watchIdleTimeout: config.watchIdleTimeout,
        idle: config.idle,
        instance: config.podName ?? hostname(),
      },
      { ...options, metrics, installation },
    ).pipe(Effect.provide(context))
    return { controller, http, metrics, done }
  })
