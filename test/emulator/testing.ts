/** Helpers shared by the emulator's conformance tests. */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { parse } from "yaml"
import { waitFor as waitUntil } from "../support/wait.ts"

/** The project's waitFor, with the emulator suite's defaults (5 s deadline, 10 ms polling) and its `what` wording. */
export const waitFor = <T>(
  fn: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> =>
  waitUntil(fn as () => T | undefined | false | Promise<T | undefined | false>, {
    timeoutMs: opts.timeoutMs ?? 5000,
    intervalMs: opts.intervalMs ?? 10,
    message: opts.what ?? "condition",
  })

/** The fixture directory beside the repository (absent in a bare clone). */
export const FIXTURES = join(import.meta.dir, "..", "..", "..", "shared", "fixtures")
export const HAVE_FIXTURES = existsSync(join(FIXTURES, "crds"))

export function fixtureCRD(name: string): any {
  return parse(readFileSync(join(FIXTURES, "crds", `${name}.xlscsde.nhs.uk.yaml`), "utf8"))
}

/** A CRD of our own exercising the emulator's custom-resource features. */
export function widgetCRD(): any {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: "widgets.example.com" },
    spec: {
      group: "example.com",
      scope: "Namespaced",
      names: { plural: "widgets", singular: "widget", kind: "Widget", shortNames: ["wd"], categories: ["gadgets"] },
      versions: [
        {
          name: "v1",
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: "object",
              properties: {
                spec: {
                  type: "object",
                  required: ["size"],
                  properties: {
                    size: { type: "string", enum: ["small", "large"] },
                    replicas: { type: "integer", default: 1 },
                    colour: { type: "string", default: "blue" },
                    code: { type: "string", pattern: "^[a-z]+$" },
                    free: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
                  },
                },
                status: {
                  type: "object",
                  properties: { phase: { type: "string" }, replicas: { type: "integer" }, selector: { type: "string" } },
                },
              },
            },
          },
          subresources: {
            status: {},
            scale: { specReplicasPath: ".spec.replicas", statusReplicasPath: ".status.replicas", labelSelectorPath: ".status.selector" },
          },
          additionalPrinterColumns: [
            { name: "Size", type: "string", jsonPath: ".spec.size" },
            { name: "Phase", type: "string", jsonPath: ".status.phase" },
          ],
        },
      ],
    },
  }
}

export function widget(name: string, spec: Record<string, unknown> = { size: "small" }, extra: Record<string, unknown> = {}): any {
  return { apiVersion: "example.com/v1", kind: "Widget", metadata: { name, ...extra }, spec }
}

/** A server raw HTTP reaches: the emulator's URL, or an HTTPS server with the client certificate and CA to use. */
export interface HttpTarget {
  readonly url: string
  readonly tls?: { readonly ca: string; readonly cert: string; readonly key: string }
}

/** Raw HTTP against the emulator, or against a target with TLS (for what client-node hides). */
export async function http(
  base: string | HttpTarget,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const target = typeof base === "string" ? { url: base } : base
  base = target.url
  const init: RequestInit & { tls?: HttpTarget["tls"] } = { method, headers: { Accept: "application/json", ...headers } }
  if (target.tls) init.tls = target.tls
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body)
    ;(init.headers as Record<string, string>)["Content-Type"] ??= "application/json"
  }
  const res = await fetch(base + path, init)
  const text = await res.text()
  let parsed: any = text
  try {
    parsed = JSON.parse(text)
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, headers: res.headers }
}

/** Reads a watch stream's events until `until` says stop (or the stream ends). */
export async function readWatch(
  base: string | HttpTarget,
  path: string,
  until: (events: any[]) => boolean,
  opts: { timeoutMs?: number; onOpen?: () => unknown } = {},
): Promise<{ events: any[]; ended: boolean }> {
  const ctrl = new AbortController()
  const timer = setTimeout(() => ctrl.abort(), opts.timeoutMs ?? 5000)
  const events: any[] = []
  let ended = false
  try {
    const target = typeof base === "string" ? { url: base } : base
    const res = await fetch(target.url + path, { signal: ctrl.signal, ...(target.tls ? { tls: target.tls } : {}) } as RequestInit)
    const reader = res.body!.getReader()
    const dec = new TextDecoder()
    let buf = ""
    await opts.onOpen?.()
    for (;;) {
      if (until(events)) break
      const { value, done } = await reader.read()
      if (done) {
        ended = true
        break
      }
      buf += dec.decode(value, { stream: true })
      let i: number
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        if (line.trim()) events.push(JSON.parse(line))
      }
    }
    ctrl.abort()
  } catch (e) {
    if (!ctrl.signal.aborted) throw e
    if (!until(events)) throw new Error(`watch ${path} timed out with ${events.length} events: ${JSON.stringify(events.map((e) => e.type))}`)
  } finally {
    clearTimeout(timer)
  }
  return { events, ended }
}

/** Awaits a client-node call that must fail; returns the Status body. */
export async function apiError(p: Promise<unknown>): Promise<{ code: number; status: any }> {
  try {
    await p
  } catch (e: any) {
    if (typeof e?.code !== "number") throw e
    let status = e.body
    if (typeof status === "string") {
      try {
        status = JSON.parse(status)
      } catch {
        // keep text
      }
    }
    return { code: e.code, status }
  }
  throw new Error("expected the request to fail")
}
