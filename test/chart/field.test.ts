/**
 * The field's values file (the original chart's values, as the field's Flux HelmRelease passes
 * them), unchanged: the chart renders the original's release-named objects, and the operator's
 * Deployment gives the operator a valid configuration — the one those values meant.
 */
import { describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { ConfigProvider, Either, Redacted } from "effect"
import YAML from "yaml"
import { formatConfigError, readConfig } from "../../src/config.ts"
import { fieldValuesMissingReason, fieldValuesPath, helm, helmMissingReason, lint, render, RELEASE, RELEASE_NAMESPACE } from "./helm.ts"

const ready = helm && fieldValuesPath
const describeWithField = ready ? describe : describe.skip
if (!helm) console.warn(`skipped: ${helmMissingReason}`)
else if (!fieldValuesPath) console.warn(`skipped: ${fieldValuesMissingReason}`)

/** The environment the kubelet would give the container: valueFrom resolved with stand-ins. */
const SECRET_STAND_IN = "the-password-in-the-secret"
const environmentOf = (env: ReadonlyArray<any>): Map<string, string> =>
  new Map(
    env.map((e) => {
      if (e.value !== undefined) return [e.name, e.value]
      if (e.valueFrom?.secretKeyRef) return [e.name, SECRET_STAND_IN]
      if (e.valueFrom?.fieldRef?.fieldPath === "metadata.name") return [e.name, `${RELEASE}-5d8f7c9b4-x2x7q`]
      if (e.valueFrom?.fieldRef?.fieldPath === "metadata.namespace") return [e.name, RELEASE_NAMESPACE]
      throw new Error(`no stand-in for ${JSON.stringify(e)}`)
    }),
  )

describeWithField("the field's values, unchanged", () => {
  const field = () => YAML.parse(readFileSync(fieldValuesPath!, "utf8"))

  test("pass helm lint --strict", () => {
    const r = lint([fieldValuesPath!])
    expect(r.stdout + r.stderr).toContain("1 chart(s) linted, 0 chart(s) failed")
    expect(r.status).toBe(0)
  })

  test("render the original's release-named objects: Deployment (container controller, the given image), ServiceAccount, ClusterRole/Binding, Role/Binding, firefox-config", () => {
    const r = render([fieldValuesPath!])
    const deployment = r.find("Deployment", RELEASE)
    expect(deployment.spec.selector.matchLabels).toEqual({ app: RELEASE })
    expect(r.container.name).toBe("controller")
    expect(r.container.image).toBe(field().image)
    for (const kind of ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]) {
      expect(r.find(kind, RELEASE)).toBeDefined()
    }
    expect(r.find("ConfigMap", "firefox-config")).toBeDefined()
    // The browsers stay where the field has them (NAMESPACE=guacamole): the Role and the ConfigMap go there, and no Namespace is made.
    expect(r.find("Role").metadata.namespace).toBe("guacamole")
    expect(r.find("ConfigMap", "firefox-config").metadata.namespace).toBe("guacamole")
    expect(r.find("Namespace")).toBeUndefined()
  })

  test("every env entry of the field is rendered as given, once, and the password stays in its Secret", () => {
    const r = render([fieldValuesPath!])
    for (const entry of field().env) expect(r.container.env.filter((e: any) => e.name === entry.name)).toEqual([entry])
    expect(r.env.get("DB_PASS").valueFrom).toEqual({ secretKeyRef: { name: "guacamole", key: "db-password" } })
  })

  test("give the operator a valid configuration: the field's database, URL and namespace, the original image's browser", () => {
    const r = render([fieldValuesPath!])
    const env = environmentOf(r.container.env)
    const config = readConfig(ConfigProvider.fromMap(env))
    if (Either.isLeft(config)) throw new Error(formatConfigError(config.left))
    const c = config.right
    const given = new Map<string, string>(field().env.map((e: any) => [e.name, e.value]))
    const byName = { get: (name: string): string => given.get(name) ?? `(no ${name} in the field's values)` }
    expect(c.db.host).toBe(byName.get("DB_HOST"))
    expect(c.db.username).toBe(byName.get("DB_USER"))
    expect(c.db.database).toBe(byName.get("DB_NAME"))
    expect(c.db.port).toBe(5432)
    expect(Redacted.value(c.db.password)).toBe(SECRET_STAND_IN)
    expect(c.workload.browserUrl).toBe(byName.get("BROWSER_URL"))
    expect(c.workload.namespace).toBe(byName.get("NAMESPACE"))
    // The original operator's image set IMAGE_NAME itself; the chart's default is that image.
    expect(c.workload.imageName).toBe("lscsde/analytics-vnc-client:0.1.5")
    expect(c.leaderElection).toBe(false)
  })
})
