/**
 * The benchmark runs end to end and reports every figure for every size: a
 * tiny run (5 and 10 bindings on the emulator, this tree's operator). It
 * checks the report's shape and that each counter counted, never a time.
 */
import { expect, setDefaultTimeout, test } from "bun:test"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { repoRoot } from "../test/support/postgres.ts"

setDefaultTimeout(180_000)

const numbersIn = (x: unknown, path = ""): Array<[string, unknown]> =>
  x !== null && typeof x === "object" ? Object.entries(x).flatMap(([k, v]) => numbersIn(v, `${path}.${k}`)) : [[path, x]]

test("bun run bench writes every figure for every size, with its growth against the smallest", async () => {
  const json = join(mkdtempSync(join(tmpdir(), "bench-test-")), "bench.json")
  const run = Bun.spawn(["bun", "run", "bench/operator.ts", "--bindings", "5,10", "--scale", "3", "--json", json], {
    cwd: repoRoot,
    stdout: "pipe",
    stderr: "inherit",
  })
  const out = await new Response(run.stdout).text()
  expect(await run.exited).toBe(0)
  const report = JSON.parse(readFileSync(json, "utf8"))
  expect(report.results.map((r: any) => [r.server, r.bindings])).toEqual([
    ["emulator", 5],
    ["emulator", 10],
  ])
  const [small, large] = report.results
  // The same figures at each size, every one a finite number (or a count by kind).
  const shape = (r: any) => numbersIn(r).map(([p]) => p).filter((p) => !p.includes("ByKind")).sort()
  expect(shape(large)).toEqual(shape(small))
  for (const r of report.results) {
    for (const [path, value] of numbersIn(r)) {
      if (path === ".server" || path === ".checkout") continue
      // A growth against a smallest size that cost nothing measurable has no ratio.
      if (path.startsWith(".growth.") && value === null) continue
      expect({ path, finite: Number.isFinite(value) }).toEqual({ path, finite: true })
    }
    // Each counter saw the operator work: API writes, SQL round trips, CPU and memory from /proc.
    expect(r.cold.apiWrites).toBeGreaterThanOrEqual(r.bindings)
    expect(r.cold.writesPerBindingByKind["create deployments"]).toBe(1)
    expect(r.cold.sqlRoundTrips).toBeGreaterThanOrEqual(r.bindings)
    expect(r.restart.apiRequests).toBeGreaterThan(0)
    expect(r.cold.cpu.operator).toBeGreaterThan(0)
    expect(r.cold.cpu.apiServer).toBeGreaterThan(0)
    expect(r.memory.peakBytes).toBeGreaterThan(r.memory.startBytes / 2)
    expect(r.scaleUp.samples).toBe(3)
    expect(r.scaleUp.writesPerScaleUp).toBeGreaterThan(0)
  }
  expect(Object.keys(large.growth).sort()).toEqual(Object.keys(small.growth).sort())
  expect(Object.values(small.growth).every((x) => x === 1)).toBe(true)
  // The printed table has a row per figure and a column per size.
  expect(out).toContain("| figure (emulator) | 5 | 10 |")
  expect(out).toContain("SQL round trips per new binding")
})
