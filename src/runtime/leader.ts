/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
 * take the Lease when it is free or its holder stopped renewing, renew it
 * while running, and give it up on shutdown so a standby takes over at once.
 * Every write is a PUT carrying the resourceVersion read, so two candidates
 * can never both believe they won (the loser gets 409 Conflict).
 */
import { Deferred, Duration, Effect, type Scope } from "effect"
import { KubeClient, type KubeObject } from "./client.ts"
import { noAnswer, type KubeError } from "./errors.ts"
import { Leases } from "./resources.ts"

export interface LeaderElectionSettings {
  readonly namespace: string
  readonly name: string
  readonly identity: string
  readonly leaseDuration: Duration.Duration
  readonly renewDeadline: Duration.Duration
  readonly retryPeriod: Duration.Duration
  readonly now?: () => Date
}

export const defaultTimings = {
  leaseDuration: Duration.seconds(15),
  renewDeadline: Duration.seconds(10),
  retryPeriod: Duration.seconds(2),
}

export interface Leadership {
  /** Completes (with a reason) if leadership is lost; the operator must then stop. */
  readonly lost: Effect.Effect<string>
}

const microTime = (d: Date) => d.toISOString().replace(/Z$/, "000Z")

/**
 * Blocks until this instance holds the Lease, then keeps renewing it in the
 * background of the scope; releases it when the scope closes.
 */
export const acquireLeadership = (
  settings: LeaderElectionSettings,
): Effect.Effect<Leadership, never, KubeClient | Scope.Scope> =>
  Effect.gen(function* () {
    const kube = yield* KubeClient
    const now = settings.now ?? (() => new Date())
    const durationSeconds = Math.ceil(Duration.toSeconds(settings.leaseDuration))

    const spec = (previous: KubeObject | undefined, takingOver: boolean) => {
      const at = microTime(now())
      const transitions = Number(previous?.spec?.leaseTransitions ?? 0)
      return {
        holderIdentity: settings.identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: takingOver ? at : (previous?.spec?.acquireTime ?? at),
        renewTime: at,
        leaseTransitions: takingOver && previous ? transitions + 1 : transitions,
      }
    }

    /** One attempt: true when we hold the Lease afterwards. */
    const tryAcquireOrRenew: Effect.Effect<boolean, KubeError> = Effect.gen(function* () {
      const existing = yield* kube
        .get(Leases, settings.namespace, settings.name)
        .pipe(Effect.catchTag("KubeNotFound", () => Effect.succeed(undefined)))
      if (!existing) {
        yield* kube.create(Leases, settings.namespace, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: settings.name, namespace: settings.namespace },
          spec: spec(undefined, true),
        })
        return true
      }
      const holder = existing.spec?.holderIdentity
      const ours = holder === settings.identity
      const renewed = Date.parse(existing.spec?.renewTime ?? "")
      const duration = Number(existing.spec?.leaseDurationSeconds ?? durationSeconds) * 1000
      const expired = !holder || Number.isNaN(renewed) || renewed + duration < now().getTime()
      if (!ours && !expired) return false
      yield* kube.replace(Leases, settings.namespace, { ...existing, spec: { ...existing.spec, ...spec(existing, !ours) } })
      return true
    }).pipe(
      Effect.catchTag("KubeConflict", () => Effect.succeed(false)),
    )

    // Acquire.
    let announced = false
    for (;;) {
      const won = yield* tryAcquireOrRenew.pipe(
        Effect.catchAll((e) => Effect.logWarning(`leader election: ${e.message}`).pipe(Effect.as(false))),
      )
      if (won) break
      if (!announced) {
        yield* Effect.logInfo(`waiting to become leader (Lease ${settings.namespace}/${settings.name})`)
        announced = true
      }
      yield* Effect.sleep(settings.retryPeriod)
    }
    yield* Effect.logInfo(`became leader as ${settings.identity}`)

    // Renew; give up after renewDeadline without a successful renewal.
    const lost = yield* Deferred.make<string>()
    yield* Effect.forkScoped(
      Effect.gen(function* () {
        let lastRenewal = Date.now()
        const deadline = Duration.toMillis(settings.renewDeadline)
        for (;;) {
          yield* Effect.sleep(settings.retryPeriod)
          const started = Date.now()
          // An attempt the API server never answers (a connection black-holed) must not hold the
          // loop past the deadline: a standby takes the Lease once it expires.
          const ok = yield* tryAcquireOrRenew.pipe(
            Effect.timeoutFail({
              duration: Duration.millis(Math.max(0, lastRenewal + deadline - started)),
              onTimeout: () => noAnswer("the API server did not answer in time"),
            }),
            Effect.catchAll((e) => Effect.logWarning(`lease renewal failed: ${e.message}`).pipe(Effect.as(false))),
          )
          // Counted from when the attempt began: the server may have taken the renewal as of then.
          if (ok) lastRenewal = started
          else if (Date.now() - lastRenewal >= deadline) {
            yield* Deferred.succeed(lost, `could not renew the Lease within ${Duration.format(settings.renewDeadline)}`)
            return
          }
        }
      }),
    )

    // Release on shutdown, so a standby need not wait for the Lease to expire.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const existing = yield* kube.get(Leases, settings.namespace, settings.name)
        if (existing.spec?.holderIdentity !== settings.identity) return
        yield* kube.replace(Leases, settings.namespace, {
          ...existing,
          spec: { ...existing.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: microTime(now()) },
        })
        yield* Effect.logInfo("released leadership")
      }).pipe(Effect.catchAll((e) => Effect.logWarning(`could not release the Lease: ${e.message}`))),
    )
    return { lost: Deferred.await(lost) }
  })
