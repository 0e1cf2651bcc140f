/**
 * Authentication and RBAC authorisation for the emulator, off unless
 * `startEmulator({ auth })` asks for it.
 *
 * Authentication: bearer tokens only. The emulator's own token (the admin
 * kubeconfig) is the user `kubernetes-admin` in group `system:masters`, which
 * is always allowed, as on a kubeadm cluster; `auth.users` adds tokens. Every
 * authenticated user is in `system:authenticated`; a user named
 * `system:serviceaccount:<ns>:<name>` is also in `system:serviceaccounts` and
 * `system:serviceaccounts:<ns>`, as the service-account token authenticator
 * adds them. A request without a known token gets 401 Unauthorized (anonymous
 * requests are not supported), discovery included.
 *
 * Authorisation (`enforceRbac`): the stored rbac.authorization.k8s.io/v1
 * Roles, ClusterRoles, RoleBindings and ClusterRoleBindings are evaluated as
 * kube-apiserver's RBAC authorizer does: verbs (`*`), apiGroups (`""`, `*`),
 * resources (`*`, `resource/subresource`, `*∕subresource`), resourceNames;
 * subjects of kind User, Group and ServiceAccount. A RoleBinding grants only
 * in its namespace; a ClusterRoleBinding everywhere. A request for a
 * namespace object (`/api/v1/namespaces/<n>`) is authorised in the namespace
 * <n>, as the real request-info resolver does. Refusals are 403 with the real
 * message. Discovery and other non-resource paths are allowed to every
 * authenticated user (`system:discovery`); nonResourceURLs rules are not
 * evaluated. Aggregated ClusterRoles are not aggregated.
 *
 * authentication.k8s.io/v1 SelfSubjectReview (`kubectl auth whoami`),
 * authorization.k8s.io/v1 SelfSubjectAccessReview and SelfSubjectRulesReview
 * are answered whatever RBAC says (every authenticated user may create them,
 * as `system:basic-user` grants on a real cluster); with auth off every
 * review answers allowed.
 *
 * Not reproduced: 403 before 404 (the emulator routes first, so a path it does
 * not serve answers 404 even to a user who may not use it), impersonation,
 * client certificates, the Node and webhook authorizers.
 */
import type { Api } from "./api.ts"
import { ApiError, Errors } from "./errors.ts"
import type { RequestAttributes } from "./faults.ts"

export interface AuthUser {
  username: string
  groups?: string[]
}

export interface AuthOptions {
  /** token → user */
  users: Record<string, AuthUser>
  /** Authorise every request by the stored RBAC objects (default false: authenticated = allowed). */
  enforceRbac?: boolean
}

export interface UserInfo {
  readonly username: string
  readonly groups: readonly string[]
}

export interface PolicyRule {
  verbs: string[]
  apiGroups?: string[]
  resources?: string[]
  resourceNames?: string[]
  nonResourceURLs?: string[]
}

export interface Decision {
  readonly allowed: boolean
  /** Why, in the real authorizer's words ("" when nothing grants it). */
  readonly reason: string
}

export const ADMIN_USER: UserInfo = { username: "kubernetes-admin", groups: ["system:masters", "system:authenticated"] }

const RBAC = "rbac.authorization.k8s.io"
const AUTHZ = "authorization.k8s.io"
const SA_PREFIX = "system:serviceaccount:"

/** What `system:basic-user` grants every authenticated user (the part the emulator serves). */
const BASIC_USER_RULES: PolicyRule[] = [
  { verbs: ["create"], apiGroups: [AUTHZ], resources: ["selfsubjectaccessreviews", "selfsubjectrulesreviews"] },
  { verbs: ["create"], apiGroups: ["authentication.k8s.io"], resources: ["selfsubjectreviews"] },
]

