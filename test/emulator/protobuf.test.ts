import { afterAll, beforeAll, describe, expect, test } from "bun:test"
import { startEmulator, type Emulator } from "./index.ts"
import { decodeKubernetesProtobuf, ProtobufError, Writer } from "./protobuf.ts"

/** A body as Go's generated marshallers write it: every non-pointer scalar, empty or not. */
function envelope(apiVersion: string, kind: string, raw: Writer): Uint8Array {
  const unknown = new Writer()
    .message(1, new Writer().string(1, apiVersion).string(2, kind))
    .message(2, raw)
    .bytes(3, new Uint8Array())
    .bytes(4, new Uint8Array())
    .finish()
  return Uint8Array.from([0x6b, 0x38, 0x73, 0x00, ...unknown])
}

const entry = (k: string, v: string | Uint8Array) => new Writer().string(1, k).bytes(2, typeof v === "string" ? Buffer.from(v) : v)

function meta(name: string, labels: Record<string, string> = {}): Writer {
  const m = new Writer().string(1, name).bytes(2, new Uint8Array()).bytes(3, new Uint8Array())
  m.message(8, new Writer()) // zero creationTimestamp, as Go writes it
  for (const [k, v] of Object.entries(labels)) m.message(11, entry(k, v))
  return m
}

describe("Kubernetes protobuf bodies", () => {
  test("a ConfigMap decodes to its JSON form: empty scalars left out, maps and a false pointer kept", () => {
    const cm = new Writer()
      .message(1, meta("cm", { app: "web" }))
      .message(2, entry("a", "b"))
      .message(3, entry("bin", Uint8Array.from([0, 255])))
      .bool(4, false, true)
    expect(decodeKubernetesProtobuf(envelope("v1", "ConfigMap", cm))).toEqual({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "cm", labels: { app: "web" } },
      data: { a: "b" },
      binaryData: { bin: Buffer.from([0, 255]).toString("base64") },
      immutable: false,
    })
  })

  test("a field the emulator does not know is an error naming it, never dropped", () => {
    const ns = new Writer().message(1, meta("x")).string(9, "surprise")
    expect(() => decodeKubernetesProtobuf(envelope("v1", "Namespace", ns))).toThrow("Namespace: field number 9 is set and is not one the emulator decodes")
    // An unlisted field holding only zeros is what Go writes for an unset struct: skipped.
    const unset = new Writer().message(1, meta("x")).message(9, new Writer().bytes(1, new Uint8Array()).bool(2, false, true))
    expect(decodeKubernetesProtobuf(envelope("v1", "Namespace", unset))).toEqual({ apiVersion: "v1", kind: "Namespace", metadata: { name: "x" } })
    expect(() => decodeKubernetesProtobuf(envelope("batch/v1", "Job", new Writer()))).toThrow("protobuf bodies of batch/v1/Job are not decoded")
    expect(() => decodeKubernetesProtobuf(Uint8Array.from([1, 2, 3, 4, 5]))).toThrow(ProtobufError)
  })
})

describe("protobuf over HTTP", () => {
  let api: Emulator
  beforeAll(async () => {
    api = await startEmulator({ namespaces: ["pb"] })
  })
  afterAll(() => api.stop())

  test("POST of a protobuf Secret creates it, defaulted as a JSON one would be; a malformed body is 400", async () => {
    const secret = new Writer().message(1, meta("s")).message(4, entry("password", "pw")).string(3, "")
    const res = await fetch(`${api.url}/api/v1/namespaces/pb/secrets`, {
      method: "POST",
      headers: { "Content-Type": "application/vnd.kubernetes.protobuf", Accept: "application/vnd.kubernetes.protobuf, application/json" },
      body: envelope("v1", "Secret", secret),
    })
    expect(res.status).toBe(201)
    expect(res.headers.get("content-type")).toBe("application/json")
    const stored = api.get("", "secrets", "pb", "s")
    expect(stored.type).toBe("Opaque")
    expect(stored.data).toEqual({ password: Buffer.from("pw").toString("base64") })
    expect(stored.stringData).toBeUndefined()
    const bad = await fetch(`${api.url}/api/v1/namespaces/pb/secrets`, {
      method: "POST",
      headers: { "Content-Type": "application/vnd.kubernetes.protobuf" },
      body: Uint8Array.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0x50]),
    })
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { message: string }).message).toContain("could not be decoded as protobuf")
  })
})
