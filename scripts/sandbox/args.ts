/**
 * The sandbox's command line: `bun run sandbox [options]`.
 */
import { dirname, resolve } from "node:path"
import { parseArgs } from "node:util"

/** The emulator's port when none is given: fixed, so a kubeconfig written once keeps working. */
export const DEFAULT_PORT = 16443
export const DEFAULT_KUBECONFIG = ".sandbox/kubeconfig"

export interface SandboxArgs {
  /** The Kubernetes API emulator's port (0 = an ephemeral port). */
  readonly port: number
  /** Absolute path of the kubeconfig the sandbox writes. */
  readonly kubeconfig: string
  /** Absolute path of the operator's log file. */
  readonly logFile: string
  /** A real PostgreSQL instead of the embedded one (contains the password: never print it). */
  readonly databaseUrl: string | undefined
  /** Apply deploy/examples/ at start. */
  readonly examples: boolean
  /** The operator's health and metrics port (0 = an ephemeral port). */
  readonly metricsPort: number
  readonly help: boolean
}

export const USAGE = `Usage: bun run sandbox [options]

Runs the whole system on this machine: a Kubernetes API emulator (with a
simulator that makes Deployments' pods "ready"), an embedded PostgreSQL with
the Guacamole schema, and the operator itself, configured as in production.
Prints "sandbox ready: KUBECONFIG=<path>" once the example bindings are
reconciled, then a live table of bindings. Ctrl-C stops everything.

Options:
  --port N              port of the Kubernetes API emulator (default ${DEFAULT_PORT};
                        0 picks a free port)
  --kubeconfig PATH     where to write the kubeconfig (default ${DEFAULT_KUBECONFIG})
  --log-file PATH       the operator's log (default: operator.log beside the kubeconfig)
  --database-url URL    use this PostgreSQL (postgres://user:password@host:port/db)
                        instead of the embedded one; the Guacamole schema is
                        created there only when its tables are absent
  --metrics-port N      port of the operator's /healthz, /readyz and /metrics
                        (default: a free port)
  --no-examples         do not apply deploy/examples/
  -h, --help            show this help
`

export class UsageError extends Error {}

const portOf = (option: string, raw: string | undefined, fallback: number): number => {
  if (raw === undefined) return fallback
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new UsageError(`--${option} must be a port number from 0 to 65535 (got ${JSON.stringify(raw)})`)
  }
  return n
}

/** Parses the arguments (without `bun` and the script); relative paths are taken from `cwd`. */
export function parseSandboxArgs(argv: ReadonlyArray<string>, cwd: string = process.cwd()): SandboxArgs {
  let values
  try {
    ;({ values } = parseArgs({
      args: [...argv],
      options: {
        port: { type: "string" },
        kubeconfig: { type: "string" },
        "log-file": { type: "string" },
        "database-url": { type: "string" },
        "metrics-port": { type: "string" },
        "no-examples": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }))
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
  const kubeconfig = resolve(cwd, values.kubeconfig ?? DEFAULT_KUBECONFIG)
  const databaseUrl = values["database-url"]?.trim()
  if (values["database-url"] !== undefined && !databaseUrl) throw new UsageError("--database-url must not be empty")
  return {
    port: portOf("port", values.port, DEFAULT_PORT),
    kubeconfig,
    logFile: values["log-file"] ? resolve(cwd, values["log-file"]) : resolve(dirname(kubeconfig), "operator.log"),
    databaseUrl: databaseUrl || undefined,
    examples: values["no-examples"] !== true,
    metricsPort: portOf("metrics-port", values["metrics-port"], 0),
    help: values.help === true,
  }
}
