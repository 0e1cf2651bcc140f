/**
 * The chart under test: the pinned helm (absent on a machine without Go: the chart tests are then
 * skipped, with the reason), `helm template` and `helm lint` over deploy/chart, and the field's
 * values among the shared fixtures.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import YAML from "yaml"
import { chartDir, helmPath, RELEASE, RELEASE_NAMESPACE, runHelm, template } from "../../scripts/deploy-render.ts"
import { repoRoot } from "../support/postgres.ts"

export { chartDir, RELEASE, RELEASE_NAMESPACE }

export const helm: string | undefined = helmPath()
export const helmMissingReason =
  "helm is not built (bun run tools:build helm needs Go; or set HELM): the chart tests are skipped"

/**
 * The shared fixtures beside the clone (../shared), or beside the folder holding it (a worktree
 * one level deeper); undefined when neither is there.
 */
export const sharedFixture = (path: string): string | undefined =>
  ["../shared", "../../shared"].map((d) => resolve(repoRoot, d, "fixtures", path)).find((p) => existsSync(p))

export const fieldValuesPath = sharedFixture("helm/field-values.yaml")
export const fieldValuesMissingReason = "../shared/fixtures/helm/field-values.yaml is absent: the field's values are not tested"

const scratch = mkdtempSync(join(tmpdir(), "awms-chart-"))
let files = 0
/** A values file holding `values`. */
export const valuesFile = (values: unknown): string => {
  const path = join(scratch, `values-${++files}.yaml`)
  writeFileSync(path, YAML.stringify(values))
  return path
}

/** What a new install must set at least (deploy/chart/ci/minimal-values.yaml). */
export const minimalValuesPath = resolve(chartDir, "ci/minimal-values.yaml")
export const minimalValues: { browser: { url: string } } = YAML.parse(readFileSync(minimalValuesPath, "utf8"))

export interface Rendered {
  readonly objects: any[]
  find(kind: string, name?: string): any
  all(kind: string): any[]
  /** The operator's container. */
  readonly container: any
  /** The operator's environment, name → entry. */
  readonly env: Map<string, any>
}

const rendered = (objects: any[]): Rendered => {
  const all = (kind: string) => objects.filter((o) => o.kind === kind)
  const find = (kind: string, name?: string) => all(kind).find((o) => name === undefined || o.metadata.name === name)
  const container = find("Deployment")?.spec.template.spec.containers.find((c: any) => c.name === "controller")
  return {
    objects,
    find,
    all,
    container,
    env: new Map((container?.env ?? []).map((e: any) => [e.name, e])),
  }
}

/** `helm template` with these values files (objects, or paths); throws helm's message when it fails. */
export const render = (
  values: ReadonlyArray<unknown> = [minimalValues],
  options: { release?: string; namespace?: string } = {},
): Rendered =>
  rendered(template(helm!, { ...options, values: values.map((v) => (typeof v === "string" ? v : valuesFile(v))) }))

/** helm's error when rendering with these values fails, undefined when it succeeds. */
export const renderError = (values: ReadonlyArray<unknown>): string | undefined => {
  try {
    render(values)
    return undefined
  } catch (e) {
    return (e as Error).message
  }
}

export const lint = (values: ReadonlyArray<unknown>) =>
  runHelm(helm!, [
    "lint",
    "--strict",
    chartDir,
    "--namespace",
    RELEASE_NAMESPACE,
    ...values.flatMap((v) => ["--values", typeof v === "string" ? v : valuesFile(v)]),
  ])

/** helm run asynchronously, for a server this process answers (the emulator). */
export const helmAsync = async (args: ReadonlyArray<string>): Promise<{ status: number; stdout: string; stderr: string }> => {
  const proc = Bun.spawn([helm!, ...args], { stdout: "pipe", stderr: "pipe" })
  const [stdout, stderr, status] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { status, stdout, stderr }
}
