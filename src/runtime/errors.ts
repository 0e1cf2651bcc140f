/**
 * Typed Kubernetes API errors. Every failure of a Kubernetes call becomes
 * one of these, so retry policy can be chosen by type, never blanket.
 */
import { Data, Duration, Option } from "effect"

interface Detail {
  readonly message: string
  readonly code: number
}

/** 404: the object (or the resource type) does not exist. */
export class KubeNotFound extends Data.TaggedError("KubeNotFound")<Detail> {}
/** 409: stale resourceVersion, failed precondition, or AlreadyExists on create. */
export class KubeConflict extends Data.TaggedError("KubeConflict")<Detail & { readonly alreadyExists: boolean }> {}
/** 410: the watch or list resourceVersion is older than the server keeps. */
export class KubeGone extends Data.TaggedError("KubeGone")<Detail> {}
/** 401/403: the service account may not do this. Retrying will not help until RBAC changes. */
export class KubeForbidden extends Data.TaggedError("KubeForbidden")<Detail> {}
/** 400/415/422: the request itself is wrong. */
export class KubeInvalid extends Data.TaggedError("KubeInvalid")<Detail> {}
/** 429, 5xx, timeouts, dropped connections: worth retrying. */
export class KubeTransient extends Data.TaggedError("KubeTransient")<
  Detail & { readonly retryAfter: Option.Option<Duration.Duration> }
> {}

export type KubeError = KubeNotFound | KubeConflict | KubeGone | KubeForbidden | KubeInvalid | KubeTransient

const statusMessage = (body: unknown): { message?: string; reason?: string } => {
  let parsed = body
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body)
    } catch {
      return { message: body.slice(0, 500) }
    }
  }
  if (parsed && typeof parsed === "object") {
    const status = parsed as { message?: unknown; reason?: unknown }
    return {
      ...(typeof status.message === "string" ? { message: status.message } : {}),
      ...(typeof status.reason === "string" ? { reason: status.reason } : {}),
    }
  }
  return {}
}

const retryAfterOf = (headers: unknown): Option.Option<Duration.Duration> => {
  if (!headers || typeof headers !== "object") return Option.none()
  const record = headers as Record<string, unknown>
  const value = record["retry-after"] ?? record["Retry-After"]
  const seconds = typeof value === "string" ? Number.parseInt(value, 10) : typeof value === "number" ? value : NaN
  return Number.isFinite(seconds) && seconds >= 0 ? Option.some(Duration.seconds(seconds)) : Option.none()
}

/** Classifies an HTTP status (with the Status body the API server sent) as a typed error. */
export const fromStatus = (code: number, body: unknown, headers?: unknown): KubeError => {
  const { message: serverMessage, reason } = statusMessage(body)
  const message = serverMessage ?? `HTTP ${code}`
  switch (code) {
    case 404:
      return new KubeNotFound({ code, message })
    case 409:
      return new KubeConflict({ code, message, alreadyExists: reason === "AlreadyExists" })
    case 410:
      return new KubeGone({ code, message })
    case 401:
    case 403:
      return new KubeForbidden({ code, message })
    case 400:
    case 405:
    case 415:
    case 422:
      return new KubeInvalid({ code, message })
    default:
      return new KubeTransient({ code, message, retryAfter: retryAfterOf(headers) })
  }
}

/** No answer from the API server (a connection refused, reset or left unanswered): worth retrying. */
export const noAnswer = (message: string): KubeTransient => new KubeTransient({ code: 0, message, retryAfter: Option.none() })

/** Anything a client-node call can throw, classified. */
export const fromUnknown = (error: unknown): KubeError => {
  if (error && typeof error === "object") {
    const e = error as { code?: unknown; statusCode?: unknown; body?: unknown; headers?: unknown; message?: unknown }
    const code = typeof e.code === "number" ? e.code : typeof e.statusCode === "number" ? e.statusCode : undefined
    if (code !== undefined && code >= 400) return fromStatus(code, e.body ?? e.message, e.headers)
  }
  return noAnswer(error instanceof Error ? `${error.name}: ${error.message}` : String(error))
}
