/**
 * A sandbox run as a child process (`bun run scripts/sandbox.ts …`), with its
 * output read line by line: for tests and CI that drive the sandbox as a
 * person would.
 */
import { resolve } from "node:path"

const repoRoot = resolve(import.meta.dir, "../..")

export const READY_PREFIX = "sandbox ready: KUBECONFIG="

export interface SandboxProcess {
  readonly pid: number
  /** Every stdout line so far. */
  readonly lines: ReadonlyArray<string>
  /** Every stderr line so far. */
  readonly errorLines: ReadonlyArray<string>
  /** The first stdout line (from `from`, an index into lines) matching `match`; fails at the deadline or if the process ends. */
  waitForLine(match: (line: string) => boolean, options?: { timeoutMs?: number; from?: number; what?: string }): Promise<string>
  /** Waits for the ready line and returns the kubeconfig path it names. */
  waitForReady(timeoutMs?: number): Promise<string>
  /** Resolves to the exit code. */
  readonly exited: Promise<number>
  kill(signal?: NodeJS.Signals): void
}

export function spawnSandbox(args: ReadonlyArray<string>, options: { cwd?: string; env?: Record<string, string | undefined> } = {}): SandboxProcess {
  const child = Bun.spawn([process.execPath, "run", resolve(repoRoot, "scripts/sandbox.ts"), ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...options.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  })
  const lines: string[] = []
  const errorLines: string[] = []
  let ended = false
  const wakers = new Set<() => void>()
  const wake = () => {
    for (const w of wakers) w()
  }
  const pump = async (stream: ReadableStream<Uint8Array>, into: string[]) => {
    const decoder = new TextDecoder()
    let buffered = ""
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true })
      let i: number
      while ((i = buffered.indexOf("\n")) >= 0) {
        into.push(buffered.slice(0, i))
        buffered = buffered.slice(i + 1)
      }
      wake()
    }
    if (buffered) into.push(buffered)
  }
  const pumped = Promise.all([pump(child.stdout, lines), pump(child.stderr, errorLines)])
  const exited = (async () => {
    const code = await child.exited
    await pumped.catch(() => {})
    ended = true
    wake()
    return code
  })()

  const waitForLine: SandboxProcess["waitForLine"] = (match, opts = {}) =>
    new Promise((resolvePromise, reject) => {
      const timeoutMs = opts.timeoutMs ?? 30_000
      let from = opts.from ?? 0
      const what = opts.what ?? "a line"
      const check = () => {
        for (; from < lines.length; from++) {
          if (match(lines[from]!)) {
            done()
            resolvePromise(lines[from]!)
            return
          }
        }
        if (ended) {
          done()
          reject(new Error(`the sandbox exited before printing ${what}; stderr:\n${errorLines.join("\n")}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`no ${what} within ${timeoutMs} ms; last output:\n${lines.slice(-10).join("\n")}\nstderr:\n${errorLines.join("\n")}`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        wakers.delete(check)
      }
      wakers.add(check)
      check()
    })

  return {
    pid: child.pid,
    lines,
    errorLines,
    waitForLine,
    async waitForReady(timeoutMs = 60_000) {
      const line = await waitForLine((l) => l.startsWith(READY_PREFIX), { timeoutMs, what: "the ready line" })
      return line.slice(READY_PREFIX.length)
    },
    exited,
    kill(signal = "SIGTERM") {
      if (!ended) child.kill(signal)
    },
  }
}
