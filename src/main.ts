/**
 * awms-guacamole-operator: entry point of the binary.
 *
 *   awms-guacamole-operator [run] [--kubeconfig PATH]   run the operator
 *   awms-guacamole-operator check [--kubeconfig PATH]   verify the installation (exit 0 ok, 1 a check failed)
 *   awms-guacamole-operator help [COMMAND] | --help | --version   (COMMAND --help: that command's)
 *
 * Settings come from the environment (see the README's table); an invalid
 * setting stops start-up with one message naming it (exit status 2).
 */
import { parseArgs } from "node:util"
import packageJson from "../package.json" with { type: "json" }

// Only what reading the arguments needs is imported up front: `--help` and
// `--version` answer without loading the operator (its modules are imported
// by the command that runs).
const OPERATOR_NAME = packageJson.name

const USAGE = `Usage: ${OPERATOR_NAME} [run|check|help] [--kubeconfig PATH]

Watches AnalyticsWorkspaceBindings and keeps, for each, the Guacamole
database rows and the browser Deployment, Service and Secret in place.

Commands:
  run (default)     run the operator until SIGTERM or SIGINT
  check             verify the installation with the same settings (database,
                    schema, API server, CRD, permissions, namespace); exit
                    status 0 when every check passes, 1 when one fails
  help [COMMAND]    show this help, or a command's

Options:
  --kubeconfig PATH  kubeconfig to use (default: KUBECONFIG, ~/.kube/config,
                     then the in-cluster service account)
  -h, --help         show this help (after a command: that command's)
  --version          print the version

Settings are environment variables: DB_HOST, DB_PORT, DB_NAME, DB_USER,
DB_PASS, DB_SSLMODE, IMAGE_NAME, BROWSER_URL, NAMESPACE, WATCH_NAMESPACES,
LOG_LEVEL and more; see the README.
`

const COMMAND_USAGE: Record<string, string> = {
  run: `Usage: ${OPERATOR_NAME} run [--kubeconfig PATH]

Runs the operator until SIGTERM or SIGINT: reconciles every binding, serves
/healthz, /readyz and /metrics on HTTP_PORT. Settings are environment
variables (see the README); an invalid one stops start-up with exit status 2.

Options:
  --kubeconfig PATH  kubeconfig to use (default: KUBECONFIG, ~/.kube/config,
                     then the in-cluster service account)
  -h, --help         show this help
`,
  check: `Usage: ${OPERATOR_NAME} check [--kubeconfig PATH]

Verifies the installation with the operator's settings and prints one line
per check (configuration, database, schema, kubernetes, crd, permissions,
namespace), each failure with a remedy. Exit status 0 when every check
passes, 1 when one fails.

Options:
  --kubeconfig PATH  kubeconfig to use (default: KUBECONFIG, ~/.kube/config,
                     then the in-cluster service account)
  -h, --help         show this help
`,
  help: `Usage: ${OPERATOR_NAME} help [COMMAND]

Shows the operator's help, or that of COMMAND (run, check).
`,
}

const fail = (message: string, code: number): never => {
  process.stderr.write(`${OPERATOR_NAME}: ${message}\n`)
  process.exit(code)
}

const parse = () => {
  try {
    return parseArgs({
      args: process.argv.slice(2),
      options: {
        kubeconfig: { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
      allowPositionals: true,
      strict: true,
    })
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`, 2)
  }
}

const main = async () => {
  const { values, positionals } = parse()
  if (values.version) {
    process.stdout.write(`${packageJson.version}\n`)
    return
  }
  const command = positionals[0] ?? "run"
  if (!(command in COMMAND_USAGE)) fail(`unknown command: ${positionals.join(" ")}\n\n${USAGE}`, 2)
  if (command === "help") {
    const topic = positionals[1]
    if (topic !== undefined && !(topic in COMMAND_USAGE)) fail(`no help for unknown command ${topic}\n\n${USAGE}`, 2)
    process.stdout.write(topic === undefined ? USAGE : COMMAND_USAGE[topic]!)
    return
  }
  if (values.help) {
    process.stdout.write(positionals.length === 0 ? USAGE : COMMAND_USAGE[command]!)
    return
  }
  if (positionals.length > 1) fail(`unexpected argument after ${command}: ${positionals.slice(1).join(" ")}\n\n${COMMAND_USAGE[command]}`, 2)
  if (command === "check") {
    const { runCheckCommand } = await import("./check.ts")
    runCheckCommand(values.kubeconfig).then(
      (code) => process.exit(code),
      (error) => fail(`check: ${error instanceof Error ? error.message : String(error)}`, 1),
    )
    return
  }

  const [{ formatConfigError, readConfig }, { kubeconfigProblem }, { loggingLayer }, { runOperator }, { Effect, Exit, Fiber }] =
    await Promise.all([import("./config.ts"), import("./kubeconfig.ts"), import("./logging.ts"), import("./operator.ts"), import("effect")])
  const loaded = readConfig()
  if (loaded._tag === "Left") return fail(formatConfigError(loaded.left), 2)
  const config = values.kubeconfig ? { ...loaded.right, kubeconfig: values.kubeconfig } : loaded.right
  // Before a client is built: client-node would otherwise aim at localhost:8080 and fail with a riddle.
  const noCredentials = kubeconfigProblem(config.kubeconfig)
  if (noCredentials !== undefined) fail(noCredentials, 2)
  const logging = loggingLayer(config.logFormat, config.logLevel)
  const program = Effect.scoped(runOperator(config).pipe(Effect.flatMap((operator) => operator.done))).pipe(
    Effect.provide(logging),
  )
  const fiber = Effect.runFork(program)
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    Effect.runFork(
      Effect.logInfo(`${signal}: shutting down`).pipe(Effect.provide(logging)),
    )
    Effect.runPromise(Fiber.interrupt(fiber)).then(() => process.exit(0))
  }
  process.on("SIGTERM", () => stop("SIGTERM"))
  process.on("SIGINT", () => stop("SIGINT"))
  fiber.addObserver((exit) => {
    if (stopping) return
    if (Exit.isFailure(exit)) {
      process.stderr.write(`${OPERATOR_NAME}: stopped: ${String(exit.cause)}\n`)
      process.exit(1)
    }
  })
}

main().catch((error) => fail(error instanceof Error ? error.message : String(error), 1))
