/**
 * A restart over converged bindings reads their Guacamole rows back in one
 * batched read instead of one read per binding, and writes nothing; a row
 * changed while the operator was down is still found and put right.
 * Statements are counted on the wire, between the operator and PostgreSQL.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { deploymentNameFor } from "../../src/domain/naming.ts"
import { GUACAMOLE_NAMESPACE, settled, startHarness, type Harness } from "../support/operator.ts"
import { startPgProxy, type PgProxy } from "../support/pg-proxy.ts"
import { forEachServer } from "../support/servers.ts"
import { waitFor } from "../support/wait.ts"

setDefaultTimeout(120_000)

const BINDINGS = 40

forEachServer("read-back", (server) => {
  let h: Harness
  let proxy: PgProxy
  const names = Array.from({ length: BINDINGS }, (_, i) => `rb${i}`)
  const hostnameOf = async (username: string) =>
    (
      await h.db.sql<Array<{ value: string }>>`
        SELECT p.parameter_value AS value FROM guacamole_connection_parameter p
        JOIN guacamole_connection c ON c.connection_id = p.connection_id
        WHERE c.connection_name = ${username} AND p.parameter_name = 'hostname'`
    )[0]?.value

  beforeAll(async () => {
    h = await startHarness({ server, start: false })
    proxy = await startPgProxy({ host: h.config.db.host, port: h.config.db.port })
    // In clear between the operator and the proxy, so that its statements can be counted.
    h.reconfigure({ db: { ...h.config.db, host: "127.0.0.1", port: proxy.port, sslmode: "disable" } })
    await h.startOperator()
    await Promise.all(names.map((name, i) => h.createBinding(name, { workspace: `rbws${i % 4}`, username: name, expires: "2099-12-31" })))
    await waitFor(
      async () => (await Promise.all(names.map((n) => h.binding(n)))).every((b) => b?.status?.statusText === "READY"),
      { timeoutMs: 90_000, message: `all ${BINDINGS} bindings to be READY` },
    )
    await settled(h)
  })
  afterAll(async () => {
    await h?.close()
    await proxy?.close()
  })

  test(`a restart over ${BINDINGS} converged bindings costs a few statements, not one or more per binding, and writes nothing`, async () => {
    await h.stopOperator()
    const statements = proxy.statements()
    const mark = h.server.mark()
    await h.startOperator()
    await settled(h)
    const spent = proxy.statements() - statements
    // Start-up (the pool, the operator's indexes) and the one batched read: far fewer than the bindings.
    expect(spent).toBeGreaterThan(0)
    expect(spent).toBeLessThan(BINDINGS / 2)
    expect(await h.server.writesSince(mark)).toEqual([])
  })

  test("a connection redirected while the operator was down is put back at its start", async () => {
    await h.stopOperator()
    const wanted = await hostnameOf("rb7")
    expect(wanted).toBe(`client-${deploymentNameFor("rbws3", "rb7")}.${GUACAMOLE_NAMESPACE}.svc.cluster.local`)
    await h.db.sql`
      UPDATE guacamole_connection_parameter SET parameter_value = 'attacker.example'
      WHERE parameter_name = 'hostname' AND connection_id = (SELECT connection_id FROM guacamole_connection WHERE connection_name = 'rb7')`
    await h.startOperator()
    await waitFor(async () => (await hostnameOf("rb7")) === wanted, { message: "the hostname of rb7 to be put back" })
  })
})
