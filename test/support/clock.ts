/**
 * A Clock whose wall time a test sets, while sleeping stays real: the
 * operator's reconciles see the date the test chooses (expiry), and its
 * timers, retries and watches run as usual.
 */
import { Clock, type Duration, Effect } from "effect"

export interface SettableClock extends Clock.Clock {
  set(date: Date): void
}

export const settableClock = (start: Date): SettableClock => {
  const real = Clock.make()
  let offset = start.getTime() - Date.now()
  const millis = () => Date.now() + offset
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: millis,
    currentTimeMillis: Effect.sync(millis),
    unsafeCurrentTimeNanos: () => BigInt(millis()) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(millis()) * 1_000_000n),
    sleep: (duration: Duration.Duration) => real.sleep(duration),
    set(date: Date) {
      offset = date.getTime() - Date.now()
    },
  }
}
