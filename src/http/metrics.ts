/**
 * Prometheus metrics, named as controller-runtime names them so existing
 * dashboards and alerts work, plus a few of the operator's own. One registry
 * per operator instance (tests run several in one process).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client"

export const CONTROLLER = "analyticsworkspacebinding"

export interface Metrics {
  readonly registry: Registry
  readonly reconcileTotal: Counter<"controller" | "result">
  readonly reconcileErrors: Counter<"controller" | "error">
  readonly reconcileTime: Histogram<"controller">
  readonly queueDepth: Gauge<"name">
  readonly queueRetries: Counter<"name">
  readonly kubeWrites: Counter<"controller">
  readonly watchRestarts: Counter<"resource" | "cause">
  readonly bindings: Gauge<"status">
  /** Sign-in to ready browser: spec.replicas 0→1 seen → the Deployment reports a ready replica. */
  readonly browserStart: Histogram
  /** The operator's share of it: the change seen → the Deployment patched. */
  readonly browserStartOperator: Histogram
  /** Browsers the idle culler stopped, by reason (idle, max-age). */
  readonly browserStops: Counter<"reason">
  /** Length of one idle check (its one query and the scale-downs it made). */
  readonly idleCheckTime: Histogram
  /** Called at every scrape, before the metrics are rendered: gauges and counters derived from live state. */
  readonly onScrape: Array<() => void>
}

/** The exposition text, after refreshing what is derived from live state. */
export const scrape = (metrics: Metrics): Promise<string> => {
  for (const refresh of metrics.onScrape) refresh()
  return metrics.registry.metrics()
}

/**
 * prom-client's per-space heap gauges call v8.getHeapSpaceStatistics(), which Bun answers by
 * visiting every object of the heap: at 10,000 bindings each scrape held the operator's one
 * thread for about 0.3 s. The process's resident memory and the heap's size and use
 * (nodejs_heap_size_*) are cheap and stay.
 */
const HEAP_WALKING_METRICS = [
  "nodejs_heap_space_size_total_bytes",
  "nodejs_heap_space_size_used_bytes",
  "nodejs_heap_space_size_available_bytes",
]

export const makeMetrics = (options: { defaultMetrics?: boolean } = {}): Metrics => {
  const registry = new Registry()
  if (options.defaultMetrics) {
    collectDefaultMetrics({ register: registry })
    for (const name of HEAP_WALKING_METRICS) registry.removeSingleMetric(name)
  }
  const registers = [registry]
  const onScrape: Array<() => void> = []
  return {
    onScrape,
    registry,
    reconcileTotal: new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller and result",
      labelNames: ["controller", "result"],
      registers,
    }),
    reconcileErrors: new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller and error type",
      labelNames: ["controller", "error"],
      registers,
    }),
    reconcileTime: new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      labelNames: ["controller"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    queueDepth: new Gauge({
      name: "workqueue_depth",
      help: "Current depth of the work queue",
      labelNames: ["name"],
      registers,
    }),
    queueRetries: new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by the work queue",
      labelNames: ["name"],
      registers,
    }),
    kubeWrites: new Counter({
      name: "awms_kubernetes_writes_total",
      help: "Kubernetes API writes (create, patch, delete) made by reconciles",
      labelNames: ["controller"],
      registers,
    }),
    watchRestarts: new Counter({
      name: "awms_watch_restarts_total",
      help: "Watches restarted, by resource and cause (idle, gone, error)",
      labelNames: ["resource", "cause"],
      registers,
    }),
    bindings: new Gauge({
      name: "awms_bindings",
      help: "Bindings known to the operator, by status",
      labelNames: ["status"],
      registers,
    }),
    browserStart: new Histogram({
      name: "awms_browser_start_seconds",
      help: "From the operator seeing a binding's spec.replicas go from 0 to 1 to its browser Deployment reporting a ready replica",
      buckets: [0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300],
      registers,
    }),
    browserStartOperator: new Histogram({
      name: "awms_browser_start_operator_seconds",
      help: "The operator's share of a browser start: the binding's scale-up seen to the Deployment patched",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    browserStops: new Counter({
      name: "awms_browser_stops_total",
      help: "Browsers stopped by the operator (the binding scaled to 0), by reason: idle or max-age",
      labelNames: ["reason"],
      registers,
    }),
    idleCheckTime: new Histogram({
      name: "awms_idle_check_seconds",
      help: "Length of one check of the running browsers for activity and age",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
  }
}
