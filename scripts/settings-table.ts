/**
 * The README's table of settings, rendered from src/config.ts so the two
 * cannot disagree (a test compares them).
 *
 *   bun run scripts/settings-table.ts          print the table
 *   bun run scripts/settings-table.ts --write  replace it in README.md
 */
import { readFileSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import { settingsTable } from "../src/config.ts"

export const START = "<!-- settings:start -->"
export const END = "<!-- settings:end -->"

const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ")

export const renderSettingsTable = (): string =>
  [
    "| Variable | Default | Meaning |",
    "| --- | --- | --- |",
    ...settingsTable.map((s) => `| \`${s.name}\` | ${cell(s.default)} | ${cell(s.meaning)} |`),
  ].join("\n")

export const readmePath = resolve(import.meta.dir, "../README.md")

/** The README with its settings block replaced by the rendered table. */
export const withRenderedTable = (readme: string): string => {
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} … ${END} block`)
  return `${readme.slice(0, start + START.length)}\n${renderSettingsTable()}\n${readme.slice(end)}`
}

if (import.meta.main) {
  if (process.argv.includes("--write")) {
    writeFileSync(readmePath, withRenderedTable(readFileSync(readmePath, "utf8")))
  } else {
    console.log(renderSettingsTable())
  }
}
