/**
 * The real Kubernetes tools the test tiers use, built from the Go modules
 * pinned in ./go/ into a cache outside the repository, keyed by version:
 *
 *   ${AWMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-~/.cache}/awms-guacamole-operator/tools}/<tool>-<version>/<tool>
 *
 * Where KUBEBUILDER_ASSETS is set (controller-runtime's envtest convention: a
 * folder holding kube-apiserver, etcd and kubectl), the tools found there are
 * used and nothing is built.
 *
 * `bun run tools:build [tool…]` builds what is missing (all tools by default)
 * and prints how long each took and the cache's size.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, readdirSync } from "node:fs"
import { homedir } from "node:os"
import { join, resolve } from "node:path"

const goRoot = resolve(import.meta.dir, "go")

interface ToolSpec {
  /** The folder under ./go holding the module that pins it. */
  readonly module: string
  /** The module whose version names the cache entry. */
  readonly versionOf: string
  /** The Go package of its main. */
  readonly pkg: string
  /** -X settings the release build stamps (so /version names the release), from the version and the go.mod. */
  readonly stamp?: (version: string, gomod: string) => ReadonlyArray<string>
}

// What Kubernetes' release build stamps into component-base (kube-apiserver's /version) and client-go.
const kubernetesStamp = (version: string) => {
  const [major, minor] = version.replace(/^v/, "").split(".")
  return ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"].flatMap((pkg) => [
    `${pkg}.gitVersion=${version}`,
    `${pkg}.gitMajor=${major}`,
    `${pkg}.gitMinor=${minor}`,
    `${pkg}.gitTreeState=clean`,
  ])
}

const specs = {
  "kube-apiserver": {
    stamp: kubernetesStamp, module: "kubernetes", versionOf: "k8s.io/kubernetes", pkg: "k8s.io/kubernetes/cmd/kube-apiserver" },
  "kube-controller-manager": {
    stamp: kubernetesStamp,
    module: "kubernetes",
    versionOf: "k8s.io/kubernetes",
    pkg: "k8s.io/kubernetes/cmd/kube-controller-manager",
  },
  "kube-scheduler": {
    stamp: kubernetesStamp,
    module: "kubernetes",
    versionOf: "k8s.io/kubernetes",
    pkg: "k8s.io/kubernetes/cmd/kube-scheduler",
  },
  etcd: { module: "etcd", versionOf: "go.etcd.io/etcd/server/v3", pkg: "go.etcd.io/etcd/server/v3" },
  kwok: { module: "kwok", versionOf: "sigs.k8s.io/kwok", pkg: "sigs.k8s.io/kwok/cmd/kwok" },
  helm: {
    // As helm's Makefile stamps it: its version, and the Kubernetes version its client libraries are
    // (which `helm template` and `helm lint` take as the cluster's when there is none).
    stamp: (version: string, gomod: string) => {
      const k8s = /k8s\.io\/client-go v0\.(\d+)\./.exec(gomod)?.[1] ?? "0"
      return [
        `helm.sh/helm/v3/internal/version.version=${version}`,
        `helm.sh/helm/v3/internal/version.gitTreeState=clean`,
        ...["pkg/lint/rules", "pkg/chartutil"].flatMap((pkg) => [
          `helm.sh/helm/v3/${pkg}.k8sVersionMajor=1`,
          `helm.sh/helm/v3/${pkg}.k8sVersionMinor=${k8s}`,
        ]),
      ]
    },
    module: "helm", versionOf: "helm.sh/helm/v3", pkg: "helm.sh/helm/v3/cmd/helm" },
} as const satisfies Record<string, ToolSpec>

export type Tool = keyof typeof specs
export const allTools = Object.keys(specs) as Tool[]

/** The tools envtest's asset folders hold. */
const envtestTools: ReadonlySet<Tool> = new Set(["kube-apiserver", "etcd"])

/** The version of a tool, read from the go.mod that pins it (the one place versions are written). */
export const toolVersion = (tool: Tool): string => {
  const spec: ToolSpec = specs[tool]
  const gomod = readFileSync(join(goRoot, spec.module, "go.mod"), "utf8")
  const escaped = spec.versionOf.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
  const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, "m").exec(gomod)
  if (!match?.[1]) throw new Error(`no version of ${spec.versionOf} in ${spec.module}/go.mod`)
  return match[1]
}

export const cacheRoot = (): string =>
  process.env.AWMS_TOOLS_CACHE ||
  join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "awms-guacamole-operator", "tools")

const gomodOf = (tool: Tool): string => readFileSync(join(goRoot, specs[tool].module, "go.mod"), "utf8")

/** The -X settings of a tool's build. */
const stampOf = (tool: Tool): ReadonlyArray<string> => {
  const spec: ToolSpec = specs[tool]
  return spec.stamp?.(toolVersion(tool), gomodOf(tool)) ?? []
}

