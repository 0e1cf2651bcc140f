/**
 * The README's generated blocks, rendered from the code so the two cannot
 * disagree (test/readme.test.ts compares them):
 * - the settings table, from src/config.ts;
 * - the sandbox tour, from scripts/sandbox/tour.ts (which a test runs with kubectl);
 * - the Event reasons, from src/reconciler/event-reasons.ts;
 * - the chart's values, from the `# --` comments of deploy/chart/values.yaml.
 *
 *   bun run scripts/readme.ts          print the blocks
 *   bun run scripts/readme.ts --write  replace them in README.md
 */
import { readFileSync, writeFileSync } from "node:fs"
import { resolve } from "node:path"
import YAML from "yaml"
import { settingsTable } from "../src/config.ts"
import { eventReasons } from "../src/reconciler/event-reasons.ts"
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
/**
 * One row per value of deploy/chart/values.yaml that has a `# --` comment (the comment's lines from
 * `--` on), with its default; a commented map whose values are commented too gets its own rows.
 */
export const renderValuesTable = (): string => {
  const doc = YAML.parseDocument(readFileSync(resolve(import.meta.dir, "../deploy/chart/values.yaml"), "utf8"))
  const described = (comment: string | null | undefined): string | undefined => {
    const lines = (comment ?? "").split("\n").map((l) => l.trim())
    const start = lines.findLastIndex((l) => l.startsWith("--"))
    return start < 0 ? undefined : lines.slice(start).join(" ").replace(/^--\s*/, "").trim()
  }
  // The first key's comment is attached to the map holding it.
  const commentOf = (map: YAML.YAMLMap, i: number): string =>
    [i === 0 ? map.commentBefore : undefined, YAML.isNode(map.items[i]!.key) ? (map.items[i]!.key as YAML.Node).commentBefore : undefined]
      .filter((c) => c)
      .join("\n")
  const rows: string[] = []
  const walk = (map: YAML.YAMLMap, prefix: string) =>
    map.items.forEach((pair, i) => {
      const path = prefix + (YAML.isScalar(pair.key) ? String(pair.key.value) : String(pair.key))
      const meaning = described(commentOf(map, i))
      const value = pair.value
      const nested = YAML.isMap(value) && value.items.some((_, j) => described(commentOf(value, j)) !== undefined)
      if (meaning !== undefined) {
        const shown = nested ? "" : `\`${cell(JSON.stringify(YAML.isNode(value) ? value.toJSON() : value))}\``
        rows.push(`| \`${path}\` | ${shown} | ${cell(meaning)} |`)
      }
      if (YAML.isMap(value)) walk(value, `${path}.`)
    })
  walk(doc.contents as YAML.YAMLMap, "")
  return ["| Value | Default | Meaning |", "| --- | --- | --- |", ...rows].join("\n")
}

export const renderTour = (): string => ["```sh", tourScript().trimEnd(), "```"].join("\n")

export const blocks: ReadonlyArray<{ readonly name: string; readonly render: () => string }> = [
  { name: "settings", render: renderSettingsTable },
  { name: "tour", render: renderTour },
  { name: "events", render: renderEventReasons },
  { name: "values", render: renderValuesTable },
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
