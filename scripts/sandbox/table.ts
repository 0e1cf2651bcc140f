/**
 * The sandbox's live view: one row per binding (who, which workspace, its
 * status, its browser Deployment's ready replicas, whether Guacamole has the
 * connection), redrawn in place on a terminal, or one plain line per change
 * otherwise (pipes, CI, tests).
 */
import type postgres from "postgres"
import type { Emulator } from "@awms/kube-emulator"
import { BINDING_GROUP, BINDING_PLURAL, GUACAMOLE_NAMESPACE } from "./assembly.ts"

export interface BindingRow {
  readonly namespace: string
  readonly name: string
  readonly user: string
  readonly workspace: string
  readonly status: string
  /** The browser Deployment's name, once the operator has written it. */
  readonly deployment: string | undefined
  /** readyReplicas and spec.replicas of the Deployment; undefined when there is none. */
  readonly ready: { readonly ready: number; readonly desired: number } | undefined
  /** Whether Guacamole has the connection; undefined while unknown. */
  readonly connection: boolean | undefined
}

/** `<workspace>\0<username>` of every connection in a root-level group (Guacamole's view). */
export type ConnectionSet = ReadonlySet<string>

const connectionKey = (workspace: string, username: string) => `${workspace}\u0000${username}`

/** Reads which connections Guacamole has: one cheap query (simple protocol, no parameters). */
export async function readConnections(sql: postgres.Sql): Promise<ConnectionSet> {
  const rows = await sql<{ workspace: string; username: string }[]>`
    SELECT g.connection_group_name AS workspace, c.connection_name AS username
    FROM guacamole_connection c
    JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id
    WHERE g.parent_id IS NULL`.simple()
  return new Set(rows.map((r) => connectionKey(r.workspace, r.username)))
}

/** The bindings the API server holds, with their Deployments, sorted by namespace and name. */
export function readBindings(emulator: Emulator, connections: ConnectionSet | undefined): BindingRow[] {
  const deployments = new Map<string, any>()
  for (const d of emulator.list("apps", "deployments", GUACAMOLE_NAMESPACE)) deployments.set(d.metadata.name, d)
  return emulator
    .list(BINDING_GROUP, BINDING_PLURAL)
    .map((b: any): BindingRow => {
      const user = typeof b.spec?.username === "string" ? b.spec.username : ""
      const workspace = typeof b.spec?.workspace === "string" ? b.spec.workspace : ""
      const deploymentName: string | undefined = b.status?.deploymentName || undefined
      const d = deploymentName ? deployments.get(deploymentName) : undefined
      return {
        namespace: b.metadata.namespace,
        name: b.metadata.name,
        user,
        workspace,
        status: b.metadata.deletionTimestamp ? "DELETING" : String(b.status?.statusText ?? "PROVISIONING"),
        deployment: deploymentName,
        ready: d ? { ready: Number(d.status?.readyReplicas ?? 0), desired: Number(d.spec?.replicas ?? 0) } : undefined,
        connection: connections === undefined || !user ? undefined : connections.has(connectionKey(workspace, user)),
      }
    })
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))
}

const readyText = (r: BindingRow) => (r.ready ? `${r.ready.ready}/${r.ready.desired}` : "-")
const connectionText = (r: BindingRow) => (r.connection === undefined ? "?" : r.connection ? "yes" : "no")

/** One line for a binding, as printed on each change when stdout is not a terminal. */
export const plainLine = (r: BindingRow): string =>
  `binding ${r.namespace}/${r.name}: ${r.status}, ${readyText(r)} ready, connection ${connectionText(r)}`

/** The line printed when a binding disappears. */
export const goneLine = (key: string): string => `binding ${key}: deleted`

const HEADER = ["BINDING", "USER", "WORKSPACE", "STATUS", "READY", "CONNECTION"] as const
const GAP = "   "

const cellsOf = (r: BindingRow) => [`${r.namespace}/${r.name}`, r.user || "-", r.workspace || "-", r.status, readyText(r), connectionText(r)]

/** Characters as a terminal counts them (one column per code point: the table's text is mostly ASCII). */
const widthOf = (s: string) => [...s].length

