/** `Status` objects with the reasons and codes kube-apiserver answers with. */

export interface StatusCause {
  reason?: string
  message?: string
  field?: string
}

export interface StatusDetails {
  name?: string
  group?: string
  kind?: string
  uid?: string
  causes?: StatusCause[]
  retryAfterSeconds?: number
}

/** A failed request: `status` is the Status body, `headers` extra response headers. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }

  toStatus(): Record<string, unknown> {
    const s: Record<string, unknown> = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: this.message,
      reason: this.reason,
    }
    if (this.details) s.details = this.details
    s.code = this.code
    return s
  }
}

/** `deployments.apps`, or `configmaps` for the core group. */
export function qualifiedResource(group: string, resource: string): string {
  return group ? `${resource}.${group}` : resource
}

function details(group: string, resource: string, name: string): StatusDetails {
  const d: StatusDetails = { name }
  if (group) d.group = group
  d.kind = resource
  return d
}

export const Errors = {
  notFound(group: string, resource: string, name: string): ApiError {
    return new ApiError(404, "NotFound", `${qualifiedResource(group, resource)} "${name}" not found`, details(group, resource, name))
  },
  /** The answer for a path the server does not serve. */
  pathNotFound(): ApiError {
    return new ApiError(404, "NotFound", "the server could not find the requested resource", {})
  },
  alreadyExists(group: string, resource: string, name: string): ApiError {
    return new ApiError(409, "AlreadyExists", `${qualifiedResource(group, resource)} "${name}" already exists`, details(group, resource, name))
  },
  conflict(group: string, resource: string, name: string, why: string): ApiError {
    return new ApiError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${qualifiedResource(group, resource)} "${name}": ${why}`,
      details(group, resource, name),
    )
  },
  modified(group: string, resource: string, name: string): ApiError {
    return Errors.conflict(
      group,
      resource,
      name,
      "the object has been modified; please apply your changes to the latest version and try again",
    )
  },
  /** 422; `kind` is the Kind (GroupKind string is built here), causes carry `field` and the error body. */
  invalid(group: string, kind: string, name: string, causes: StatusCause[]): ApiError {
    const gk = group ? `${kind}.${group}` : kind
    const msgs = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : `${c.message}`))
    const agg = msgs.length === 1 ? msgs[0] : `[${msgs.join(", ")}]`
    const d: StatusDetails = { name }
    if (group) d.group = group
    d.kind = kind
    d.causes = causes
    return new ApiError(422, "Invalid", `${gk} "${name}" is invalid: ${agg}`, d)
  },
  badRequest(message: string): ApiError {
    return new ApiError(400, "BadRequest", message)
  },
  forbidden(group: string, resource: string, name: string, why: string, causes?: StatusCause[]): ApiError {
    const d = details(group, resource, name)
    if (causes) d.causes = causes
    return new ApiError(403, "Forbidden", `${qualifiedResource(group, resource)} "${name}" is forbidden: ${why}`, d)
  },
  methodNotAllowed(method: string): ApiError {
    return new ApiError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`, {})
  },
  unsupportedMediaType(contentType: string, accepted: string[]): ApiError {
    return new ApiError(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")}`,
    )
  },
  gone(message: string): ApiError {
    return new ApiError(410, "Expired", message)
  },
  tooManyRequests(message: string, retryAfterSeconds: number): ApiError {
    return new ApiError(429, "TooManyRequests", message, { retryAfterSeconds }, { "Retry-After": String(retryAfterSeconds) })
  },
  internal(message: string): ApiError {
    return new ApiError(500, "InternalError", `Internal error occurred: ${message}`, { causes: [{ message }] })
  },
  unavailable(message: string): ApiError {
    return new ApiError(503, "ServiceUnavailable", message)
  },
}
