/** The README stays true: its settings table is the one the code reads, and its set-up commands exist. */
import { expect, test } from "bun:test"
import { readFileSync } from "node:fs"
import { readmePath, withRenderedTable } from "../scripts/settings-table.ts"
import packageJson from "../package.json" with { type: "json" }

const readme = readFileSync(readmePath, "utf8")

test("the README's settings table is exactly the settings the operator reads (bun run scripts/settings-table.ts --write)", () => {
  expect(readme).toBe(withRenderedTable(readme))
})

test("the README's set-up commands are the package's scripts", () => {
  expect(readme).toContain("bun install && bun run sandbox")
  expect(readme).toContain("bun test")
  expect(packageJson.scripts.sandbox).toBeDefined()
})
