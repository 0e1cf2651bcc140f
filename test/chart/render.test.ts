/**
 * deploy/*.yaml, for kubectl users, are the chart rendered with deploy/chart/kubectl-values.yaml: a
 * change to the chart that was not rendered (bun run deploy:render) fails here.
 */
import { describe, expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import YAML from "yaml"
import { outOfStep, renderDeploy, repoRoot } from "../../scripts/deploy-render.ts"
import { helm, helmMissingReason } from "./helm.ts"

const describeWithHelm = helm ? describe : describe.skip
if (!helm) console.warn(`skipped: ${helmMissingReason}`)

describeWithHelm("deploy/", () => {
  test("is in step with the chart (bun run deploy:render)", () => {
    expect(outOfStep(renderDeploy(helm!))).toEqual([])
  })
})

test("deploy/kustomization.yaml lists every plain manifest, each rendered from the chart", () => {
  const kustomization = YAML.parse(readFileSync(resolve(repoRoot, "deploy/kustomization.yaml"), "utf8"))
  expect(kustomization.kind).toBe("Kustomization")
  expect(kustomization.resources).toContain("rbac.yaml")
  for (const file of kustomization.resources) {
    expect(readFileSync(resolve(repoRoot, "deploy", file), "utf8")).toContain("Rendered from deploy/chart with deploy/chart/kubectl-values.yaml")
  }
})

const kubectl = Bun.which("kubectl")
if (!kubectl) console.warn("skipped: kubectl is not installed (not on PATH): kubectl kustomize deploy/ is not tried")

test.skipIf(!kubectl)("kubectl kustomize deploy/ builds every object of the plain manifests", () => {
  const built = Bun.spawnSync([kubectl!, "kustomize", resolve(repoRoot, "deploy")], { stdout: "pipe", stderr: "pipe" })
  expect(built.stderr.toString()).toBe("")
  const id = (o: any) => `${o.kind} ${o.metadata.namespace ?? ""}/${o.metadata.name}`
  const objects = YAML.parseAllDocuments(built.stdout.toString()).map((d) => id(d.toJS()))
  const kustomization = YAML.parse(readFileSync(resolve(repoRoot, "deploy/kustomization.yaml"), "utf8"))
  const files = (kustomization.resources as string[]).flatMap((f) =>
    YAML.parseAllDocuments(readFileSync(resolve(repoRoot, "deploy", f), "utf8")).map((d) => id(d.toJS())),
  )
  expect(objects.sort()).toEqual(files.sort())
  expect(objects).toContain("Deployment guacamole/awms-guacamole-operator")
})
