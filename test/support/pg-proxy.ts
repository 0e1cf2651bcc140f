/**
 * A TCP proxy between the operator and PostgreSQL that counts round trips
 * without changing either side: the client's Sync ('S', the end of one
 * extended-protocol exchange) and simple Query ('Q') messages after the
 * startup packet. It also reads each connection's BackendKeyData ('K') from
 * the server, so the CPU time of exactly the operator's backends can be read
 * from /proc (a backend's last figure is kept when its connection closes).
 */
import { createConnection, createServer, type Server, type Socket } from "node:net"
import { cpuSeconds } from "./proc.ts"

export interface PgProxy {
  readonly port: number
  /** Round trips (Sync + simple Query) so far. */
  roundTrips(): number
  /** When the last round trip was sent (ms since the epoch). */
  lastAt(): number
  /** CPU seconds of the backends serving the proxy's connections, open and closed. */
  backendCpuSeconds(): number
  close(): Promise<void>
}

const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104

export async function startPgProxy(upstream: { host: string; port: number }): Promise<PgProxy> {
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
            trips++
            last = Date.now()
          }
          at += 1 + len
        }
      }
      cbuf = cbuf.subarray(at)
    })
    // Server → client: find BackendKeyData once, then stop parsing.
    let sbuf: Buffer = Buffer.alloc(0)
    let keyFound = false
    db.on("data", (chunk: Buffer) => {
      client.write(chunk)
      if (keyFound) return
      sbuf = sbuf.length === 0 ? chunk : Buffer.concat([sbuf, chunk])
      let at = 0
      while (pendingOneByteAnswers > 0 && sbuf.length - at >= 1) {
        pendingOneByteAnswers--
        at += 1
      }
      while (sbuf.length - at >= 5) {
        const type = sbuf[at]!
        const len = sbuf.readInt32BE(at + 1)
        if (sbuf.length - at < 1 + len) break
        if (type === 0x4b /* K */) {
          live.set(client, sbuf.readInt32BE(at + 5))
          keyFound = true
          break
        }
        at += 1 + len
      }
      sbuf = keyFound ? Buffer.alloc(0) : sbuf.subarray(at)
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
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("the SQL proxy has no port")
  return {
    port: address.port,
    roundTrips: () => trips,
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
