/**
 * awms-guacamole-operator: entry point of the binary.
 *
 *   awms-guacamole-operator [run] [--kubeconfig PATH]   run the operator
 *   awms-guacamole-operator check [--kubeconfig PATH]   verify the installation (exit 0 ok, 1 a check failed)
 *   awms-guacamole-operator --help | --version
 *
 * Settings come from the environment (see the README's table); an invalid
 * setting stops start-up with one message naming it (exit status 2).
 */
import { parseArgs } from "node:util"
import { Effect, Exit, Fiber } from "effect"
import { formatConfigError, readConfig, type OperatorConfig } from "./config.ts"
import { loggingLayer } from "./logging.ts"
import { OPERATOR_NAME, runOperator } from "./operator.ts"
import { runCheckCommand } from "./check.ts"
import packageJson from "../package.json" with { type: "json" }

const USAGE = `Usage: ${OPERATOR_NAME} [run|check] [--kubeconfig PATH]

Watches AnalyticsWorkspaceBindings and keeps, for each, the Guacamole
database rows and the browser Deployment, Service and Secret in place.

Commands:
  run (default)     run the operator until SIGTERM or SIGINT
  check             verify the installation with the same settings (database,
                    schema, API server, CRD, permissions, namespace); exit
                    status 0 when every check passes, 1 when one fails

Options:
  --kubeconfig PATH  kubeconfig to use (default: KUBECONFIG, ~/.kube/config,
                     then the in-cluster service account)
  -h, --help         show this help
  --version          print the version

Settings are environment variables: DB_HOST, DB_PORT, DB_NAME, DB_USER,
DB_PASS, DB_SSLMODE, IMAGE_NAME, BROWSER_URL, NAMESPACE, WATCH_NAMESPACES,
LOG_LEVEL and more; see the README.
`

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

const loadConfig = (kubeconfig: string | undefined): OperatorConfig => {
  const loaded = readConfig()
  if (loaded._tag === "Left") return fail(formatConfigError(loaded.left), 2)
  return kubeconfig ? { ...loaded.right, kubeconfig } : loaded.right
}

const main = () => {
  const { values, positionals } = parse()
  if (values.help) {
    process.stdout.write(USAGE)
    return
  }
  if (values.version) {
    process.stdout.write(`${packageJson.version}\n`)
    return
  }
  const command = positionals[0] ?? "run"
  if (command === "check" && positionals.length === 1) {
    runCheckCommand(values.kubeconfig).then(
      (code) => process.exit(code),
      (error) => fail(`check: ${error instanceof Error ? error.message : String(error)}`, 1),
    )
    return
  }
  if (command !== "run" || positionals.length > 1) fail(`unknown command: ${positionals.join(" ")}\n\n${USAGE}`, 2)

  const config = loadConfig(values.kubeconfig)
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

main()
