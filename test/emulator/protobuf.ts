/**
 * Protocol buffers as far as the emulator needs them, written from the wire
 * format (varints, length-delimited fields; https://protobuf.dev/programming-guides/encoding/):
 *
 * - decoding the request bodies kubectl's generator commands send
 *   (`kubectl create namespace|configmap|secret|serviceaccount|deployment|service|role|rolebinding|…`,
 *   `kubectl auth can-i`): the Kubernetes
 *   envelope (`k8s\0` then a runtime.Unknown) around the object's message, turned
 *   into the JSON the rest of the emulator reads;
 * - encoding messages from a field table (the OpenAPI v2 document, which
 *   client-go reads only as protobuf; see ./openapi.ts).
 *
 * Field numbers are those of k8s.io/api core/v1 and k8s.io/apimachinery meta/v1
 * and runtime `generated.proto`. Go's generated marshallers write every
 * non-pointer scalar even when it is empty, so a zero value decodes as absent
 * (as JSON's `omitempty` would have left it out) unless the field is a pointer,
 * and an all-zero field the tables do not list is skipped (an unset struct);
 * a set field they do not list is an error, never silently dropped.
 */

const VARINT = 0
const I64 = 1
const LEN = 2
const I32 = 5

export class ProtobufError extends Error {}

interface RawField {
  no: number
  wire: number
  /** varint (as bigint), fixed 32/64 bits (as bytes), or the bytes of a length-delimited field */
  varint?: bigint
  bytes?: Uint8Array
}

function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let result = 0n
  let shift = 0n
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new ProtobufError("truncated varint")
    const b = buf[pos++]!
    result |= BigInt(b & 0x7f) << shift
    if ((b & 0x80) === 0) return [result, pos]
    shift += 7n
  }
  throw new ProtobufError("varint longer than 10 bytes")
}

/** The fields of one message, in wire order. */
export function readFields(buf: Uint8Array): RawField[] {
  const out: RawField[] = []
  let pos = 0
  while (pos < buf.length) {
    const [tag, p1] = readVarint(buf, pos)
    pos = p1
    const no = Number(tag >> 3n)
    const wire = Number(tag & 7n)
    if (no === 0) throw new ProtobufError("field number 0")
    switch (wire) {
      case VARINT: {
        const [v, p2] = readVarint(buf, pos)
        pos = p2
        out.push({ no, wire, varint: v })
        break
      }
      case LEN: {
        const [len, p2] = readVarint(buf, pos)
        const end = p2 + Number(len)
        if (end > buf.length) throw new ProtobufError(`field ${no}: length ${len} runs past the end of the message`)
        out.push({ no, wire, bytes: buf.subarray(p2, end) })
        pos = end
        break
      }
      case I64:
      case I32: {
        const n = wire === I64 ? 8 : 4
        if (pos + n > buf.length) throw new ProtobufError(`field ${no}: truncated fixed-width value`)
        out.push({ no, wire, bytes: buf.subarray(pos, pos + n) })
        pos += n
        break
      }
      default:
        throw new ProtobufError(`field ${no}: unsupported wire type ${wire}`)
    }
  }
  return out
}

// ---- decoding by field table -----------------------------------------------------

export type Scalar = "string" | "bytes" | "bool" | "int64" | "int32" | "time" | "intOrString"

export interface FieldSpec {
  name: string
  type: Scalar | MessageSpec | { map: "string" | "bytes" }
  repeated?: boolean
  /** A Go pointer: written only when set, so its zero value is meaningful. */
  pointer?: boolean
}

