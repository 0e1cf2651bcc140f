/**
 * Standalone emulator: `bun run emulator [--port N] [--kubeconfig PATH]`.
 * Prints `emulator ready: KUBECONFIG=<path>` once serving; stops on SIGTERM/SIGINT.
 */
import { parseArgs } from "node:util"
import { startEmulator } from "./index.ts"

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    port: { type: "string" },
    kubeconfig: { type: "string" },
  },
  strict: true,
})

const port = values.port === undefined ? 0 : Number(values.port)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid --port: ${values.port}`)
  process.exit(2)
}

const emulator = await startEmulator({ port, kubeconfigPath: values.kubeconfig })
console.log(`emulator ready: KUBECONFIG=${emulator.kubeconfigPath}`)

let stopping = false
const stop = async () => {
  if (stopping) return
  stopping = true
  await emulator.stop()
  process.exit(0)
}
process.on("SIGTERM", () => void stop())
process.on("SIGINT", () => void stop())
