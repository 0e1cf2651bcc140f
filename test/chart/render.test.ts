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
