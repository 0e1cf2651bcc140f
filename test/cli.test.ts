/** The command line as a person meets it: help everywhere, and plain words when credentials are missing. */
import { describe, expect, setDefaultTimeout, test } from "bun:test"
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { settingsTable } from "../src/config.ts"
import { kubeconfigProblem, NO_KUBECONFIG } from "../src/kubeconfig.ts"

// Each test starts the command line (a fresh Bun process), slow on a busy machine.
setDefaultTimeout(30_000)

const root = resolve(import.meta.dir, "..")
const main = join(root, "src/main.ts")
const emptyHome = mkdtempSync(join(tmpdir(), "cli-home-"))

const run = async (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}) => {
  const child = Bun.spawn([process.execPath, main, ...args], {
    cwd: emptyHome,
    env: { PATH: process.env.PATH, HOME: emptyHome, ...env },
    stdout: "pipe",
    stderr: "pipe",
  })
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { stdout, stderr, code }
}

const settings = { DB_USER: "guacamole", DB_PASS: "x", IMAGE_NAME: "browser:1", BROWSER_URL: "https://jupyter.example" }

describe("help", () => {
  test("`help` prints the usage, as --help does", async () => {
    const help = await run(["help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("Usage: awms-guacamole-operator")
    expect(help.stdout).toBe((await run(["--help"])).stdout)
  })

  for (const command of ["run", "check"]) {
    test(`\`${command} --help\` and \`help ${command}\` describe ${command}`, async () => {
      const help = await run([command, "--help"])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain(`Usage: awms-guacamole-operator ${command}`)
      expect((await run(["help", command])).stdout).toBe(help.stdout)
    })
  }

  test("an unknown command is refused with the usage", async () => {
    const r = await run(["frobnicate"])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("unknown command: frobnicate")
  })
})

describe("no kubeconfig and not in a pod", () => {
  test("run says so instead of client-node's riddle about skipTLSVerify", async () => {
    const r = await run(["run"], settings)
    expect(r.code).toBe(2)
    expect(r.stderr).toContain(NO_KUBECONFIG)
    expect(r.stderr).not.toContain("skipTLSVerify")
  })

  test("check reports it on the kubernetes line", async () => {
    const r = await run(["check"], { ...settings, DB_HOST: "127.0.0.1", DB_PORT: "1" })
    expect(r.code).toBe(1)
    const line = r.stdout.split("\n").find((l) => l.includes(" kubernetes: "))
    expect(line).toContain(NO_KUBECONFIG)
    expect(r.stdout).not.toContain("skipTLSVerify")
  })

  test("the lookup follows client-node's order", () => {
    const files = new Set(["/home/u/.kube/config", "/tmp/kc"])
    const exists = (p: string) => files.has(p)
    expect(kubeconfigProblem(undefined, { env: undefined, home: "/home/u", exists })).toBeUndefined()
    expect(kubeconfigProblem(undefined, { env: "/tmp/kc", home: "/nowhere", exists })).toBeUndefined()
    expect(kubeconfigProblem("/tmp/missing", { env: undefined, home: "/home/u", exists })).toContain("/tmp/missing does not exist")
    expect(kubeconfigProblem(undefined, { env: undefined, home: "/nowhere", exists })).toContain(NO_KUBECONFIG)
  })
})

test("every environment variable the code reads is in the settings table", () => {
  const sources: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else if (name.endsWith(".ts")) sources.push(path)
    }
  }
  walk(join(root, "src"))
  const read = new Set<string>()
  for (const path of sources) {
    const text = readFileSync(path, "utf8")
    for (const m of text.matchAll(/process\.env(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*["'`]([^"'`]+)["'`]\s*\])/g)) read.add(m[1] ?? m[2]!)
    // Effect's Config reads variables by name too.
    for (const m of text.matchAll(/Config\.\w+\(\s*"([A-Z][A-Z0-9_]*)"/g)) read.add(m[1]!)
  }
  const documented = new Set(settingsTable.map((s) => s.name))
  expect([...read].filter((name) => !documented.has(name))).toEqual([])
})
