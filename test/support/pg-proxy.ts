/**
 * A TCP proxy between the operator and PostgreSQL that counts statements
 * and round trips without changing either side. A statement is one of the
 * client's Sync ('S', the end of one extended-protocol exchange) or simple
 * Query ('Q') messages after the startup packet; a round trip is a wait for
 * the server: a statement sent while no earlier one of its connection is
 * still unanswered (the server ends each answer with ReadyForQuery, 'Z'), so
 * statements a client pipelines count once. It also reads each connection's BackendKeyData ('K') from
 * the server, so the CPU time of exactly the operator's backends can be read
 * from /proc (a backend's last figure is kept when its connection closes).
 */
import { createConnection, createServer, type Server, type Socket } from "node:net"
import { cpuSeconds } from "./proc.ts"

export interface PgProxy {
  readonly port: number
  /** Statements (Sync + simple Query) so far. */
  statements(): number
  /** Round trips so far: statements sent with nothing outstanding on their connection. */
  roundTrips(): number
  /** When the last statement was sent (ms since the epoch). */
  lastAt(): number
  /** CPU seconds of the backends serving the proxy's connections, open and closed. */
  backendCpuSeconds(): number
  close(): Promise<void>
}

const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104

/** The client must not negotiate TLS through the proxy (DB_SSLMODE=disable): encrypted traffic cannot be counted. */
export async function startPgProxy(upstream: { host: string; port: number }): Promise<PgProxy> {
  let statements = 0
  let encrypted = false
  let trips = 0
  let last = Date.now()
  const live = new Map<Socket, number | undefined>()
  let closedCpu = 0
  const sockets = new Set<Socket>()

  const server: Server = createServer((client) => {
    const db = createConnection({ host: upstream.host, port: upstream.port })
    sockets.add(client).add(db)
    live.set(client, undefined)
    // Client → server: untyped startup packets first (SSL/GSS requests answered by one byte, then the startup message).
    let cbuf: Buffer = Buffer.alloc(0)
    let started = false
    let pendingOneByteAnswers = 0
    // Statements of this connection not yet answered with ReadyForQuery.
    let outstanding = 0
    client.on("data", (chunk: Buffer) => {
      db.write(chunk)
      cbuf = cbuf.length === 0 ? chunk : Buffer.concat([cbuf, chunk])
      let at = 0
      for (;;) {
        if (!started) {
          if (cbuf.length - at < 8) break
          const len = cbuf.readInt32BE(at)
          if (cbuf.length - at < len) break
          const code = cbuf.readInt32BE(at + 4)
          if (code === SSL_REQUEST || code === GSSENC_REQUEST) pendingOneByteAnswers++
          else started = true
          at += len
        } else {
          if (cbuf.length - at < 5) break
          const type = cbuf[at]!
          const len = cbuf.readInt32BE(at + 1)
          if (cbuf.length - at < 1 + len) break
          if (type === 0x53 /* S */ || type === 0x51 /* Q */) {
            statements++
            if (outstanding === 0) trips++
            outstanding++
            last = Date.now()
          }
          at += 1 + len
        }
      }
      cbuf = cbuf.subarray(at)
    })
    // Server → client: BackendKeyData once, and every ReadyForQuery.
    let sbuf: Buffer = Buffer.alloc(0)
    let keyFound = false
    let ready = false
    db.on("data", (chunk: Buffer) => {
      client.write(chunk)
      sbuf = sbuf.length === 0 ? chunk : Buffer.concat([sbuf, chunk])
      let at = 0
      while (pendingOneByteAnswers > 0 && sbuf.length - at >= 1) {
        pendingOneByteAnswers--
        // 'S': the server takes TLS, and nothing on this connection can be read or counted.
        if (sbuf[at] === 0x53) encrypted = true
        at += 1
      }
      while (sbuf.length - at >= 5) {
        const type = sbuf[at]!
        const len = sbuf.readInt32BE(at + 1)
        if (sbuf.length - at < 1 + len) break
        if (type === 0x4b /* K */ && !keyFound) {
          live.set(client, sbuf.readInt32BE(at + 5))
          keyFound = true
        }
        if (type === 0x5a /* Z */) {
          // The first ReadyForQuery ends the start-up, which no statement asked for.
          if (ready && outstanding > 0) outstanding--
          ready = true
        }
        at += 1 + len
      }
      sbuf = sbuf.subarray(at)
    })
    const end = () => {
      if (!live.has(client)) return
      const pid = live.get(client)
      // Read the backend's CPU before the server sees the client go: it is idle, its figure final.
      if (pid !== undefined) closedCpu += cpuSeconds(pid) ?? 0
      live.delete(client)
      client.destroy()
      db.destroy()
      sockets.delete(client)
      sockets.delete(db)
    }
    client.on("close", end).on("error", end)
    db.on("close", end).on("error", end)
  })
  const counted = (n: number) => {
    if (encrypted) throw new Error("a client negotiated TLS through the SQL proxy: its statements cannot be counted (use sslmode disable)")
    return n
  }
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("the SQL proxy has no port")
  return {
    port: address.port,
    statements: () => counted(statements),
    roundTrips: () => counted(trips),
    lastAt: () => last,
    backendCpuSeconds: () => {
      let s = closedCpu
      for (const pid of live.values()) if (pid !== undefined) s += cpuSeconds(pid) ?? 0
      return s
    },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
