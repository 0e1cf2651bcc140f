/**
 * The operator's HTTP endpoints: /healthz (the process runs), /readyz (its
 * caches are full and the database answers), /metrics (Prometheus).
 */
import { Effect, type Scope } from "effect"
import { scrape, type Metrics } from "./metrics.ts"

export interface HttpEndpoints {
  readonly port: number
  readonly url: string
}

export interface HttpOptions {
  readonly port: number
  readonly hostname?: string
  readonly metrics: Metrics
  /** Resolves to undefined when ready, or to the reason it is not. */
  readonly readiness: () => Promise<string | undefined>
}

export const serveHttp = (options: HttpOptions): Effect.Effect<HttpEndpoints, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.try({
      try: () =>
        Bun.serve({
          port: options.port,
          hostname: options.hostname ?? "0.0.0.0",
          fetch: async (request) => {
            const { pathname } = new URL(request.url)
            switch (pathname) {
              case "/healthz":
              case "/livez":
                return new Response("ok\n")
              case "/readyz": {
                const reason = await options.readiness()
                return reason === undefined
                  ? new Response("ok\n")
                  : new Response(`not ready: ${reason}\n`, { status: 503 })
              }
              case "/metrics":
                return new Response(await scrape(options.metrics), {
                  headers: { "content-type": options.metrics.registry.contentType },
                })
              default:
                return new Response("not found\n", { status: 404 })
            }
          },
        }),
      catch: (e) => new Error(`cannot serve HTTP on port ${options.port}: ${e instanceof Error ? e.message : String(e)}`),
    }),
    (server) => Effect.promise(() => server.stop(true)),
  ).pipe(Effect.map((server) => ({ port: server.port!, url: `http://127.0.0.1:${server.port}` })))
