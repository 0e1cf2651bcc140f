/**
 * deploy/*.yaml, the plain manifests for `kubectl apply -f deploy/` (or `-k deploy/`), are the
 * chart in deploy/chart rendered by `helm template` with deploy/chart/kubectl-values.yaml, so the two
 * cannot drift apart (test/chart/render.test.ts renders again and compares).
 *
 *   bun run deploy:render          write deploy/*.yaml and deploy/kustomization.yaml
 *   bun run deploy:render --check  exit 1, naming the files, when they are not in step
 *
 * helm is the pinned one (`bun run tools:build helm`), or HELM=path.
 */
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import YAML from "yaml"
import { findTool } from "../test/control-plane/tools.ts"

export const repoRoot = resolve(import.meta.dir, "..")
export const chartDir = resolve(repoRoot, "deploy/chart")
export const renderValuesPath = resolve(repoRoot, "deploy/chart/kubectl-values.yaml")
export const RELEASE = "awms-guacamole-operator"
export const RELEASE_NAMESPACE = "guacamole"

/** The helm to use: HELM, else the pinned build in the tools cache; undefined when there is none. */
export const helmPath = (): string | undefined => process.env.HELM || findTool("helm")

export interface HelmResult {
  readonly status: number
  readonly stdout: string
  readonly stderr: string
}

export const runHelm = (helm: string, args: ReadonlyArray<string>): HelmResult => {
  const r = spawnSync(helm, args, { encoding: "utf8" })
  return { status: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" }
}

/** `helm template` of the chart; the rendered objects, in helm's order. */
export const template = (
  helm: string,
  options: { values?: ReadonlyArray<string>; set?: ReadonlyArray<string>; release?: string; namespace?: string } = {},
): any[] => {
  const args = [
    "template",
    options.release ?? RELEASE,
    chartDir,
    "--namespace",
    options.namespace ?? RELEASE_NAMESPACE,
    ...(options.values ?? []).flatMap((v) => ["--values", v]),
    ...(options.set ?? []).flatMap((s) => ["--set", s]),
  ]
  const r = runHelm(helm, args)
  if (r.status !== 0) throw new Error(`helm ${args.join(" ")} failed: ${r.stderr.trim()}`)
  return YAML.parseAllDocuments(r.stdout)
    .map((d) => d.toJS())
    .filter((o) => o !== null && typeof o === "object")
}

interface FileSpec {
  readonly file: string
  readonly kinds: ReadonlyArray<string>
  readonly what: string
}

/** Which objects go in which file of deploy/. */
const files: ReadonlyArray<FileSpec> = [
  {
    file: "crd-analyticsworkspacebindings.yaml",
    kinds: ["CustomResourceDefinition"],
    what: "The binding CRD. Skip it where the Analytics Workspace Management chart installs its own.",
  },
  { file: "namespace.yaml", kinds: ["Namespace"], what: "The browser containers' namespace." },
  {
    file: "rbac.yaml",
    kinds: ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"],
    what: "Exactly what the operator uses, nothing more (src/check.ts's permissionTable).",
  },
  {
    file: "firefox-config.yaml",
    kinds: ["ConfigMap"],
    what:
      "Firefox's settings and enterprise policies, mounted by every browser container. Its home page is\n" +
      "# BROWSER_URL: change both together.",
  },
  {
    file: "operator.yaml",
    kinds: ["Deployment", "Service", "PodDisruptionBudget", "ServiceMonitor"],
    what:
      "The operator. Set IMAGE_NAME, BROWSER_URL and the database settings; DB_PASS comes from the\n" +
      "# Secret awms-guacamole-operator-db (key: password), created first.",
  },
  {
    file: "networkpolicy.yaml",
    kinds: ["NetworkPolicy"],
    what: "Only guacd may open a browser's VNC port; browsers reach only DNS and JupyterHub. Adjust the selectors to your install.",
  },
]

/** Labels that say Helm manages an object: not true of what kubectl users apply. */
const helmOnlyLabels = ["helm.sh/chart", "app.kubernetes.io/managed-by"]

const withoutHelmLabels = (o: any): any => {
  const labels = o?.metadata?.labels
  if (labels) for (const l of helmOnlyLabels) delete labels[l]
  return o
}

const header = (spec: FileSpec) =>
  `# ${spec.what}\n#\n# Rendered from deploy/chart with deploy/chart/kubectl-values.yaml by \`bun run deploy:render\`: edit the chart, not this file.\n`

/** deploy/'s generated files (name → text): the chart rendered with deploy/chart/kubectl-values.yaml. */
export const renderDeploy = (helm: string): Map<string, string> => {
  const objects = template(helm, { values: [renderValuesPath] }).map(withoutHelmLabels)
  const out = new Map<string, string>()
  const placed = new Set<any>()
  for (const spec of files) {
    const mine = objects.filter((o) => spec.kinds.includes(o.kind))
    mine.forEach((o) => placed.add(o))
    if (mine.length === 0) continue
    const body = mine.map((o) => YAML.stringify(o, { lineWidth: 0 })).join("---\n")
    out.set(spec.file, header(spec) + body)
  }
  const unplaced = objects.filter((o) => !placed.has(o)).map((o) => o.kind)
  if (unplaced.length > 0) throw new Error(`no file of deploy/ for ${unplaced.join(", ")}`)
  const kustomization = {
    apiVersion: "kustomize.config.k8s.io/v1beta1",
    kind: "Kustomization",
    resources: [...out.keys()],
  }
  out.set(
    "kustomization.yaml",
    "# `kubectl apply -k deploy/`: the plain manifests below (deploy/examples/ is not included).\n" +
      "# Rendered by `bun run deploy:render` with the files above; overlay it to change namespaces or images.\n" +
      YAML.stringify(kustomization),
  )
  return out
}

/** The generated files that differ from (or are missing in) deploy/. */
export const outOfStep = (rendered: Map<string, string>): string[] =>
  [...rendered].filter(([file, text]) => {
    const path = resolve(repoRoot, "deploy", file)
    return !existsSync(path) || readFileSync(path, "utf8") !== text
  }).map(([file]) => file)

if (import.meta.main) {
  const helm = helmPath()
  if (!helm) {
    console.error("helm is not built: run `bun run tools:build helm` (needs Go), or set HELM to a helm 3 executable")
    process.exit(1)
  }
  const rendered = renderDeploy(helm)
  if (process.argv.includes("--check")) {
    const stale = outOfStep(rendered)
    if (stale.length > 0) {
      console.error(`deploy/ is not in step with deploy/chart: ${stale.join(", ")} (run bun run deploy:render)`)
      process.exit(1)
    }
    console.error("deploy/ is in step with deploy/chart")
  } else {
    for (const [file, text] of rendered) writeFileSync(resolve(repoRoot, "deploy", file), text)
    console.error(`wrote ${[...rendered.keys()].map((f) => `deploy/${f}`).join(", ")}`)
  }
}
