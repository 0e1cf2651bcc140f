import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test"
import { Duration, Effect, Exit, Fiber, Scope } from "effect"
import { layerFromConfig } from "../../src/runtime/client.ts"
import { acquireLeadership, type Leadership } from "../../src/runtime/leader.ts"
import { startEmulator, type Emulator } from "@awms/kube-emulator"
import { waitFor } from "../support/wait.ts"

// Servers start and every wait has its own deadline; this is only the backstop (Bun sets it per file).
setDefaultTimeout(60_000)

let api: Emulator
beforeAll(async () => {
  api = await startEmulator({ namespaces: ["default", "guacamole"] })
})
afterAll(async () => {
  await api?.stop()
})

const timings = {
  namespace: "guacamole",
  name: "operator-lease",
  leaseDuration: Duration.seconds(3),
  renewDeadline: Duration.seconds(2),
  retryPeriod: Duration.millis(100),
}

const candidate = (identity: string) => {
  const scope = Effect.runSync(Scope.make())
  const fiber = Effect.runFork(
    Scope.extend(acquireLeadership({ ...timings, identity }), scope).pipe(Effect.provide(layerFromConfig(api.kubeConfig()))),
  )
  return {
    fiber,
    leader: () => fiber.unsafePoll() !== null,
    close: async () => {
      await Effect.runPromise(Fiber.interrupt(fiber))
      await Effect.runPromise(Scope.close(scope, Exit.void))
    },
  }
}

describe("leader election", () => {
  test("one candidate leads, the other waits, and takes over at once when the leader releases the Lease", async () => {
    const a = candidate("pod-a")
    await waitFor(a.leader, { message: "pod-a to lead" })
    const b = candidate("pod-b")
    // b keeps trying while a renews: it must not lead during several of a's renewals.
    const lease = () => api.get("coordination.k8s.io", "leases", "guacamole", "operator-lease")
    const firstRenewal = lease().spec.renewTime
    await waitFor(() => lease().spec.renewTime !== firstRenewal, { message: "pod-a to renew" })
    expect(b.leader()).toBe(false)
    expect(lease().spec.holderIdentity).toBe("pod-a")

    await a.close()
    await waitFor(b.leader, { timeoutMs: 2000, message: "pod-b to take over before the Lease would expire" })
    expect(lease().spec.holderIdentity).toBe("pod-b")
    expect(lease().spec.leaseTransitions).toBe(1)
    await b.close()
  })

  test("a leader that cannot renew reports leadership lost", async () => {
    const a = candidate("pod-c")
    await waitFor(a.leader, { message: "pod-c to lead" })
    const leadership = (await Effect.runPromise(Fiber.join(a.fiber))) as Leadership
    api.faults.failNext({ resource: "leases" }, { code: 503, count: 1000 })
    const reason = await Effect.runPromise(leadership.lost.pipe(Effect.timeout(Duration.seconds(8))))
    expect(reason).toContain("could not renew")
    api.faults.clear()
    await a.close()
  })

  test("a renewal the API server never answers: leadership is lost at the renew deadline", async () => {
    const a = candidate("pod-d")
    await waitFor(a.leader, { message: "pod-d to lead" })
    const leadership = (await Effect.runPromise(Fiber.join(a.fiber))) as Leadership
    // Every Lease request hangs far beyond the Lease's 3 s: a connection black-holed.
    api.faults.addLatency({ resource: "leases" }, 60_000)
    try {
      // Waiting on the hung request itself, the leader would never notice: a standby takes the
      // expired Lease while it goes on reconciling.
      const reason = await Effect.runPromise(leadership.lost.pipe(Effect.timeout(Duration.seconds(8))))
      expect(reason).toContain("could not renew")
    } finally {
      api.faults.clear()
      await a.close()
    }
  })
})
