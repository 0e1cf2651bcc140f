/**
 * The one request path to the Kubernetes API server: Bun's fetch, with the
 * kubeconfig's TLS and credentials applied by us.
 *
 * client-node reads the kubeconfig and runs its authenticators (static and
 * file tokens, exec plugins, OIDC, basic auth), but it hands the TLS settings
 * to undici as a `dispatcher`, which Bun's fetch ignores: against a private CA
 * every request failed, a client certificate was never sent and
 * `insecure-skip-tls-verify` did nothing. Here the same settings become Bun's
 * own `tls` options, on a FetchSession (one keep-alive pool) per distinct TLS
 * material, so a rotated certificate or CA file is picked up by the next
 * request and the connections of the old one are closed.
 */
import { readFileSync, statSync } from "node:fs"
import type { KubeConfig } from "@kubernetes/client-node"

/** How the API server's audit log and metrics name this client. */
const USER_AGENT = "awms-guacamole-operator"

export interface TransportRequest {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
  /** Path from the server's root, e.g. /api/v1/namespaces/x/secrets/y. */
  readonly path: string
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>
  /** A JSON body. */
  readonly body?: unknown
  readonly contentType?: string
  readonly signal?: AbortSignal
}

export interface KubeTransport {
  /** The API server's URL, from the kubeconfig's current context. */
  readonly server: string
  readonly request: (request: TransportRequest) => Promise<Response>
  /** Closes idle connections. */
  readonly close: () => void
}

/** What client-node's kubeconfig logic produces for a request: TLS material and headers. */
interface AppliedOptions {
  ca?: Buffer | string
  cert?: Buffer | string
  key?: Buffer | string
  rejectUnauthorized?: boolean
  servername?: string
  headers?: Record<string, string>
  auth?: string
}

/** The kubeconfig names no usable cluster: no file was found and this is not a pod. */
export class NoKubeConfig extends Error {
  override readonly name = "NoKubeConfig"
}

/**
 * Runs client-node's kubeconfig logic for one request: the TLS material (files
 * are read again each time, so rotation is seen) and the credentials' headers
 * (its authenticators cache tokens and exec results as client-go does).
 */
const applyKubeConfig = async (kc: KubeConfig): Promise<AppliedOptions> => {
  const opts: AppliedOptions = { headers: {} }
  const tokenFile = kc.getCurrentUser()?.authProvider?.config?.tokenFile as string | undefined
  // applyOptions is the part of applyToHTTPSOptions that applies settings without
  // building a Node agent (which also refuses http:// servers Bun handles fine).
  const apply = (kc as unknown as { applyOptions?: (o: AppliedOptions) => Promise<void> }).applyOptions
  if (typeof apply === "function") await apply.call(kc, opts)
  else await kc.applyToHTTPSOptions(opts as never)
  const token = tokenFile ? tokenFromFile(tokenFile) : undefined
  if (token) opts.headers = { ...opts.headers, Authorization: `Bearer ${token}` }
  return opts
}

/**
 * In a pod the credential is the service account's token file, which the
 * kubelet rotates; client-node re-reads it only once a minute. It is read
 * again here whenever the file changes (a stat per request).
 */
const tokenFiles = new Map<string, { readonly mtimeMs: number; readonly token: string }>()
const tokenFromFile = (path: string): string | undefined => {
  try {
    const { mtimeMs } = statSync(path)
    const cached = tokenFiles.get(path)
    if (cached?.mtimeMs === mtimeMs) return cached.token
    const token = readFileSync(path, "utf8").trim()
    tokenFiles.set(path, { mtimeMs, token })
    return token
  } catch {
    return undefined
  }
}

const text = (value: Buffer | string | undefined): string | undefined =>
  value === undefined ? undefined : typeof value === "string" ? value : value.toString("utf8")

const queryString = (query: TransportRequest["query"]): string => {
  if (!query) return ""
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value))
  const s = params.toString()
  return s ? `?${s}` : ""
}

export const makeTransport = (kc: KubeConfig): KubeTransport => {
  const cluster = kc.getCurrentCluster()
  if (!cluster?.server) throw new NoKubeConfig("the kubeconfig's current context names no cluster with a server")
  const server = cluster.server.replace(/\/+$/, "")
  const proxy = cluster.proxyUrl

  // One session per distinct TLS material; replaced when the material changes.
  let session: { readonly fingerprint: string; readonly session: Bun.FetchSession } | undefined
  const sessionFor = (applied: AppliedOptions): Bun.FetchSession => {
    const tls: BunFetchRequestInitTLS = {}
    const ca = text(applied.ca)
    const cert = text(applied.cert)
    const key = text(applied.key)
    if (ca) tls.ca = ca
    if (cert) tls.cert = cert
    if (key) tls.key = key
    if (applied.rejectUnauthorized === false) tls.rejectUnauthorized = false
    if (applied.servername) tls.serverName = applied.servername
    const fingerprint = String(
      Bun.hash(`${ca ?? ""}\0${cert ?? ""}\0${key ?? ""}\0${tls.rejectUnauthorized ?? ""}\0${tls.serverName ?? ""}`),
    )
    if (session?.fingerprint !== fingerprint) {
      session?.session.close()
      session = { fingerprint, session: new Bun.FetchSession({ tls, ...(proxy ? { proxy } : {}) }) }
    }
    return session.session
  }

  const request: KubeTransport["request"] = async (r) => {
    const applied = await applyKubeConfig(kc)
    const headers: Record<string, string> = { Accept: "application/json", "User-Agent": USER_AGENT, ...applied.headers }
    if (applied.auth) headers.Authorization = `Basic ${Buffer.from(applied.auth).toString("base64")}`
    let body: string | undefined
    if (r.body !== undefined) {
      body = JSON.stringify(r.body)
      headers["Content-Type"] = r.contentType ?? "application/json"
    }
    return sessionFor(applied).fetch(`${server}${r.path}${queryString(r.query)}`, {
      method: r.method,
      headers,
      ...(body !== undefined ? { body } : {}),
      ...(r.signal ? { signal: r.signal } : {}),
    })
  }

  return { server, request, close: () => session?.session.close() }
}
