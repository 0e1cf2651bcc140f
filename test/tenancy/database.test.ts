/**
 * Issue 8 cases 8 and 9: the database failing or blocking never kills or
 * stalls the operator. Real PostgreSQL only: PGlite has one backend, no
 * pg_terminate_backend and no row locks between sessions.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout } from "bun:test"
import { resolve } from "node:path"
import { Duration } from "effect"
import postgres from "postgres"
import { settled, startHarness, type Harness } from "../support/operator.ts"
import { createTestDatabase, repoRoot, testWithRealPostgres, usingRealPostgres } from "../support/postgres.ts"
import { waitFor } from "../support/wait.ts"
import { connectionsOf, deleteBinding, patchSpec, spec, waitForGone, waitForStatusOf } from "./support.ts"

setDefaultTimeout(90_000)

describe("issue 8 case 8: pg_terminate_backend during writes", () => {
  testWithRealPostgres("never kills the process: the writes fail and are retried, and the pool works afterwards", async () => {
    const db = await createTestDatabase()
    try {
      const child = Bun.spawn(["bun", resolve(repoRoot, "test/guacamole/terminate-during-writes.ts"), db.url], {
        cwd: repoRoot,
        stdout: "pipe",
        stderr: "pipe",
      })
      const [code, out, err] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()])
      // The crash was postgres.js writing to a null socket from setImmediate: uncaught, the process ended mid-storm.
      expect(err).not.toContain("socket.write")
      // It ran to its end: the result line is printed only after the storm and a ping on the same pool.
      // (The exit status is not asserted: Bun sometimes reports a 57P01 PostgresError as unhandled at
      // exit, after the run; see the README's Tenancy section.)
      const last = out.trim().split("\n").at(-1) ?? ""
      expect(last, `exit ${code}; stderr: ${err.slice(-2000)}`).toStartWith("{")
      const result = JSON.parse(last)
      expect(result.terminated).toBeGreaterThan(0)
      expect(result.ok).toBeGreaterThan(0)
      expect(result.pingAfter).toBe(true)
    } finally {
      await db.close()
    }
  })
})

describe("issue 8 case 9: a row lock held by another session", () => {
  let h: Harness
  beforeAll(async () => {
    if (!usingRealPostgres) return
    h = await startHarness({ config: { concurrency: 4 }, db: { maxConnections: 2, lockTimeoutMs: 500, statementTimeoutMs: 5_000 } })
  })
  afterAll(async () => {
    await h?.close()
  })

  testWithRealPostgres("stalls only its workspace: others and revocations go on, /readyz answers, and it converges once released", async () => {
    await h.createBinding("locked", spec("ws-locked", "locked"))
    // Three more of that workspace: under the old operator each waited on the workspace's lock with a pool connection.
    for (let i = 0; i < 3; i++) await h.createBinding(`locked-${i}`, spec("ws-locked", `locked-${i}`))
    await h.createBinding("gone-soon", spec("ws-free", "gone-soon"))
    await waitForStatusOf(h, "locked", "READY")
    await waitForStatusOf(h, "gone-soon", "READY")
    await settled(h)

    // Another session locks the locked binding's user row and keeps its transaction open.
    const other = postgres(h.db.url, { max: 1, onnotice: () => {} })
    const blocker = await other.reserve()
    try {
      await blocker`BEGIN`
      await blocker`SELECT u.user_id FROM guacamole_user u JOIN guacamole_entity e USING (entity_id) WHERE e.name = 'ws-locked@locked' FOR UPDATE`
      // A change that must update that row (the expiry), and changes to the rest of its workspace.
      await patchSpec(h, "locked", { expires: "2098-01-01" })
      for (let i = 0; i < 3; i++) await patchSpec(h, `locked-${i}`, { expires: "2098-01-01" })
      // Every other workspace goes on, through a pool of only two connections.
      for (let i = 0; i < 6; i++) await h.createBinding(`free-${i}`, spec(`ws-free-${i}`, `u${i}`))
      for (let i = 0; i < 6; i++) await waitForStatusOf(h, `free-${i}`, "READY", undefined, 20_000)
      // A revocation too.
      await deleteBinding(h, "gone-soon")
      await waitForGone(h, "gone-soon")
      expect(await connectionsOf(h.db.sql, "ws-free@gone-soon")).toEqual([])
      // /readyz answers promptly (200 or 503, but an answer).
      const started = performance.now()
      const ready = await fetch(`${h.operator().http.url}/readyz`)
      const readyMs = performance.now() - started
      expect([200, 503]).toContain(ready.status)
      console.log(`/readyz answered ${ready.status} in ${readyMs.toFixed(0)} ms while a row was locked`)
      expect(readyMs).toBeLessThan(Duration.toMillis(Duration.seconds(1)) + 500)
      // The locked binding's row still has the old date: the operator waited, then gave up and will retry.
      const [row] = await h.db.sql`SELECT to_char(valid_until, 'YYYY-MM-DD') AS d FROM guacamole_user u JOIN guacamole_entity e USING (entity_id) WHERE e.name = 'ws-locked@locked'`
      expect(row!.d).toBe("2099-12-31")
    } finally {
      await blocker`ROLLBACK`.catch(() => undefined)
      blocker.release()
      await other.end({ timeout: 5 })
    }
    await waitFor(
      async () => {
        const [row] = await h.db.sql`SELECT to_char(valid_until, 'YYYY-MM-DD') AS d FROM guacamole_user u JOIN guacamole_entity e USING (entity_id) WHERE e.name = 'ws-locked@locked'`
        return row?.d === "2098-01-01"
      },
      { timeoutMs: 20_000, message: "the locked binding to converge once the lock is released" },
    )
  })
})
