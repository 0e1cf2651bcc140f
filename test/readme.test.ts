/** The README stays true: its settings table is the one the code reads, its tour the one a test runs, its set-up commands exist. */
import { expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { readmePath, withRenderedBlocks } from "../scripts/readme.ts"
import packageJson from "../package.json" with { type: "json" }

const readme = readFileSync(readmePath, "utf8")

test("the README's settings table and sandbox tour are rendered from the code (bun run scripts/readme.ts --write)", () => {
  expect(readme).toBe(withRenderedBlocks(readme))
})

test("the README's set-up commands are the package's scripts", () => {
  expect(readme).toContain("bun install && bun run sandbox")
  expect(readme).toContain("bun test")
  expect(packageJson.scripts.sandbox).toBeDefined()
})
