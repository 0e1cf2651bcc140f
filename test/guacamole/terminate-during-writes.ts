/**
 * Run as its own process by test/tenancy/database.test.ts: the operator's database
 * layer writing bindings (ensure and revoke, in transactions) while another
 * session keeps terminating its backends, as a failover or a restart does.
 * Prints one JSON line with what happened and exits 0 when the process
 * survived; an uncaught exception ends it with a non-zero status instead.
 *
 * argv: the database URL (with password; never printed).
 */
import { Effect, Either, Redacted } from "effect"
import postgres from "postgres"
import { make } from "../../src/guacamole/db.ts"
import { openPool, poolOptions } from "../../src/guacamole/pool.ts"
import { dbSettingsFromUrl } from "../../src/guacamole/settings.ts"

const settings = dbSettingsFromUrl(process.argv[2]!, { sslmode: "disable", maxConnections: 4 })
const pool = openPool(settings)
const db = make(pool)
const killer = postgres({ ...poolOptions({ ...settings, maxConnections: 1 }) })
let ok = 0
let failed = 0
let stop = false

const holder = (i: number) => ({ namespace: "jupyterhub", name: `b${i}`, uid: `uid-${i}` })
const writer = async (w: number) => {
  for (let round = 0; !stop; round++) {
    const i = w * 1000 + (round % 5)
    const username = `u${i}`
    const access = {
      workspace: `ws${w}`,
      username,
      entityName: `ws${w}@${username}`,
      hostname: `client-${i}.guacamole.svc.cluster.local`,
      port: 5900,
      password: Redacted.make(`pw${round}`),
      validUntil: null,
      disabled: round % 2 === 0,
      holder: holder(i),
    }
    const write: Effect.Effect<unknown, unknown> = round % 3 === 2 ? db.revoke({ holder: holder(i) }) : db.ensure(access)
    const result = await Effect.runPromise(Effect.either(write))
    Either.isRight(result) ? ok++ : failed++
  }
}

const writers = Array.from({ length: 6 }, (_, w) => writer(w))
let terminated = 0
for (let i = 0; i < 40; i++) {
  await Bun.sleep(25)
  const rows = await killer`
    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
     WHERE datname = current_database() AND application_name = 'awms-guacamole-operator' AND pid <> pg_backend_pid()`
  terminated += rows.length
}
stop = true
await Promise.all(writers)
// After the storm the pool must work again, by itself. The first ping may still meet a connection
// the last termination closed a moment ago (a transient failure, retried as the operator retries):
// it must succeed within a few seconds, with no new pool.
const deadline = Date.now() + 5_000
let pingAttempts = 0
let after: Either.Either<void, unknown>
for (;;) {
  pingAttempts++
  after = await Effect.runPromise(Effect.either(db.ping))
  if (Either.isRight(after) || Date.now() >= deadline) break
  await Bun.sleep(50)
}
console.log(JSON.stringify({ ok, failed, terminated, pingAfter: Either.isRight(after), pingAttempts }))
await killer.end({ timeout: 5 })
await pool.end({ timeout: 5 })