/** The cache entry: the version, and a digest of how it is built, so a changed recipe builds anew. */
const cachedPath = (tool: Tool): string =>
  join(cacheRoot(), `${tool}-${toolVersion(tool)}-${Bun.hash(stampOf(tool).join(" ")).toString(36).slice(0, 6)}`, tool)

const isExecutable = (path: string): boolean => {
  try {
    return statSync(path).isFile() && (statSync(path).mode & 0o111) !== 0
  } catch {
    return false
  }
}

/**
 * Where a tool is: in KUBEBUILDER_ASSETS when that is set and holds it, else in
 * the cache; undefined when it has not been built (nothing is built here).
 */
export const findTool = (tool: Tool): string | undefined => {
  const assets = process.env.KUBEBUILDER_ASSETS
  if (assets) {
    const candidate = join(assets, tool)
    if (isExecutable(candidate)) return candidate
    if (envtestTools.has(tool)) return undefined
  }
  const cached = cachedPath(tool)
  return isExecutable(cached) ? cached : undefined
}

/** The version a found tool reports, for the README and the closing lines of a run. */
export const describeTool = (tool: Tool): string => {
  const path = findTool(tool)
  return path ? `${tool} ${toolVersion(tool)} (${path})` : `${tool}: not built`
}

export const goAvailable = (): boolean => spawnSync("go", ["version"], { stdio: "ignore" }).status === 0

/** Builds the tools that are missing from the cache, one `go build` per module; returns seconds per module. */
export function buildTools(tools: ReadonlyArray<Tool> = allTools, log: (line: string) => void = console.error) {
  const missing = tools.filter((t) => !findTool(t))
  const byModule = new Map<string, Tool[]>()
  for (const t of missing) byModule.set(specs[t].module, [...(byModule.get(specs[t].module) ?? []), t])
  const timings: Record<string, number> = {}
  for (const [module, group] of byModule) {
    const staging = join(cacheRoot(), `.build-${module}-${process.pid}`)
    rmSync(staging, { recursive: true, force: true })
    mkdirSync(staging, { recursive: true })
    log(`building ${group.map((t) => `${t} ${toolVersion(t)}`).join(", ")} (go build in go/${module})`)
    const started = performance.now()
    const stamp = stampOf(group[0]!).map((x) => ` -X ${x}`).join("")
    const result = spawnSync(
      "go",
      ["build", "-trimpath", `-ldflags=-s -w${stamp}`, "-o", `${staging}/`, ...group.map((t) => specs[t].pkg)],
      {
        cwd: join(goRoot, module),
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, GOFLAGS: "-mod=readonly", GOTOOLCHAIN: "local" },
      },
    )
    if (result.status !== 0) {
      rmSync(staging, { recursive: true, force: true })
      throw new Error(`go build in go/${module} failed (exit ${result.status ?? result.signal})`)
    }
    for (const t of group) {
      const target = cachedPath(t)
      mkdirSync(resolve(target, ".."), { recursive: true })
      // go names a binary after the package's last path element, skipping a major-version suffix (etcd's "v3").
      const elements = specs[t].pkg.split("/")
      const last = elements.at(-1)!
      const built = join(staging, /^v\d+$/.test(last) ? elements.at(-2)! : last)
      renameSync(built, target)
    }
    rmSync(staging, { recursive: true, force: true })
    timings[module] = (performance.now() - started) / 1000
  }
  return timings
}

const duBytes = (path: string): number => {
  if (!existsSync(path)) return 0
  const st = statSync(path)
  if (!st.isDirectory()) return st.size
  return readdirSync(path).reduce((sum, entry) => sum + duBytes(join(path, entry)), 0)
}

if (import.meta.main) {
  const requested = process.argv.slice(2) as Tool[]
  for (const t of requested) if (!(t in specs)) throw new Error(`unknown tool ${t}; known: ${allTools.join(", ")}`)
  const tools = requested.length > 0 ? requested : allTools
  if (tools.some((t) => !findTool(t)) && !goAvailable()) {
    console.error("go is not installed: the real control-plane tier cannot be built here (its tests will be skipped)")
    process.exit(1)
  }
  const started = performance.now()
  const timings = buildTools(tools)
  for (const [module, seconds] of Object.entries(timings)) console.error(`built go/${module} in ${seconds.toFixed(1)} s`)
  for (const t of tools) console.error(describeTool(t))
  console.error(
    `tools ready in ${((performance.now() - started) / 1000).toFixed(1)} s; cache ${cacheRoot()} holds ${(duBytes(cacheRoot()) / 2 ** 20).toFixed(0)} MiB`,
  )
}