/** A user as the authenticators would present it: the implied groups added. */
export function userInfo(user: AuthUser): UserInfo {
  const groups = [...(user.groups ?? [])]
  const add = (g: string) => {
    if (!groups.includes(g)) groups.push(g)
  }
  if (user.username.startsWith(SA_PREFIX)) {
    const ns = user.username.slice(SA_PREFIX.length).split(":")[0]!
    add("system:serviceaccounts")
    add(`system:serviceaccounts:${ns}`)
  }
  add("system:authenticated")
  return { username: user.username, groups }
}

/** `system:serviceaccount:<namespace>:<name>` */
export function serviceAccountUsername(namespace: string, name: string): string {
  return `${SA_PREFIX}${namespace}:${name}`
}

/** The attributes RBAC decides on (a SelfSubjectAccessReview's resourceAttributes). */
export interface ResourceAttributes {
  verb: string
  group: string
  resource: string
  subresource?: string
  namespace?: string
  name?: string
}

const has = (list: string[] | undefined, value: string): boolean => (list ?? []).some((x) => x === "*" || x === value)

function resourceMatches(rule: PolicyRule, resource: string, subresource: string | undefined): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource
  for (const r of rule.resources ?? []) {
    if (r === "*" || r === combined) return true
    if (subresource && r === `*/${subresource}`) return true
  }
  return false
}

/** One rule against one request, as rbac's RuleAllows. */
export function ruleAllows(rule: PolicyRule, a: ResourceAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false
  if (!has(rule.apiGroups, a.group)) return false
  if (!resourceMatches(rule, a.resource, a.subresource)) return false
  const names = rule.resourceNames ?? []
  return names.length === 0 || (a.name !== undefined && a.name !== "" && names.includes(a.name))
}

interface Subject {
  kind: string
  name: string
  namespace?: string
  apiGroup?: string
}

function subjectMatches(s: Subject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  switch (s.kind) {
    case "User":
      return s.name === user.username
    case "Group":
      return user.groups.includes(s.name)
    case "ServiceAccount": {
      const ns = s.namespace || bindingNamespace
      return ns !== undefined && user.username === serviceAccountUsername(ns, s.name)
    }
    default:
      return false
  }
}

function describeSubject(s: Subject, bindingNamespace: string | undefined): string {
  if (s.kind === "ServiceAccount") return `${s.kind} "${s.name}/${s.namespace || bindingNamespace || ""}"`
  return `${s.kind} "${s.name}"`
}

interface Grant {
  /** "ClusterRoleBinding "x" of ClusterRole "y" to User "u"", as the RBAC authorizer's reasons name it */
  source: string
  rules: PolicyRule[]
}

export class Auth {
  private readonly users = new Map<string, UserInfo>()
  private readonly seen = new WeakMap<Request, UserInfo>()

  constructor(
    private readonly api: Api,
    readonly options: AuthOptions | undefined,
    adminToken: string,
  ) {
    if (options) {
      this.users.set(adminToken, ADMIN_USER)
      for (const [token, user] of Object.entries(options.users)) this.users.set(token, userInfo(user))
    }
  }

  get enabled(): boolean {
    return this.options !== undefined
  }

  /** The user a request authenticates as; 401 Unauthorized without a known bearer token (auth on). */
  authenticate(req: Request): UserInfo {
    if (!this.options) return ADMIN_USER
    const header = req.headers.get("authorization") ?? ""
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
    const user = m ? this.users.get(m[1]!) : undefined
    if (!user) throw new ApiError(401, "Unauthorized", "Unauthorized")
    this.seen.set(req, user)
    return user
  }

  /** Throws the real 403 when RBAC does not allow the request. */
  authorize(attrs: RequestAttributes, req: Request): void {
    if (!this.options?.enforceRbac) return
    const user = this.seen.get(req) ?? this.authenticate(req)
    const a = requestAttributes(attrs)
    if (this.decide(user, a).allowed) return
    throw forbidden(user, a)
  }

