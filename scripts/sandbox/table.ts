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

/** The table as text (no trailing newline). */
export function renderTable(rows: ReadonlyArray<BindingRow>): string {
  const header = ["BINDING", "USER", "WORKSPACE", "STATUS", "READY", "CONNECTION"]
  const body = rows.map((r) => [`${r.namespace}/${r.name}`, r.user || "-", r.workspace || "-", r.status, readyText(r), connectionText(r)])
  if (body.length === 0) return `${header.join("   ")}\n(no bindings)`
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i]!)).join("   ").trimEnd()
  return [line(header), ...body.map(line)].join("\n")
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
  /** Redraw in place (a terminal) or print a line per change. */
  readonly tty: boolean
  /** Lines under the table on a terminal. */
  readonly footer: ReadonlyArray<string>
  readonly intervalMs?: number
  /** Re-read the database at least this often while the operator is quiet (default 2 s). */
  readonly dbRefreshMs?: number
}

export interface LiveView {
  /** Runs one refresh now (also what the timer does). */
  refresh(): Promise<void>
  stop(): void
}

const ESC = "\u001b["

export function startLiveView(options: LiveViewOptions): LiveView {
  const intervalMs = options.intervalMs ?? 300
  const dbRefreshMs = options.dbRefreshMs ?? 2000
  let connections: ConnectionSet | undefined
  let connectionsAt = 0
  let connectionsFor = ""
  let drawnLines = 0
  let drawn = ""
  const printed = new Map<string, string>()
  let running = false
  let stopped = false

  const refresh = async () => {
    if (running || stopped) return
    running = true
    try {
      // The Kubernetes side without the database, to see whether the database needs a fresh look.
      const kubeKey = JSON.stringify(readBindings(options.emulator, undefined))
      const stale = kubeKey !== connectionsFor || Date.now() - connectionsAt > dbRefreshMs
      if (stale && options.mayQuery()) {
        try {
          connections = await readConnections(options.sql)
          connectionsAt = Date.now()
          connectionsFor = kubeKey
        } catch {
          connections = undefined
        }
      }
      if (stopped) return
      const rows = readBindings(options.emulator, connections)
      if (options.tty) {
        const text = [renderTable(rows), "", ...options.footer].join("\n") + "\n"
        if (text !== drawn) {
          const up = drawnLines > 0 ? `${ESC}${drawnLines}F` : ""
          options.write(`${up}${ESC}J${text}`)
          drawn = text
          drawnLines = text.split("\n").length - 1
        }
      } else {
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
      stopped = true
      clearInterval(timer)
    },
  }
}