/** At most `width` columns, the cut marked with an ellipsis. */
export const truncate = (s: string, width: number): string => {
  const chars = [...s]
  if (chars.length <= width) return s
  return width <= 0 ? "" : `${chars.slice(0, width - 1).join("")}…`
}

/**
 * Column widths that fit `width`: each column as wide as its widest cell;
 * when that is too wide, the free-text columns (binding, user, workspace)
 * give way, the widest first, down to a few characters each.
 */
const columnWidths = (body: ReadonlyArray<ReadonlyArray<string>>, width: number): number[] => {
  const widths = HEADER.map((h, i) => Math.max(widthOf(h), ...body.map((cells) => widthOf(cells[i]!))))
  const total = () => widths.reduce((a, b) => a + b, 0) + GAP.length * (widths.length - 1)
  const flexible = [0, 1, 2]
  const MIN = 6
  while (total() > width) {
    const widest = flexible.reduce((a, b) => (widths[b]! > widths[a]! ? b : a))
    if (widths[widest]! <= MIN) break
    widths[widest]! -= Math.min(widths[widest]! - MIN, total() - width)
  }
  return widths
}

const tableLine = (cells: ReadonlyArray<string>, widths: ReadonlyArray<number>) =>
  cells.map((c, i) => truncate(c, widths[i]!).padEnd(widths[i]!)).join(GAP).trimEnd()

/** The table as text (no trailing newline), its columns truncated to fit `width` when given. */
export function renderTable(rows: ReadonlyArray<BindingRow>, width = Number.POSITIVE_INFINITY): string {
  if (rows.length === 0) return `${HEADER.join(GAP)}\n(no bindings)`
  const body = rows.map(cellsOf)
  const widths = columnWidths(body, width)
  return [tableLine(HEADER, widths), ...body.map((cells) => tableLine(cells, widths))].join("\n")
}

/** What every symbol of the table means, one entry per column. */
export const LEGEND: ReadonlyArray<string> = [
  "READY: ready/desired browser pods, - no Deployment yet",
  "CONNECTION: yes in Guacamole, no missing, ? not read yet",
  "STATUS: EXPIRED past spec.expires, ERROR see kubectl describe awsb NAME",
]

/** The entries on as few lines as fit `width`, an entry split only when it is wider than a line. */
export const wrapEntries = (entries: ReadonlyArray<string>, width: number, separator = "   "): string[] => {
  const lines: string[] = []
  for (const entry of entries) {
    const last = lines[lines.length - 1]
    if (last !== undefined && widthOf(last) + separator.length + widthOf(entry) <= width) lines[lines.length - 1] = last + separator + entry
    else lines.push(entry)
  }
  return lines
}

// ---------------------------------------------------------------------------
// The screen: table, legend, Guacamole's view and the footer, fitted to the terminal

export interface ScreenSize {
  readonly columns: number
  readonly rows: number
}

export interface ScreenState {
  readonly bindings: ReadonlyArray<BindingRow>
  /** What Guacamole logins see; undefined while not read yet. */
  readonly logins: ReadonlyArray<GuacamoleLogin> | undefined
  readonly footer: ReadonlyArray<string>
}

const statusCounts = (rows: ReadonlyArray<BindingRow>) => {
  const counts = new Map<string, number>()
  for (const r of rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1)
  return [...counts].sort((a, b) => b[1] - a[1]).map(([status, n]) => `${n} ${status}`).join(", ")
}

/**
 * The whole screen as lines, none wider than `size.columns` and no more than
 * `size.rows` of them. When the bindings do not fit, those that are not READY
 * come first and a summary line says how many are not shown; the legend, the
 * Guacamole block and the footer shrink before the table's summary goes.
 */