export interface MessageSpec {
  name: string
  fields: Record<number, FieldSpec>
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

function text(f: RawField, where: string): string {
  if (f.wire !== LEN) throw new ProtobufError(`${where}: expected a length-delimited field`)
  try {
    return utf8.decode(f.bytes!)
  } catch {
    throw new ProtobufError(`${where}: not valid UTF-8`)
  }
}

function varint(f: RawField, where: string): bigint {
  if (f.wire !== VARINT) throw new ProtobufError(`${where}: expected a varint`)
  return f.varint!
}

/** metav1.Time (seconds, nanos) as the RFC 3339 string of its JSON form; undefined for the zero time. */
function time(bytes: Uint8Array, where: string): string | undefined {
  let seconds = 0n
  let nanos = 0n
  for (const f of readFields(bytes)) {
    if (f.no === 1) seconds = BigInt.asIntN(64, varint(f, `${where}.seconds`))
    else if (f.no === 2) nanos = BigInt.asIntN(32, varint(f, `${where}.nanos`))
  }
  if (seconds === 0n && nanos === 0n) return undefined
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d+Z$/, "Z")
}

function scalar(type: Scalar, f: RawField, where: string): unknown {
  switch (type) {
    case "string":
      return text(f, where)
    case "bytes":
      if (f.wire !== LEN) throw new ProtobufError(`${where}: expected bytes`)
      return Buffer.from(f.bytes!).toString("base64")
    case "bool":
      return varint(f, where) !== 0n
    case "int64":
      return Number(BigInt.asIntN(64, varint(f, where)))
    case "int32":
      return Number(BigInt.asIntN(32, varint(f, where)))
    case "time":
      if (f.wire !== LEN) throw new ProtobufError(`${where}: expected a Time message`)
      return time(f.bytes!, where)
    case "intOrString": {
      // intstr.IntOrString { type = 1 (0 int, 1 string), intVal = 2, strVal = 3 }
      if (f.wire !== LEN) throw new ProtobufError(`${where}: expected an IntOrString message`)
      let type = 0n
      let intVal = 0
      let strVal = ""
      for (const e of readFields(f.bytes!)) {
        if (e.no === 1) type = varint(e, `${where}.type`)
        else if (e.no === 2) intVal = Number(BigInt.asIntN(32, varint(e, `${where}.intVal`)))
        else if (e.no === 3) strVal = text(e, `${where}.strVal`)
      }
      return type === 1n ? strVal : intVal
    }
  }
}

/**
 * Whether a field holds only zero values (recursively, for a message): what
 * Go's marshallers write for a struct or scalar the client left unset. Such a
 * field the tables below do not list is skipped; any other is an error.
 */
function isZeroField(f: RawField): boolean {
  if (f.wire === VARINT) return f.varint === 0n
  if (f.wire !== LEN) return f.bytes!.every((b) => b === 0)
  if (f.bytes!.length === 0) return true
  try {
    return readFields(f.bytes!).every(isZeroField)
  } catch {
    return false
  }
}

function isZero(v: unknown): boolean {
  return v === undefined || v === "" || v === 0 || v === false
}

/** Decodes one message into its JSON form by `spec`; an unknown field is an error, never dropped. */
export function decodeMessage(bytes: Uint8Array, spec: MessageSpec, where = spec.name): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of readFields(bytes)) {
    const fs = spec.fields[f.no]
    const at = `${where}.${fs?.name ?? f.no}`
    if (!fs) {
      if (isZeroField(f)) continue
      throw new ProtobufError(`${where}: field number ${f.no} is set and is not one the emulator decodes`)
    }
    const t = fs.type
    let value: unknown
    if (typeof t === "string") {
      // Packed repeated scalars are not used by the messages decoded here (strings are never packed).
      value = scalar(t, f, at)
      if (!fs.repeated && !fs.pointer && isZero(value)) continue
      if (value === undefined) continue
    } else if ("map" in t) {
      if (f.wire !== LEN) throw new ProtobufError(`${at}: expected a map entry`)
      let key = ""
      let val: unknown = t.map === "bytes" ? "" : ""
      for (const e of readFields(f.bytes!)) {
        if (e.no === 1) key = text(e, `${at}.key`)
        else if (e.no === 2) val = scalar(t.map, e, `${at}[${key}]`)
      }
      const m = (out[fs.name] ??= {}) as Record<string, unknown>
      m[key] = val
      continue
    } else {
      if (f.wire !== LEN) throw new ProtobufError(`${at}: expected a ${t.name} message`)
      value = decodeMessage(f.bytes!, t, at)
    }
    if (fs.repeated) ((out[fs.name] ??= []) as unknown[]).push(value)
    else out[fs.name] = value
  }
  return out
}

