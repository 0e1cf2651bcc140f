/**
 * The workload simulator: what the deployment controller and the kubelets
 * would do to a Deployment's status, `delayMs` after it changes.
 */
import { now, jsonEqual, type Api } from "./api.ts"
import { grKey, type StoreEvent } from "./store.ts"

const GR = grKey("apps", "deployments")

/** The status the deployment controller converges to for a Deployment whose pods all become ready. */
export function settledStatus(dep: any): any {
  const n: number = dep.spec?.replicas ?? 1
  const prev: any[] = dep.status?.conditions ?? []
  const cond = (type: string, reason: string, message: string) => {
    const p = prev.find((c) => c.type === type)
    const same = p && p.status === "True" && p.reason === reason
    const t = now()
    return {
      type,
      status: "True",
      lastUpdateTime: same ? p.lastUpdateTime : t,
      lastTransitionTime: p && p.status === "True" ? p.lastTransitionTime : t,
      reason,
      message,
    }
  }
  const status: any = { observedGeneration: dep.metadata.generation }
  if (n > 0) Object.assign(status, { replicas: n, updatedReplicas: n, readyReplicas: n, availableReplicas: n })
  status.conditions = [
    cond("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
    cond("Progressing", "NewReplicaSetAvailable", `ReplicaSet "${dep.metadata.name}-${hash(dep)}" has successfully progressed.`),
  ]
  return status
}

function hash(dep: any): string {
  const s = JSON.stringify(dep.spec?.template ?? {})
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0
  return h.toString(36).slice(0, 10).replace(/[^a-z0-9]/g, "x")
}

function settled(dep: any): boolean {
  const want = settledStatus(dep)
  const have = dep.status ?? {}
  const strip = (s: any) => ({ ...s, conditions: (s.conditions ?? []).map((c: any) => ({ type: c.type, status: c.status, reason: c.reason })) })
  return jsonEqual(strip(want), strip(have))
}

export class Workloads {
  private enabled: boolean
  private delayMs: number
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly unsubscribe: () => void

  constructor(
    private readonly api: Api,
    opts: { enabled?: boolean; delayMs?: number } = {},
  ) {
    this.enabled = opts.enabled ?? false
    this.delayMs = opts.delayMs ?? 200
    this.unsubscribe = api.store.subscribe((ev) => this.onEvent(ev))
  }

  setEnabled(on: boolean): void {
    this.enabled = on
    if (!on) this.clearTimers()
    else for (const { key, obj } of this.api.store.list(GR)) if (!settled(obj)) this.schedule(key)
  }

  setDelay(ms: number): void {
    this.delayMs = ms
  }

  private onEvent(ev: StoreEvent): void {
    if (ev.gr !== GR) return
    const key = ev.obj.metadata.namespace + "/" + ev.obj.metadata.name
    if (ev.type === "DELETED") {
      const t = this.timers.get(key)
      if (t) clearTimeout(t)
      this.timers.delete(key)
      return
    }
    if (!this.enabled || ev.obj.metadata.deletionTimestamp) return
    if (!settled(ev.obj)) this.schedule(key)
  }

  private schedule(key: string): void {
    const old = this.timers.get(key)
    if (old) clearTimeout(old)
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key)
        if (!this.enabled) return
        const dep = this.api.store.get(GR, key)
        if (!dep || dep.metadata.deletionTimestamp) return
        this.api.writeStatus(GR, key, settledStatus(dep))
      }, this.delayMs),
    )
  }

  private clearTimers(): void {
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
  }

  stop(): void {
    this.clearTimers()
    this.unsubscribe()
  }
}
