/**
 * core/v1 Events and events.k8s.io/v1 Events are one stored object seen
 * through two APIs; these convert between the two shapes.
 */

const RENAMES: [core: string, eventsV1: string][] = [
  ["involvedObject", "regarding"],
  ["message", "note"],
  ["reportingComponent", "reportingController"],
  ["source", "deprecatedSource"],
  ["firstTimestamp", "deprecatedFirstTimestamp"],
  ["lastTimestamp", "deprecatedLastTimestamp"],
  ["count", "deprecatedCount"],
]

const SAME = ["metadata", "reason", "type", "related", "reportingInstance", "action", "eventTime", "series"]

/** A stored core/v1 Event as an events.k8s.io/v1 Event. */
export function coreToEventsV1(core: any): any {
  const out: any = { kind: "Event", apiVersion: "events.k8s.io/v1" }
  for (const k of SAME) if (core[k] !== undefined) out[k] = core[k]
  for (const [c, e] of RENAMES) if (core[c] !== undefined && core[c] !== "" && core[c] !== 0) out[e] = core[c]
  if (out.series) out.series = { count: core.series.count, lastObservedTime: core.series.lastObservedTime }
  return out
}

/** An events.k8s.io/v1 Event as the core/v1 Event it is stored as. */
export function eventsV1ToCore(ev: any): any {
  const out: any = { kind: "Event", apiVersion: "v1" }
  for (const k of SAME) if (ev[k] !== undefined) out[k] = ev[k]
  for (const [c, e] of RENAMES) if (ev[e] !== undefined) out[c] = ev[e]
  if (!out.source && ev.reportingController) out.source = { component: ev.reportingController }
  return out
}