// ---- the Kubernetes messages kubectl's generators send ----------------------------------

const OwnerReference: MessageSpec = {
  name: "OwnerReference",
  fields: {
    1: { name: "kind", type: "string" },
    3: { name: "name", type: "string" },
    4: { name: "uid", type: "string" },
    5: { name: "apiVersion", type: "string" },
    6: { name: "controller", type: "bool", pointer: true },
    7: { name: "blockOwnerDeletion", type: "bool", pointer: true },
  },
}

const ObjectMeta: MessageSpec = {
  name: "ObjectMeta",
  fields: {
    1: { name: "name", type: "string" },
    2: { name: "generateName", type: "string" },
    3: { name: "namespace", type: "string" },
    4: { name: "selfLink", type: "string" },
    5: { name: "uid", type: "string" },
    6: { name: "resourceVersion", type: "string" },
    7: { name: "generation", type: "int64" },
    8: { name: "creationTimestamp", type: "time" },
    9: { name: "deletionTimestamp", type: "time" },
    10: { name: "deletionGracePeriodSeconds", type: "int64", pointer: true },
    11: { name: "labels", type: { map: "string" } },
    12: { name: "annotations", type: { map: "string" } },
    13: { name: "ownerReferences", type: OwnerReference, repeated: true },
    14: { name: "finalizers", type: "string", repeated: true },
    // 17 managedFields: server-side apply bookkeeping, which the emulator does not keep.
  },
}

const Namespace: MessageSpec = {
  name: "Namespace",
  fields: {
    1: { name: "metadata", type: ObjectMeta },
    2: { name: "spec", type: { name: "NamespaceSpec", fields: { 1: { name: "finalizers", type: "string", repeated: true } } } },
    3: { name: "status", type: { name: "NamespaceStatus", fields: { 1: { name: "phase", type: "string" } } } },
  },
}

const ConfigMap: MessageSpec = {
  name: "ConfigMap",
  fields: {
    1: { name: "metadata", type: ObjectMeta },
    2: { name: "data", type: { map: "string" } },
    3: { name: "binaryData", type: { map: "bytes" } },
    4: { name: "immutable", type: "bool", pointer: true },
  },
}

const Secret: MessageSpec = {
  name: "Secret",
  fields: {
    1: { name: "metadata", type: ObjectMeta },
    2: { name: "data", type: { map: "bytes" } },
    3: { name: "type", type: "string" },
    4: { name: "stringData", type: { map: "string" } },
    5: { name: "immutable", type: "bool", pointer: true },
  },
}

const ServiceAccount: MessageSpec = {
  name: "ServiceAccount",
  fields: {
    1: { name: "metadata", type: ObjectMeta },
    2: {
      name: "secrets",
      repeated: true,
      type: {
        name: "ObjectReference",
        fields: {
          1: { name: "kind", type: "string" },
          2: { name: "namespace", type: "string" },
          3: { name: "name", type: "string" },
          4: { name: "uid", type: "string" },
          5: { name: "apiVersion", type: "string" },
          6: { name: "resourceVersion", type: "string" },
          7: { name: "fieldPath", type: "string" },
        },
      },
    },
    3: { name: "imagePullSecrets", repeated: true, type: { name: "LocalObjectReference", fields: { 1: { name: "name", type: "string" } } } },
    4: { name: "automountServiceAccountToken", type: "bool", pointer: true },
  },
}

const LabelSelector: MessageSpec = {
  name: "LabelSelector",
  fields: {
    1: { name: "matchLabels", type: { map: "string" } },
    2: {
      name: "matchExpressions",
      repeated: true,
      type: {
        name: "LabelSelectorRequirement",
        fields: { 1: { name: "key", type: "string" }, 2: { name: "operator", type: "string" }, 3: { name: "values", type: "string", repeated: true } },
      },
    },
  },
}

