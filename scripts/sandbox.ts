/**
 * `bun run sandbox`: the whole system on one machine. See scripts/sandbox/args.ts
 * for the options and scripts/sandbox/assembly.ts for what runs.
 */
import { relative } from "node:path"
import { parseSandboxArgs, USAGE, UsageError, type SandboxArgs } from "./sandbox/args.ts"
import { BINDING_NAMESPACE, GUACAMOLE_NAMESPACE, startSandbox, type Sandbox } from "./sandbox/assembly.ts"
import { startLiveView, type LiveView } from "./sandbox/table.ts"

const out = (text: string) => process.stdout.write(text)
const err = (text: string) => process.stderr.write(text)

let args: SandboxArgs
try {
  args = parseSandboxArgs(Bun.argv.slice(2))
} catch (e) {
  if (!(e instanceof UsageError)) throw e
  err(`sandbox: ${e.message}\n\n${USAGE}`)
  process.exit(2)
}
if (args.help) {
  out(USAGE)
  process.exit(0)
}

const tty = process.stdout.isTTY === true
const started = performance.now()
let sandbox: Sandbox | undefined
let view: LiveView | undefined
let stopping = false

let stoppingSince = 0
const shutdown = async (signal: string) => {
  if (stopping) {
    // One Ctrl-C or `kill` often arrives twice (the terminal signals the whole process group, and
    // `bun run` forwards it too): only a second signal a moment later means "stop now".
    if (Date.now() - stoppingSince < 1000) return
    err(`\nsandbox: ${signal} again: exiting without cleaning up\n`)
    process.exit(1)
  }
  stopping = true
  stoppingSince = Date.now()
  view?.stop()
  out(`\nsandbox: ${signal}: stopping the operator, the API emulator and the database\n`)
  try {
    await sandbox?.stop()
  } catch (e) {
    err(`sandbox: while stopping: ${e instanceof Error ? e.message : String(e)}\n`)
    process.exit(1)
  }
  out("sandbox: stopped\n")
  process.exit(0)
}
process.on("SIGINT", () => void shutdown("SIGINT"))
// Whatever ends the process, the terminal gets its normal screen back.
process.on("exit", () => view?.stop())
process.on("SIGTERM", () => void shutdown("SIGTERM"))
// The terminal went away (its window closed): stop as cleanly as for Ctrl-C.
process.on("SIGHUP", () => void shutdown("SIGHUP"))

const shortPath = (p: string) => {
  const r = relative(process.cwd(), p)
  return r.startsWith("..") || r === "" ? p : r
}

try {
  sandbox = await startSandbox({
    port: args.port,
    kubeconfig: args.kubeconfig,
    logFile: args.logFile,
    databaseUrl: args.databaseUrl,
    examples: args.examples,
    metricsPort: args.metricsPort,
    progress: (m) => out(`sandbox: ${m}\n`),
  })
  if (stopping) await new Promise(() => {})
  await sandbox.waitUntilReady(60_000)
} catch (e) {
  if (stopping) await new Promise(() => {})
  err(`sandbox: ${e instanceof Error ? e.message : String(e)}\n`)
  await sandbox?.stop().catch(() => {})
  process.exit(1)
}
const s = sandbox
const seconds = ((performance.now() - started) / 1000).toFixed(1)
const kc = shortPath(s.kubeconfigPath)

out(
  [
    `sandbox: Kubernetes API (emulator)  ${s.emulator.url}`,
    `sandbox: Guacamole database         ${s.databaseDescription}${s.embeddedDatabase ? " (embedded PGlite)" : ""}`,
    `sandbox: operator health/metrics    ${s.operator.http.url}/readyz  ${s.operator.http.url}/metrics`,
    `sandbox: operator log               ${shortPath(s.logFile)}`,
    `sandbox: check the installation     (set -a; . ${shortPath(s.envFile)}; bun run src/main.ts check)`,
    `sandbox: reconciled in ${seconds} s`,
    "",
  ].join("\n"),
)
out(`sandbox ready: KUBECONFIG=${s.kubeconfigPath}\n`)

const example = s.examples[0]?.name ?? "ws1-alice"
out("\n")
view = startLiveView({
  emulator: s.emulator,
  sql: s.sql,
  // The embedded PGlite has one backend shared by every client: read only while the operator is idle.
  mayQuery: () => !s.embeddedDatabase || s.isQuiet(),
  write: out,
  tty,
  footer: [
    `KUBECONFIG=${kc}   operator log: ${shortPath(s.logFile)}`,
    `Browser Deployments live in namespace ${GUACAMOLE_NAMESPACE}; bindings in ${BINDING_NAMESPACE}. Try:`,
    `  kubectl --kubeconfig ${kc} scale awsb/${example} -n ${BINDING_NAMESPACE} --replicas=1`,
    `  kubectl --kubeconfig ${kc} get awsb,deploy -A`,
    "Ctrl-C stops everything.",
  ],
})
