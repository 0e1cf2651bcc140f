/**
 * The chart grants the operator exactly what src/check.ts's permissionTable says it uses (which
 * `check` verifies against the API server), plus the read of ConfigMaps `check` itself makes:
 * every needed permission is granted where it is needed, and nothing else is.
 */
import { describe, expect, test } from "bun:test"
import { ConfigProvider, Either } from "effect"
import { neededPermissions, type Permission } from "../../src/check.ts"
import { readConfig } from "../../src/config.ts"
import { helm, helmMissingReason, minimalValues, render } from "./helm.ts"

const describeWithHelm = helm ? describe : describe.skip
if (!helm) console.warn(`skipped: ${helmMissingReason}`)

/** A rule's grant, in the shape of check's permissions. */
type Grant = Permission

const key = (g: Grant) =>
  `${g.verb} ${g.group}/${g.resource}${g.subresource ? "/" + g.subresource : ""}${g.name ? ` "${g.name}"` : ""}${g.namespace ? ` in ${g.namespace}` : ""}`

/** Every grant of a role's rules, one per verb × group × resource (× name). */
const grants = (role: any): Grant[] =>
  role.rules.flatMap((rule: any) =>
    rule.verbs.flatMap((verb: string) =>
      rule.apiGroups.flatMap((group: string) =>
        rule.resources.flatMap((r: string) => {
          const [resource, subresource] = r.split("/")
          const names: Array<string | undefined> = rule.resourceNames ?? [undefined]
          return names.map((name) => ({
            verb,
            group,
            resource: resource!,
            ...(subresource ? { subresource } : {}),
            ...(role.kind === "Role" ? { namespace: role.metadata.namespace } : {}),
            ...(name ? { name } : {}),
          }))
        }),
      ),
    ),
  )

describeWithHelm("the chart's RBAC", () => {
  test("is exactly the permissions the operator uses (with leader election and the idle culler) and the ConfigMap read of check", () => {
    const r = render([minimalValues, { leaderElection: true, browser: { idle: { timeout: "2h" } } }])
    const granted = [...grants(r.find("ClusterRole")), ...grants(r.find("Role"))].map(key).sort()
    const env = new Map<string, string>(r.container.env.map((e: any) => [e.name, e.value ?? "stand-in"]))
    const config = readConfig(ConfigProvider.fromMap(env))
    if (Either.isLeft(config)) throw new Error("the rendered configuration is invalid")
    const needed = neededPermissions(config.right).map(key)
    const checkReads = [key({ verb: "get", group: "", resource: "configmaps", namespace: config.right.workload.namespace })]
    expect(granted).toEqual([...new Set([...needed, ...checkReads])].sort())
  })

  test("binds both roles to the operator's ServiceAccount, and only to it", () => {
    const r = render([minimalValues])
    const sa = r.find("ServiceAccount")
    const subject = [{ kind: "ServiceAccount", name: sa.metadata.name, namespace: sa.metadata.namespace }]
    expect(r.find("ClusterRoleBinding").subjects).toEqual(subject)
    expect(r.find("RoleBinding").subjects).toEqual(subject)
    expect(r.find("ClusterRoleBinding").roleRef.name).toBe(r.find("ClusterRole").metadata.name)
    expect(r.find("RoleBinding").roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: r.find("Role").metadata.name })
  })
})