const PolicyRule: MessageSpec = {
  name: "PolicyRule",
  fields: {
    1: { name: "verbs", type: "string", repeated: true },
    2: { name: "apiGroups", type: "string", repeated: true },
    3: { name: "resources", type: "string", repeated: true },
    4: { name: "resourceNames", type: "string", repeated: true },
    5: { name: "nonResourceURLs", type: "string", repeated: true },
  },
}

const roleBinding = (name: string): MessageSpec => ({
  name,
  fields: {
    1: { name: "metadata", type: ObjectMeta },
    2: {
      name: "subjects",
      repeated: true,
      type: {
        name: "Subject",
        fields: { 1: { name: "kind", type: "string" }, 2: { name: "apiGroup", type: "string" }, 3: { name: "name", type: "string" }, 4: { name: "namespace", type: "string" } },
      },
    },
    3: { name: "roleRef", type: { name: "RoleRef", fields: { 1: { name: "apiGroup", type: "string" }, 2: { name: "kind", type: "string" }, 3: { name: "name", type: "string" } } } },
  },
})

/** `kubectl auth can-i` asks with one of these. */
const SelfSubjectAccessReview: MessageSpec = {
  name: "SelfSubjectAccessReview",
  fields: {
    1: { name: "metadata", type: ObjectMeta },
    2: {
      name: "spec",
      type: {
        name: "SelfSubjectAccessReviewSpec",
        fields: {
          1: {
            name: "resourceAttributes",
            type: {
              name: "ResourceAttributes",
              fields: {
                1: { name: "namespace", type: "string" },
                2: { name: "verb", type: "string" },
                3: { name: "group", type: "string" },
                4: { name: "version", type: "string" },
                5: { name: "resource", type: "string" },
                6: { name: "subresource", type: "string" },
                7: { name: "name", type: "string" },
              },
            },
          },
          2: { name: "nonResourceAttributes", type: { name: "NonResourceAttributes", fields: { 1: { name: "path", type: "string" }, 2: { name: "verb", type: "string" } } } },
        },
      },
    },
    3: {
      name: "status",
      type: {
        name: "SubjectAccessReviewStatus",
        fields: { 1: { name: "allowed", type: "bool" }, 2: { name: "reason", type: "string" }, 3: { name: "evaluationError", type: "string" }, 4: { name: "denied", type: "bool" } },
      },
    },
  },
}

const Container: MessageSpec = {
  name: "Container",
  fields: {
    1: { name: "name", type: "string" },
    2: { name: "image", type: "string" },
    3: { name: "command", type: "string", repeated: true },
    4: { name: "args", type: "string", repeated: true },
    5: { name: "workingDir", type: "string" },
    6: {
      name: "ports",
      repeated: true,
      type: {
        name: "ContainerPort",
        fields: {
          1: { name: "name", type: "string" },
          2: { name: "hostPort", type: "int32" },
          3: { name: "containerPort", type: "int32" },
          4: { name: "protocol", type: "string" },
          5: { name: "hostIP", type: "string" },
        },
      },
    },
    7: {
      name: "env",
      repeated: true,
      // valueFrom (3) is not decoded: kubectl's generators do not set it.
      type: { name: "EnvVar", fields: { 1: { name: "name", type: "string" }, 2: { name: "value", type: "string" } } },
    },
    13: { name: "terminationMessagePath", type: "string" },
    14: { name: "imagePullPolicy", type: "string" },
    20: { name: "terminationMessagePolicy", type: "string" },
  },
}

