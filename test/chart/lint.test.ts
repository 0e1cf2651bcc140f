/**
 * `helm lint --strict` passes, and values.schema.json stops a wrong value at `helm install`
 * (helm checks it on every install, upgrade, template and lint) with a message naming it.
 */
import { describe, expect, test } from "bun:test"
import { helm, helmMissingReason, lint, minimalValues, minimalValuesPath, renderError } from "./helm.ts"

const describeWithHelm = helm ? describe : describe.skip
if (!helm) console.warn(`skipped: ${helmMissingReason}`)

describeWithHelm("helm lint --strict", () => {
  test("passes with the values a new install sets (ci/minimal-values.yaml)", () => {
    const r = lint([minimalValuesPath])
    expect(r.stdout + r.stderr).toContain("1 chart(s) linted, 0 chart(s) failed")
    expect(r.status).toBe(0)
  })

  test("passes with the defaults alone, noting the one value an install must add", () => {
    // helm lint reports a template's fail as information; helm install and template stop on it.
    const r = lint([])
    expect(r.status).toBe(0)
    expect(r.stdout + r.stderr).toContain("these values are required: browser.url")
  })

  test("passes with every optional object switched on", () => {
    const r = lint([minimalValues, { replicas: 2, metrics: { serviceMonitor: { enabled: true } }, browser: { resources: { limits: { memory: "1Gi" } } } }])
    expect(r.status).toBe(0)
  })
})

describeWithHelm("values.schema.json refuses", () => {
  const refused: Array<[string, unknown, string]> = [
    ["a misspelt top-level value", { replica: 2 }, "replica"],
    ["replicas as text", { replicas: "two" }, "replicas"],
    ["an env value that is a number (Kubernetes wants text)", { env: [{ name: "DB_PORT", value: 5432 }] }, "env"],
    ["an env entry without a name", { env: [{ value: "x" }] }, "env"],
    ["an image with spaces", { image: "lscsde/awms guacamole" }, "image"],
    ["an unknown pull policy", { image: { repository: "x", pullPolicy: "Sometimes" } }, "pullPolicy"],
    ["an unknown sslmode", { database: { sslmode: "verify-ca" } }, "sslmode"],
    ["a database port out of range", { database: { port: 70000 } }, "port"],
    ["a browser URL that is not http(s)", { browser: { url: "ftp://hub.example" } }, "url"],
    ["a browser namespace that is not a DNS label", { browser: { namespace: "Guacamole_Browsers" } }, "namespace"],
    ["leaderElection other than auto, true or false", { leaderElection: "sometimes" }, "leaderElection"],
    ["a label selector whose value is not a label value", { networkPolicy: { guacd: { podSelector: { app: "guac d" } } } }, "podSelector"],
    ["a misspelt networkPolicy key", { networkPolicy: { enable: false } }, "enable"],
  ]
  for (const [what, values, named] of refused) {
    test(what, () => {
      const error = renderError([minimalValues, values])
      expect(error).toContain("values don't meet the specifications of the schema")
      expect(error).toContain(named)
    })
  }
})
