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
  /** Called at every scrape, before the metrics are rendered: gauges and counters derived from live state. */
  readonly onScrape: Array<() => void>
}

/** The exposition text, after refreshing what is derived from live state. */
export const scrape = (metrics: Metrics): Promise<string> => {
  for (const refresh of metrics.onScrape) refresh()
  return metrics.registry.metrics()
}

export const makeMetrics = (options: { defaultMetrics?: boolean } = {}): Metrics => {
  const registry = new Registry()
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry })
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
  }
}