/** `kubectl create deployment NAME --image=… [--replicas] [--port] [-- command…]`. */
const Deployment: MessageSpec = {
  name: "Deployment",
  fields: {
    1: { name: "metadata", type: ObjectMeta },
    2: {
      name: "spec",
      type: {
        name: "DeploymentSpec",
        fields: {
          1: { name: "replicas", type: "int32", pointer: true },
          2: { name: "selector", type: LabelSelector },
          3: {
            name: "template",
            type: {
              name: "PodTemplateSpec",
              fields: {
                1: { name: "metadata", type: ObjectMeta },
                2: { name: "spec", type: { name: "PodSpec", fields: { 2: { name: "containers", type: Container, repeated: true }, 3: { name: "restartPolicy", type: "string" } } } },
              },
            },
          },
          4: {
            name: "strategy",
            type: {
              name: "DeploymentStrategy",
              fields: {
                1: { name: "type", type: "string" },
                2: {
                  name: "rollingUpdate",
                  type: { name: "RollingUpdateDeployment", fields: { 1: { name: "maxUnavailable", type: "intOrString" }, 2: { name: "maxSurge", type: "intOrString" } } },
                },
              },
            },
          },
          5: { name: "minReadySeconds", type: "int32" },
          6: { name: "revisionHistoryLimit", type: "int32", pointer: true },
          7: { name: "paused", type: "bool" },
          9: { name: "progressDeadlineSeconds", type: "int32", pointer: true },
        },
      },
    },
    // 3 status: a client's is empty (and the main endpoint ignores it).
  },
}

/** `kubectl create service clusterip|nodeport|loadbalancer|externalname NAME --tcp=…`. */
const Service: MessageSpec = {
  name: "Service",
  fields: {
    1: { name: "metadata", type: ObjectMeta },
    2: {
      name: "spec",
      type: {
        name: "ServiceSpec",
        fields: {
          1: {
            name: "ports",
            repeated: true,
            type: {
              name: "ServicePort",
              fields: {
                1: { name: "name", type: "string" },
                2: { name: "protocol", type: "string" },
                3: { name: "port", type: "int32" },
                4: { name: "targetPort", type: "intOrString" },
                5: { name: "nodePort", type: "int32" },
                6: { name: "appProtocol", type: "string", pointer: true },
              },
            },
          },
          2: { name: "selector", type: { map: "string" } },
          3: { name: "clusterIP", type: "string" },
          4: { name: "type", type: "string" },
          5: { name: "externalIPs", type: "string", repeated: true },
          10: { name: "externalName", type: "string" },
          18: { name: "clusterIPs", type: "string", repeated: true },
        },
      },
    },
  },
}

/** The kinds whose protobuf the emulator decodes, by `apiVersion/kind`. */
export const PROTOBUF_KINDS: Record<string, MessageSpec> = {
  "v1/Namespace": Namespace,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/ServiceAccount": ServiceAccount,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "rbac.authorization.k8s.io/v1/Role": { name: "Role", fields: { 1: { name: "metadata", type: ObjectMeta }, 2: { name: "rules", type: PolicyRule, repeated: true } } },
  "rbac.authorization.k8s.io/v1/ClusterRole": {
    name: "ClusterRole",
    fields: {
      1: { name: "metadata", type: ObjectMeta },
      2: { name: "rules", type: PolicyRule, repeated: true },
      3: { name: "aggregationRule", type: { name: "AggregationRule", fields: { 1: { name: "clusterRoleSelectors", type: LabelSelector, repeated: true } } } },
    },
  },
  "rbac.authorization.k8s.io/v1/RoleBinding": roleBinding("RoleBinding"),
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": roleBinding("ClusterRoleBinding"),
  "authorization.k8s.io/v1/SelfSubjectAccessReview": SelfSubjectAccessReview,
  // `kubectl auth whoami`; the request's status is empty.
  "authentication.k8s.io/v1/SelfSubjectReview": { name: "SelfSubjectReview", fields: { 1: { name: "metadata", type: ObjectMeta } } },
  // `kubectl auth can-i --list`; a request carries no rules, so the status's rule lists are not decoded.
  "authorization.k8s.io/v1/SelfSubjectRulesReview": {
    name: "SelfSubjectRulesReview",
    fields: {
      1: { name: "metadata", type: ObjectMeta },
      2: { name: "spec", type: { name: "SelfSubjectRulesReviewSpec", fields: { 1: { name: "namespace", type: "string" } } } },
      3: {
        name: "status",
        type: { name: "SubjectRulesReviewStatus", fields: { 3: { name: "incomplete", type: "bool" }, 4: { name: "evaluationError", type: "string" } } },
      },
    },
  },
}