export function renderScreen(state: ScreenState, size: ScreenSize): string[] {
  const width = Math.max(1, size.columns)
  const height = Math.max(1, size.rows)
  const fit = (lines: ReadonlyArray<string>) => lines.map((l) => truncate(l, width))

  const loginLines =
    state.logins === undefined
      ? ["  (not read yet)"]
      : state.logins.length === 0
        ? ["  (no Guacamole user may use a connection)"]
        : state.logins.map((l) => `  ${loginLine(l)}`)
  const cap = (lines: ReadonlyArray<string>, max: number): string[] =>
    lines.length <= max ? [...lines] : max <= 0 ? [] : [...lines.slice(0, max - 1), `  … ${lines.length - (max - 1)} more`]
  const legend = ["", ...wrapEntries(LEGEND, width)]
  const logins = (max: number) => ["", "What a Guacamole login sees (from the database):", ...cap(loginLines, max)]
  const footer = ["", ...state.footer]
  const bindings = state.bindings
  // The table's least: its header, one row and the summary line.
  const tableNeeds = bindings.length === 0 ? 2 : Math.min(bindings.length + 1, 3)
  // What goes under the table, from the fullest to the barest: the first that leaves the table its least.
  const candidates = [
    [...legend, ...logins(Math.max(1, Math.floor(height / 5))), ...footer],
    [...legend, ...logins(Math.max(1, Math.floor(height / 5)))],
    [...legend, ...logins(1)],
    legend,
    [],
  ]
  const under = candidates.find((c) => tableNeeds + c.length <= height) ?? []
  const below = under.length
  const room = Math.max(1, height - below)

  let table: string[]
  if (bindings.length === 0 || bindings.length + 1 <= room) {
    table = renderTable(bindings, width).split("\n")
  } else {
    const shown = Math.max(0, room - 2)
    const ordered = [...bindings.filter((b) => b.status !== "READY"), ...bindings.filter((b) => b.status === "READY")]
    const visible = ordered.slice(0, shown)
    const header = renderTable(visible.length > 0 ? visible : ordered.slice(0, 1), width).split("\n")
    table = [
      ...(visible.length > 0 ? header : header.slice(0, 1)),
      `… ${bindings.length - visible.length} more of ${bindings.length} bindings (${statusCounts(bindings)}; ` +
        "those not READY first; kubectl get awsb -A lists all)",
    ].slice(0, room)
  }
  return fit([...table, ...under]).slice(0, height)
}

// ---------------------------------------------------------------------------
// What a Guacamole login sees

export interface GuacamoleLogin {
  readonly login: string
  readonly connection: string
  readonly group: string | null
  readonly permission: string
  readonly hostname: string | null
  readonly port: string | null
}

/**
 * For every Guacamole user, the connections it may use, as Guacamole's JDBC
 * module reads them: entity → connection permission → connection → group and
 * parameters. The password parameter is never read.
 */
export async function readGuacamoleLogins(sql: postgres.Sql): Promise<GuacamoleLogin[]> {
  return sql<GuacamoleLogin[]>`
    SELECT e.name AS login, c.connection_name AS connection, g.connection_group_name AS "group",
           p.permission::text AS permission, h.parameter_value AS hostname, pt.parameter_value AS port
    FROM guacamole_entity e
    JOIN guacamole_user u ON u.entity_id = e.entity_id
    JOIN guacamole_connection_permission p ON p.entity_id = e.entity_id
    JOIN guacamole_connection c ON c.connection_id = p.connection_id
    LEFT JOIN guacamole_connection_group g ON g.connection_group_id = c.parent_id
    LEFT JOIN guacamole_connection_parameter h ON h.connection_id = c.connection_id AND h.parameter_name = 'hostname'
    LEFT JOIN guacamole_connection_parameter pt ON pt.connection_id = c.connection_id AND pt.parameter_name = 'port'
    WHERE e.type = 'USER' AND NOT u.disabled
    ORDER BY e.name, g.connection_group_name, c.connection_name, p.permission`.simple()
}

export const loginLine = (l: GuacamoleLogin): string =>
  `${l.login} → connection ${JSON.stringify(l.connection)}` +
  (l.group === null ? " at the root" : ` in group ${JSON.stringify(l.group)}`) +
  ` (${l.permission}), hostname ${l.hostname ?? "?"}:${l.port ?? "?"}`

// ---------------------------------------------------------------------------
// The live view

