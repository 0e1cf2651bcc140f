/**
 * The README's install section, followed as written: its `helm install` command renders an
 * operator whose configuration is valid, and its Flux HelmRelease names the original's release.
 */
import { describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { ConfigProvider, Either } from "effect"
import YAML from "yaml"
import { runHelm } from "../../scripts/deploy-render.ts"
import { readmePath } from "../../scripts/readme.ts"
import { formatConfigError, readConfig } from "../../src/config.ts"
import { chartDir, helm, helmMissingReason, RELEASE } from "./helm.ts"

const section = (() => {
  const readme = readFileSync(readmePath, "utf8")
  return readme.slice(readme.indexOf("## Install in a cluster"), readme.indexOf("## Settings"))
})()
const blocks = (lang: string) => [...section.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!)

if (!helm) console.warn(`skipped: ${helmMissingReason}`)

describe.skipIf(!helm)("the README's helm install", () => {
  test("renders an operator with a valid configuration", () => {
    const command = blocks("sh")
      .map((b) => b.replaceAll("\\\n", " "))
      .flatMap((b) => b.split("\n"))
      .find((line) => line.startsWith("helm install "))
    expect(command).toBeDefined()
    const args = command!.trim().split(/\s+/).slice(1)
    args[0] = "template"
    // The README runs it from the clone's root.
    const r = runHelm(helm!, args.map((a) => (a === "deploy/chart" ? chartDir : a)))
    expect(r.stderr).toBe("")
    const deployment = YAML.parseAllDocuments(r.stdout).map((d) => d.toJS()).find((o) => o?.kind === "Deployment")
    const env = new Map<string, string>(deployment.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value ?? "from-the-secret"]))
    const config = readConfig(ConfigProvider.fromMap(env))
    if (Either.isLeft(config)) throw new Error(formatConfigError(config.left))
    expect(deployment.spec.template.spec.containers[0].image).toBe("registry.example.org/sde/awms-guacamole-operator:0.1.0")
  })
})

test("the README's Flux HelmRelease keeps the original's release name and takes its values from a ConfigMap", () => {
  const release = blocks("yaml").map((b) => YAML.parse(b)).find((o) => o?.kind === "HelmRelease")
  expect(release.spec.releaseName).toBe(RELEASE)
  expect(release.spec.chart.spec.chart).toBe("./deploy/chart")
  expect(release.spec.valuesFrom).toEqual([{ kind: "ConfigMap", name: "operator-config" }])
})