const MAGIC = [0x6b, 0x38, 0x73, 0x00] // "k8s\0"

/**
 * A Kubernetes protobuf body (`application/vnd.kubernetes.protobuf`) as the
 * JSON object it stands for, with apiVersion and kind from the envelope.
 */
export function decodeKubernetesProtobuf(body: Uint8Array): Record<string, unknown> {
  if (body.length < 4 || MAGIC.some((b, i) => body[i] !== b)) throw new ProtobufError("the body does not start with the Kubernetes protobuf prefix")
  let apiVersion = ""
  let kind = ""
  let raw: Uint8Array = new Uint8Array()
  let contentEncoding = ""
  for (const f of readFields(body.subarray(4))) {
    if (f.no === 1) {
      for (const t of readFields(f.bytes ?? new Uint8Array())) {
        if (t.no === 1) apiVersion = text(t, "TypeMeta.apiVersion")
        else if (t.no === 2) kind = text(t, "TypeMeta.kind")
      }
    } else if (f.no === 2) raw = f.bytes ?? raw
    else if (f.no === 3) contentEncoding = text(f, "Unknown.contentEncoding")
  }
  if (contentEncoding) throw new ProtobufError(`content encoding ${JSON.stringify(contentEncoding)} is not supported`)
  const spec = PROTOBUF_KINDS[`${apiVersion}/${kind}`]
  if (!spec) {
    throw new ProtobufError(`protobuf bodies of ${apiVersion}/${kind} are not decoded by the emulator; send it as JSON (kubectl create -f)`)
  }
  return { apiVersion, kind, ...decodeMessage(raw, spec) }
}

// ---- encoding -------------------------------------------------------------------------

/** A message being written: append fields in any order (protobuf readers accept that). */
export class Writer {
  private readonly chunks: Uint8Array[] = []
  private size = 0

  private push(b: Uint8Array): void {
    this.chunks.push(b)
    this.size += b.length
  }

  private varint(v: number | bigint): void {
    let n = BigInt.asUintN(64, BigInt(v))
    const out: number[] = []
    do {
      let b = Number(n & 0x7fn)
      n >>= 7n
      if (n !== 0n) b |= 0x80
      out.push(b)
    } while (n !== 0n)
    this.push(Uint8Array.from(out))
  }

  private tag(no: number, wire: number): void {
    this.varint((no << 3) | wire)
  }

  string(no: number, s: string | undefined): this {
    if (s === undefined || s === "") return this
    return this.bytes(no, new TextEncoder().encode(s))
  }

  bytes(no: number, b: Uint8Array): this {
    this.tag(no, LEN)
    this.varint(b.length)
    this.push(b)
    return this
  }

  /** `always`: write false too, as Go does for a set pointer. */
  bool(no: number, v: boolean | undefined, always = false): this {
    if (v === undefined || (!v && !always)) return this
    this.tag(no, VARINT)
    this.varint(v ? 1 : 0)
    return this
  }

  int(no: number, v: number | undefined): this {
    if (v === undefined || v === 0) return this
    this.tag(no, VARINT)
    this.varint(Math.trunc(v))
    return this
  }

  double(no: number, v: number | undefined): this {
    if (v === undefined) return this
    this.tag(no, I64)
    const b = new Uint8Array(8)
    new DataView(b.buffer).setFloat64(0, v, true)
    this.push(b)
    return this
  }

  message(no: number, w: Writer): this {
    return this.bytes(no, w.finish())
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size)
    let pos = 0
    for (const c of this.chunks) {
      out.set(c, pos)
      pos += c.length
    }
    return out
  }
}
