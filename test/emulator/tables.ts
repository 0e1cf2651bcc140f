/**
 * `meta.k8s.io/v1 Table` output, which kubectl asks for on `kubectl get`:
 * a CRD's additionalPrinterColumns, or columns like the real printers'
 * for the built-in kinds.
 */
import { getPath } from "./api.ts"
import type { PrinterColumn, ResourceType } from "./registry.ts"

interface Column {
  name: string
  type: string
  format: string
  description: string
  priority: number
  cell: (obj: any) => unknown
}

/** How long ago, as kubectl prints it (`5s`, `3m10s`, `2d`…). */
export function humanAge(ts: string | undefined, nowMs = Date.now()): string {
  if (!ts) return "<unknown>"
  const secs = Math.max(0, Math.floor((nowMs - Date.parse(ts)) / 1000))
  if (secs < 120) return `${secs}s`
  const mins = Math.floor(secs / 60)
  if (mins < 10) return secs % 60 ? `${mins}m${secs % 60}s` : `${mins}m`
  if (mins < 180) return `${mins}m`
  const hours = Math.floor(mins / 60)
  if (hours < 8) return mins % 60 ? `${hours}h${mins % 60}m` : `${hours}h`
  if (hours < 48) return `${hours}h`
  const days = Math.floor(hours / 24)
  if (days < 8) return hours % 24 ? `${days}d${hours % 24}h` : `${days}d`
  if (days < 365 * 2) return `${days}d`
  return `${Math.floor(days / 365)}y`
}

const name: Column = {
  name: "Name",
  type: "string",
  format: "name",
  description: "Name must be unique within a namespace.",
  priority: 0,
  cell: (o) => o.metadata?.name,
}
const age: Column = {
  name: "Age",
  type: "string",
  format: "",
  description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
  priority: 0,
  cell: (o) => humanAge(o.metadata?.creationTimestamp),
}

function col(n: string, cell: (o: any) => unknown, type = "string", priority = 0): Column {
  return { name: n, type, format: "", description: n, priority, cell }
}

function ports(svc: any): string {
  const ps: any[] = svc.spec?.ports ?? []
  if (ps.length === 0) return "<none>"
  return ps.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol ?? "TCP"}`).join(",")
}

function builtinColumns(type: ResourceType): Column[] {
  const key = `${type.group}/${type.resource}`
  switch (key) {
    case "/namespaces":
      return [name, col("Status", (o) => o.status?.phase ?? ""), age]
    case "/configmaps":
      return [name, col("Data", (o) => Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length, "integer"), age]
    case "/secrets":
      return [name, col("Type", (o) => o.type ?? ""), col("Data", (o) => Object.keys(o.data ?? {}).length, "integer"), age]
    case "/services":
      return [
        name,
        col("Type", (o) => o.spec?.type ?? "ClusterIP"),
        col("Cluster-IP", (o) => o.spec?.clusterIP ?? "<none>"),
        col("External-IP", (o) => (o.spec?.externalIPs ?? []).join(",") || "<none>"),
        col("Port(s)", ports),
        age,
        col("Selector", (o) => Object.entries(o.spec?.selector ?? {}).map(([k, v]) => `${k}=${v}`).join(",") || "<none>", "string", 1),
      ]
    case "/events":
    case "events.k8s.io/events":
      return [
        col("Last Seen", (o) => humanAge(o.lastTimestamp ?? o.eventTime ?? o.metadata?.creationTimestamp)),
        col("Type", (o) => o.type ?? ""),
        col("Reason", (o) => o.reason ?? ""),
        col("Object", (o) => `${String(o.involvedObject?.kind ?? "").toLowerCase()}/${o.involvedObject?.name ?? ""}`),
        col("Message", (o) => o.message ?? ""),
      ]
    case "apps/deployments":
      return [
        name,
        col("Ready", (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}`),
        col("Up-to-date", (o) => o.status?.updatedReplicas ?? 0, "integer"),
        col("Available", (o) => o.status?.availableReplicas ?? 0, "integer"),
        age,
        col("Containers", (o) => (o.spec?.template?.spec?.containers ?? []).map((c: any) => c.name).join(","), "string", 1),
        col("Images", (o) => (o.spec?.template?.spec?.containers ?? []).map((c: any) => c.image).join(","), "string", 1),
      ]
    case "coordination.k8s.io/leases":
      return [name, col("Holder", (o) => o.spec?.holderIdentity ?? ""), age]
    case "apiextensions.k8s.io/customresourcedefinitions":
      return [name, col("Created At", (o) => o.metadata?.creationTimestamp ?? "", "date")]
    default:
      return [name, age]
  }
}

function crdColumns(cols: PrinterColumn[]): Column[] {
  const out: Column[] = [name]
  const list = cols.length ? cols : [{ name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" }]
  for (const c of list) {
    out.push({
      name: c.name,
      type: c.type,
      format: c.format ?? "",
      description: c.description ?? "",
      priority: c.priority ?? 0,
      cell: (o) => {
        const v = getPath(o, c.jsonPath.replace(/^\./, ""))
        if (v === undefined || v === null) return null
        if (c.type === "date" && typeof v === "string") return humanAge(v)
        return v
      },
    })
  }
  return out
}

function partial(obj: any): any {
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: obj.metadata }
}

/** A Table of `objects` (external form); includeObject is None, Metadata (default) or Object. */
export function toTable(
  type: ResourceType,
  version: string,
  objects: any[],
  listMeta: Record<string, unknown>,
  includeObject: string | null,
): Record<string, unknown> {
  const cols = type.crd ? crdColumns(type.crd.printerColumns[version] ?? []) : builtinColumns(type)
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: listMeta,
    columnDefinitions: cols.map(({ cell: _c, ...d }) => d),
    rows: objects.map((o) => {
      const row: Record<string, unknown> = { cells: cols.map((c) => c.cell(o) ?? null) }
      if (includeObject === "Object") row.object = o
      else if (includeObject !== "None") row.object = partial(o)
      return row
    }),
  }
}
