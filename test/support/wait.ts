/** Waiting on a condition with a deadline, never on the clock alone. */

export interface WaitOptions {
  readonly timeoutMs?: number
  readonly intervalMs?: number
  readonly message?: string
}

/**
 * Calls `probe` until it returns a truthy value without throwing, and returns
 * that value; fails with the last problem at the deadline.
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value) return value as T
      last = undefined
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? `: ${last.message}` : ""
      throw new Error(`timed out waiting for ${options.message ?? "a condition"}${detail}`)
    }
    await Bun.sleep(options.intervalMs ?? 20)
  }
}
