/**
 * The README's generated blocks, rendered from the code so the two cannot
 * disagree (test/readme.test.ts compares them):
 * - the settings table, from src/config.ts;
 * - the sandbox tour, from scripts/sandbox/tour.ts (which a test runs with kubectl);
 * - the Event reasons, from src/controller/event-reasons.ts.
 *
 *   bun run scripts/readme.ts          print the blocks
 *   bun run scripts/readme.ts --write  replace them in README.md
 */
import { readFileSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import { settingsTable } from "../src/config.ts"
import { eventReasons } from "../src/controller/event-reasons.ts"
import { tourScript } from "./sandbox/tour.ts"

const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ")

export const renderSettingsTable = (): string =>
  [
    "| Variable | Default | Meaning |",
    "| --- | --- | --- |",
    ...settingsTable.map((s) => `| \`${s.name}\` | ${cell(s.default)} | ${cell(s.meaning)} |`),
  ].join("\n")

export const renderEventReasons = (): string =>
  [
    "| Reason | Type | What happened | What to do |",
    "| --- | --- | --- | --- |",
    ...eventReasons.map((r) => `| \`${r.reason}\` | ${r.type} | ${cell(r.meaning)} | ${cell(r.action)} |`),
  ].join("\n")

export const renderTour = (): string => ["```sh", tourScript().trimEnd(), "```"].join("\n")

export const blocks: ReadonlyArray<{ readonly name: string; readonly render: () => string }> = [
  { name: "settings", render: renderSettingsTable },
  { name: "tour", render: renderTour },
  { name: "events", render: renderEventReasons },
]

export const readmePath = resolve(import.meta.dir, "../README.md")

/** The README with every generated block replaced by its rendering. */
export const withRenderedBlocks = (readme: string): string =>
  blocks.reduce((text, { name, render }) => {
    const start = `<!-- ${name}:start -->`
    const end = `<!-- ${name}:end -->`
    const i = text.indexOf(start)
    const j = text.indexOf(end)
    if (i < 0 || j < i) throw new Error(`README.md has no ${start} … ${end} block`)
    return `${text.slice(0, i + start.length)}\n${render()}\n${text.slice(j)}`
  }, readme)

if (import.meta.main) {
  if (process.argv.includes("--write")) {
    writeFileSync(readmePath, withRenderedBlocks(readFileSync(readmePath, "utf8")))
  } else {
    for (const { render } of blocks) console.log(`${render()}\n`)
  }
}