export interface LiveViewOptions {
  readonly emulator: Emulator
  readonly sql: postgres.Sql
  /** True when the database may be read now (the embedded PGlite shares one backend with the operator). */
  readonly mayQuery: () => boolean
  readonly write: (text: string) => void
  /** Redraw in place on the alternate screen (a terminal) or print a line per change. */
  readonly tty: boolean
  /** The terminal's size now (asked at every redraw, so a resize is followed). */
  readonly size?: () => ScreenSize
  /** Lines under the table on a terminal. */
  readonly footer: ReadonlyArray<string>
  readonly intervalMs?: number
  /** Re-read the database at least this often while the operator is quiet (default 2 s). */
  readonly dbRefreshMs?: number
}

export interface LiveView {
  /** Runs one refresh now (also what the timer does). */
  refresh(): Promise<void>
  /** Stops refreshing and, on a terminal, leaves the alternate screen (what was there before comes back). */
  stop(): void
}

const ESC = "\u001b["
const ALTERNATE_SCREEN = `${ESC}?1049h${ESC}?25l`
const MAIN_SCREEN = `${ESC}?25h${ESC}?1049l`

export function startLiveView(options: LiveViewOptions): LiveView {
  const intervalMs = options.intervalMs ?? 300
  const dbRefreshMs = options.dbRefreshMs ?? 2000
  const size = options.size ?? (() => ({ columns: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24 }))
  let connections: ConnectionSet | undefined
  let logins: GuacamoleLogin[] | undefined
  let connectionsAt = 0
  let connectionsFor = ""
  let drawn = ""
  const printed = new Map<string, string>()
  let printedLogins = ""
  let legendPrinted = false
  let running = false
  let stopped = false
  if (options.tty) options.write(ALTERNATE_SCREEN)

  const refresh = async () => {
    if (running || stopped) return
    running = true
    try {
      // The Kubernetes side without the database, to see whether the database needs a fresh look.
      const kubeKey = JSON.stringify(readBindings(options.emulator, undefined))
      const stale = kubeKey !== connectionsFor || Date.now() - connectionsAt > dbRefreshMs
      if (stale && options.mayQuery()) {
        try {
          ;[connections, logins] = await Promise.all([readConnections(options.sql), readGuacamoleLogins(options.sql)])
          connectionsAt = Date.now()
          connectionsFor = kubeKey
        } catch {
          connections = undefined
        }
      }
      if (stopped) return
      const rows = readBindings(options.emulator, connections)
      if (options.tty) {
        const lines = renderScreen({ bindings: rows, logins, footer: options.footer }, size())
        // Home, each line over the old one (clearing its rest), then clear below: no scrolling, no flicker.
        const text = `${ESC}H${lines.map((l) => `${l}${ESC}K`).join("\r\n")}${ESC}J`
        if (text !== drawn) {
          options.write(text)
          drawn = text
        }
      } else {
        if (!legendPrinted) {
          legendPrinted = true
          options.write(`${LEGEND.join("; ")}\n`)
        }
        const seen = new Set<string>()
        for (const r of rows) {
          const key = `${r.namespace}/${r.name}`
          seen.add(key)
          const line = plainLine(r)
          if (printed.get(key) !== line) {
            printed.set(key, line)
            options.write(line + "\n")
          }
        }
        for (const key of [...printed.keys()]) {
          if (!seen.has(key)) {
            printed.delete(key)
            options.write(goneLine(key) + "\n")
          }
        }
        const loginText = logins === undefined ? "" : logins.map((l) => `  ${loginLine(l)}\n`).join("")
        if (logins !== undefined && loginText !== printedLogins) {
          printedLogins = loginText
          options.write(`What a Guacamole login sees (from the database):\n${loginText || "  (no Guacamole user may use a connection)\n"}`)
        }
      }
    } finally {
      running = false
    }
  }

  const timer = setInterval(() => void refresh(), intervalMs)
  void refresh()
  return {
    refresh,
    stop() {
      if (stopped) return
      stopped = true
      clearInterval(timer)
      if (options.tty) options.write(MAIN_SCREEN)
    },
  }
}