  /** The RBAC decision for `user` (system:masters always allowed; auth off: everything). */
  decide(user: UserInfo, a: ResourceAttributes): Decision {
    if (!this.options || user.groups.includes("system:masters")) return { allowed: true, reason: "" }
    if (BASIC_USER_RULES.some((r) => ruleAllows(r, a))) {
      return { allowed: true, reason: 'RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole "system:basic-user" to Group "system:authenticated"' }
    }
    if (!this.options.enforceRbac) return { allowed: true, reason: "" }
    for (const g of this.grants(user, a.namespace)) {
      if (g.rules.some((r) => ruleAllows(r, a))) return { allowed: true, reason: `RBAC: allowed by ${g.source}` }
    }
    return { allowed: false, reason: "" }
  }

  /** The rules that apply to `user` in `namespace` (cluster-wide ones when undefined). */
  rulesFor(user: UserInfo, namespace: string | undefined): PolicyRule[] {
    if (!this.options || user.groups.includes("system:masters") || !this.options.enforceRbac) {
      return [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"] }]
    }
    return [...BASIC_USER_RULES, ...this.grants(user, namespace).flatMap((g) => g.rules)]
  }

  private stored(resource: string, namespace?: string): any[] {
    const type = this.api.registry.byResource(RBAC, resource)
    if (!type) return []
    return this.api.store.list(this.api.gr(type), namespace).map(({ obj }) => obj)
  }

  private role(kind: string, name: string, namespace: string | undefined): any | undefined {
    if (kind === "ClusterRole") return this.stored("clusterroles").find((r) => r.metadata?.name === name)
    if (kind === "Role" && namespace) return this.stored("roles", namespace).find((r) => r.metadata?.name === name)
    return undefined
  }

  private grants(user: UserInfo, namespace: string | undefined): Grant[] {
    const out: Grant[] = []
    const collect = (binding: any, clusterWide: boolean) => {
      const ns: string | undefined = clusterWide ? undefined : binding.metadata?.namespace
      const subject = ((binding.subjects ?? []) as Subject[]).find((s) => subjectMatches(s, user, ns))
      if (!subject) return
      const ref = binding.roleRef ?? {}
      if (clusterWide && ref.kind !== "ClusterRole") return
      const role = this.role(ref.kind, ref.name, ns)
      if (!role) return
      const bindingName = clusterWide ? binding.metadata.name : `${binding.metadata.name}/${ns}`
      out.push({
        source: `${clusterWide ? "ClusterRoleBinding" : "RoleBinding"} "${bindingName}" of ${ref.kind} "${ref.name}" to ${describeSubject(subject, ns)}`,
        rules: (role.rules ?? []) as PolicyRule[],
      })
    }
    for (const b of this.stored("clusterrolebindings")) collect(b, true)
    if (namespace) for (const b of this.stored("rolebindings", namespace)) collect(b, false)
    return out
  }

  /** Answers the access reviews (POST only; routing has already checked the verb). */
  intercept(attrs: RequestAttributes, req: Request, body: string): Response | undefined {
    if (attrs.group === "authentication.k8s.io" && attrs.resource === "selfsubjectreviews" && attrs.verb === "create") {
      // `kubectl auth whoami`: who the request authenticated as.
      const user = this.seen.get(req) ?? this.authenticate(req)
      const userInfo: Record<string, unknown> = { username: user.username }
      if (user.groups.length) userInfo.groups = user.groups
      return Response.json(
        { kind: "SelfSubjectReview", apiVersion: "authentication.k8s.io/v1", metadata: { creationTimestamp: null }, status: { userInfo } },
        { status: 201 },
      )
    }
    if (attrs.group !== AUTHZ || attrs.verb !== "create") return undefined
    if (attrs.resource !== "selfsubjectaccessreviews" && attrs.resource !== "selfsubjectrulesreviews") return undefined
    const user = this.seen.get(req) ?? this.authenticate(req)
    let review: any
    try {
      review = body.trim() === "" ? undefined : JSON.parse(body)
    } catch (e) {
      throw Errors.badRequest(`the body of the request could not be decoded as JSON: ${(e as Error).message}`)
    }
    if (typeof review !== "object" || review === null || Array.isArray(review)) {
      throw Errors.badRequest("the body of the request was not a JSON object")
    }
    const spec = typeof review.spec === "object" && review.spec !== null ? review.spec : {}
    const base = {
      kind: attrs.resource === "selfsubjectaccessreviews" ? "SelfSubjectAccessReview" : "SelfSubjectRulesReview",
      apiVersion: `${AUTHZ}/v1`,
      metadata: { creationTimestamp: null, ...(review.metadata ?? {}) },
      spec,
    }
    if (attrs.resource === "selfsubjectaccessreviews") {
      const ra = spec.resourceAttributes
      const nra = spec.nonResourceAttributes
      if ((ra === undefined) === (nra === undefined)) {
        throw Errors.invalid(AUTHZ, "SelfSubjectAccessReview", "", [
          {
            reason: "FieldValueInvalid",
            field: "spec.resourceAttributes",
            message: `Invalid value: ${JSON.stringify(ra ?? null)}: exactly one of nonResourceAttributes or resourceAttributes must be specified`,
          },
        ])
      }
      let decision: Decision
      if (ra !== undefined) {
        decision = this.decide(user, {
          verb: String(ra.verb ?? ""),
          group: String(ra.group ?? ""),
          resource: String(ra.resource ?? ""),
          subresource: ra.subresource ? String(ra.subresource) : undefined,
          namespace: ra.namespace ? String(ra.namespace) : undefined,
          name: ra.name ? String(ra.name) : undefined,
        })
      } else {
        // Non-resource URLs are not evaluated: authenticated users may use discovery.
        const allowed = !this.options?.enforceRbac || user.groups.includes("system:masters")
        decision = { allowed, reason: "" }
      }
      const status: Record<string, unknown> = { allowed: decision.allowed }
      if (decision.reason) status.reason = decision.reason
      return json({ ...base, status }, 201)
    }
    const namespace = spec.namespace ? String(spec.namespace) : undefined
    const resourceRules = this.rulesFor(user, namespace)
      .filter((r) => (r.resources ?? []).length > 0)
      .map((r) => {
        const out: Record<string, unknown> = { verbs: r.verbs, apiGroups: r.apiGroups ?? [], resources: r.resources ?? [] }
        if (r.resourceNames?.length) out.resourceNames = r.resourceNames
        return out
      })
    const nonResourceRules = [{ verbs: ["get"], nonResourceURLs: ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/readyz", "/version", "/version/"] }]
    return json({ ...base, status: { resourceRules, nonResourceRules, incomplete: false } }, 201)
  }
}

function json(body: unknown, status: number): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } })
}

/** The attributes the real request-info resolver derives (a namespace object is in its own namespace). */
function requestAttributes(attrs: RequestAttributes): ResourceAttributes {
  const namespace =
    attrs.group === "" && attrs.resource === "namespaces" && attrs.name !== undefined ? attrs.name : attrs.namespace
  return {
    verb: attrs.verb,
    group: attrs.group,
    resource: attrs.resource,
    subresource: attrs.subresource,
    namespace,
    name: attrs.name,
  }
}

/** kube-apiserver's 403 for an authorisation refusal (responsewriters.ForbiddenStatusError). */
export function forbidden(user: UserInfo, a: ResourceAttributes): ApiError {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource
  const why = a.namespace
    ? `User "${user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" in the namespace "${a.namespace}"`
    : `User "${user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" at the cluster scope`
  const qualified = a.group ? `${a.resource}.${a.group}` : a.resource
  const message = a.name ? `${qualified} "${a.name}" is forbidden: ${why}` : `${qualified} is forbidden: ${why}`
  const details: Record<string, string> = {}
  if (a.name) details.name = a.name
  if (a.group) details.group = a.group
  details.kind = a.resource
  return new ApiError(403, "Forbidden", message, details)
}
