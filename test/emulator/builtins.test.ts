import { describe, expect, test } from "bun:test"
import {
  applyBuiltinDefaults,
  base64ErrorOffset,
  builtinDecodeError,
  carryOverServiceAllocations,
  imageTag,
  validateBuiltin,
  validateObjectMeta,
  validateObjectName,
  type DefaultingContext,
} from "./builtins.ts"

const ctx = (): DefaultingContext & { allocated: string[] } => {
  let n = 10
  const allocated: string[] = []
  return {
    allocated,
    allocateClusterIP() {
      const ip = `10.96.0.${n++}`
      allocated.push(ip)
      return ip
    },
  }
}

const deployment = (over: Record<string, any> = {}) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "ns" },
  spec: {
    selector: { matchLabels: { app: "web" } },
    template: {
      metadata: { labels: { app: "web" } },
      spec: { containers: [{ name: "main", image: "nginx:1.27", ports: [{ containerPort: 80 }] }] },
    },
    ...over,
  },
})

describe("Deployment defaulting (apps/v1)", () => {
  test("a hardened pod template comes back as kube-apiserver 1.34 stores it: nulls and empty omitempty fields gone, quantities canonical, nothing else defaulted", () => {
    const d: any = deployment()
    const spec = d.spec.template.spec
    Object.assign(spec, {
      automountServiceAccountToken: false,
      enableServiceLinks: null,
      securityContext: { runAsUser: null, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
      nodeSelector: {},
      tolerations: [
        { key: "browsers", operator: "", value: "", effect: "NoSchedule" },
        { operator: "Exists", tolerationSeconds: null },
      ],
      volumes: [{ name: "home", emptyDir: { medium: "" } }, { name: "shm", emptyDir: { medium: "Memory", sizeLimit: "1024Mi" } }],
    })
    Object.assign(spec.containers[0], {
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"], add: [] }, readOnlyRootFilesystem: false, privileged: null },
      resources: { requests: { cpu: "0.5", memory: "1024Mi" }, limits: null },
    })
    applyBuiltinDefaults("apps", "deployments", d, ctx())
    expect(spec.automountServiceAccountToken).toBe(false)
    expect("enableServiceLinks" in spec).toBe(false)
    expect(spec.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } })
    expect("nodeSelector" in spec).toBe(false)
    expect(spec.tolerations).toEqual([{ key: "browsers", effect: "NoSchedule" }, { operator: "Exists" }])
    expect(spec.volumes).toEqual([{ name: "home", emptyDir: {} }, { name: "shm", emptyDir: { medium: "Memory", sizeLimit: "1Gi" } }])
    expect(spec.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, readOnlyRootFilesystem: false })
    expect(spec.containers[0].resources).toEqual({ requests: { cpu: "500m", memory: "1Gi" } })
  })

  test("spec and pod template get the real server's defaults", () => {
    const d: any = deployment()
    d.spec.template.spec.containers.push({
      name: "side",
      image: "busybox",
      env: [{ name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } }],
      livenessProbe: { httpGet: { port: 8080 } },
      readinessProbe: { exec: { command: ["true"] }, periodSeconds: 5 },
    })
    d.spec.template.spec.volumes = [
      { name: "cfg", configMap: { name: "c" } },
      { name: "sec", secret: { secretName: "s", defaultMode: 256 } },
      { name: "scratch" },
    ]
    applyBuiltinDefaults("apps", "deployments", d, ctx())
    expect(d.spec.replicas).toBe(1)
    expect(d.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } })
    expect(d.spec.revisionHistoryLimit).toBe(10)
    expect(d.spec.progressDeadlineSeconds).toBe(600)
    expect(d.status).toEqual({})
    expect(d.spec.template.metadata).toEqual({ labels: { app: "web" } })
    const ps = d.spec.template.spec
    expect([ps.restartPolicy, ps.dnsPolicy, ps.schedulerName, ps.terminationGracePeriodSeconds, ps.securityContext]).toEqual([
      "Always",
      "ClusterFirst",
      "default-scheduler",
      30,
      {},
    ])
    expect(ps.enableServiceLinks).toBeUndefined() // only Pods get this, not templates
    const [main, side] = ps.containers
    expect(main).toEqual({
      name: "main",
      image: "nginx:1.27",
      ports: [{ containerPort: 80, protocol: "TCP" }],
      imagePullPolicy: "IfNotPresent",
      terminationMessagePath: "/dev/termination-log",
      terminationMessagePolicy: "File",
      resources: {},
    })
    expect(side.imagePullPolicy).toBe("Always")
    expect(side.env[0].valueFrom.fieldRef).toEqual({ apiVersion: "v1", fieldPath: "metadata.name" })
    expect(side.livenessProbe).toEqual({ httpGet: { port: 8080, path: "/", scheme: "HTTP" }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 })
    expect(side.readinessProbe.periodSeconds).toBe(5)
    expect(ps.volumes).toEqual([
      { name: "cfg", configMap: { name: "c", defaultMode: 420 } },
      { name: "sec", secret: { secretName: "s", defaultMode: 256 } },
      { name: "scratch", emptyDir: {} },
    ])
  })

  test("explicit values are kept; Recreate gets no rollingUpdate; replicas 0 stays 0", () => {
    const d: any = deployment({ replicas: 0, strategy: { type: "Recreate" }, revisionHistoryLimit: 2 })
    applyBuiltinDefaults("apps", "deployments", d, ctx())
    expect(d.spec.replicas).toBe(0)
    expect(d.spec.strategy).toEqual({ type: "Recreate" })
    expect(d.spec.revisionHistoryLimit).toBe(2)
  })

  test("imagePullPolicy follows the tag: latest or none → Always, digest or other tag → IfNotPresent", () => {
    expect(imageTag("nginx")).toBe("latest")
    expect(imageTag("registry:5000/team/app")).toBe("latest")
    expect(imageTag("registry:5000/team/app:v2")).toBe("v2")
    expect(imageTag("app@sha256:abc")).toBe("")
    const pull = (image: string) => {
      const d: any = deployment()
      d.spec.template.spec.containers[0].image = image
      applyBuiltinDefaults("apps", "deployments", d, ctx())
      return d.spec.template.spec.containers[0].imagePullPolicy
    }
    expect([pull("a:latest"), pull("a"), pull("a:1"), pull("a@sha256:00")]).toEqual(["Always", "Always", "IfNotPresent", "IfNotPresent"])
  })

  test("hostNetwork copies containerPort to hostPort", () => {
    const d: any = deployment()
    d.spec.template.spec.hostNetwork = true
    applyBuiltinDefaults("apps", "deployments", d, ctx())
    expect(d.spec.template.spec.containers[0].ports[0].hostPort).toBe(80)
  })
})

describe("Deployment validation", () => {
  const validate = (d: any, old?: any) => {
    applyBuiltinDefaults("apps", "deployments", d, ctx())
    return validateBuiltin("apps", "deployments", d, old)
  }

  test("a defaulted valid deployment has no causes", () => {
    expect(validate(deployment())).toEqual([])
  })

  test("selector is required and must match the template labels", () => {
    expect(validate(deployment({ selector: undefined }))).toEqual([{ reason: "FieldValueRequired", message: "Required value", field: "spec.selector" }])
    expect(validate(deployment({ selector: { matchLabels: { app: "other" } } }))).toEqual([
      {
        reason: "FieldValueInvalid",
        message: 'Invalid value: {"app":"web"}: `selector` does not match template `labels`',
        field: "spec.template.metadata.labels",
      },
    ])
    expect(validate(deployment({ selector: {} })).map((c) => c.message)).toEqual([
      "Invalid value: {}: empty selector is invalid for deployment",
    ])
  })

  test("the selector is immutable on update", () => {
    const old = deployment()
    applyBuiltinDefaults("apps", "deployments", old, ctx())
    const next: any = deployment({ selector: { matchLabels: { app: "web", tier: "x" } } })
    next.spec.template.metadata.labels.tier = "x"
    expect(validate(next, old)).toEqual([
      {
        reason: "FieldValueInvalid",
        message:
          'Invalid value: {"matchLabels":{"app":"web","tier":"x"}}: field is immutable',
        field: "spec.selector",
      },
    ])
    expect(validate(deployment({ replicas: 5 }), old)).toEqual([])
  })

  test("containers need a valid unique name and an image; replicas >= 0", () => {
    const d: any = deployment({ replicas: -1 })
    d.spec.template.spec.containers = [{ name: "Main", image: "x" }, { image: "y" }, { name: "dup", image: "z" }, { name: "dup" }]
    const causes = validate(d)
    expect(causes).toContainEqual({ reason: "FieldValueInvalid", message: "Invalid value: -1: must be greater than or equal to 0", field: "spec.replicas" })
    expect(causes).toContainEqual({
      reason: "FieldValueInvalid",
      message:
        "Invalid value: \"Main\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
      field: "spec.template.spec.containers[0].name",
    })
    expect(causes).toContainEqual({ reason: "FieldValueRequired", message: "Required value", field: "spec.template.spec.containers[1].name" })
    expect(causes).toContainEqual({ reason: "FieldValueDuplicate", message: 'Duplicate value: "dup"', field: "spec.template.spec.containers[3].name" })
    expect(causes).toContainEqual({ reason: "FieldValueRequired", message: "Required value", field: "spec.template.spec.containers[3].image" })
    const empty: any = deployment()
    empty.spec.template.spec.containers = []
    expect(validate(empty)).toEqual([{ reason: "FieldValueRequired", message: "Required value", field: "spec.template.spec.containers" }])
  })

  test("restartPolicy must be Always in a deployment; strategy checks", () => {
    const d: any = deployment({ strategy: { type: "Recreate", rollingUpdate: { maxSurge: 1 } } })
    d.spec.template.spec.restartPolicy = "Never"
    const causes = validate(d)
    expect(causes).toContainEqual({ reason: "FieldValueNotSupported", message: 'Unsupported value: "Never": supported values: "Always"', field: "spec.template.spec.restartPolicy" })
    expect(causes).toContainEqual({
      reason: "FieldValueForbidden",
      message: "Forbidden: may not be specified when strategy `type` is 'Recreate'",
      field: "spec.strategy.rollingUpdate",
    })
    expect(validate(deployment({ strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } }))).toEqual([
      { reason: "FieldValueInvalid", message: "Invalid value: 0: may not be 0 when `maxSurge` is 0", field: "spec.strategy.rollingUpdate.maxUnavailable" },
    ])
  })

  test("volume mounts must name a volume", () => {
    const d: any = deployment()
    d.spec.template.spec.containers[0].volumeMounts = [{ name: "nope", mountPath: "/x" }]
    expect(validate(d)).toEqual([{ reason: "FieldValueNotFound", message: 'Not found: "nope"', field: "spec.template.spec.containers[0].volumeMounts[0].name" }])
  })
})

describe("Service", () => {
  const service = (spec: Record<string, any>, name = "web") => ({ apiVersion: "v1", kind: "Service", metadata: { name, namespace: "ns" }, spec })

  test("ClusterIP defaults and allocation", () => {
    const c = ctx()
    const s: any = service({ selector: { app: "web" }, ports: [{ port: 80 }, { port: 443, targetPort: "https", name: "https" }] })
    applyBuiltinDefaults("", "services", s, c)
    expect(s.spec).toEqual({
      selector: { app: "web" },
      ports: [
        { port: 80, protocol: "TCP", targetPort: 80 },
        { port: 443, targetPort: "https", name: "https", protocol: "TCP" },
      ],
      type: "ClusterIP",
      sessionAffinity: "None",
      internalTrafficPolicy: "Cluster",
      clusterIP: "10.96.0.10",
      clusterIPs: ["10.96.0.10"],
      ipFamilies: ["IPv4"],
      ipFamilyPolicy: "SingleStack",
    })
    expect(s.status).toEqual({ loadBalancer: {} })
    expect(c.allocated).toEqual(["10.96.0.10"])
  })

  test("headless services get no IP; without a selector the policy is RequireDualStack", () => {
    const c = ctx()
    const withSel: any = service({ clusterIP: "None", selector: { app: "web" }, ports: [{ port: 5900 }] })
    applyBuiltinDefaults("", "services", withSel, c)
    expect([withSel.spec.clusterIPs, withSel.spec.ipFamilies, withSel.spec.ipFamilyPolicy]).toEqual([["None"], ["IPv4"], "SingleStack"])
    const bare: any = service({ clusterIP: "None" })
    applyBuiltinDefaults("", "services", bare, c)
    expect(bare.spec.ipFamilyPolicy).toBe("RequireDualStack")
    expect(c.allocated).toEqual([])
    expect(validateBuiltin("", "services", bare)).toEqual([]) // headless needs no ports
  })

  test("NodePort gets externalTrafficPolicy and node ports when the context allocates them", () => {
    const s: any = service({ type: "NodePort", ports: [{ port: 80 }] })
    applyBuiltinDefaults("", "services", s, { ...ctx(), allocateNodePort: () => 30080 })
    expect([s.spec.externalTrafficPolicy, s.spec.ports[0].nodePort]).toEqual(["Cluster", 30080])
  })

  test("ports are required unless headless; several ports need names", () => {
    expect(validateBuiltin("", "services", service({ selector: { a: "b" } }))).toEqual([{ reason: "FieldValueRequired", message: "Required value", field: "spec.ports" }])
    expect(validateBuiltin("", "services", service({ ports: [{ port: 80 }, { port: 81, name: "b" }] }))).toEqual([
      { reason: "FieldValueRequired", message: "Required value", field: "spec.ports[0].name" },
    ])
    expect(validateBuiltin("", "services", service({ ports: [{ port: 0 }] }))).toEqual([
      { reason: "FieldValueInvalid", message: "Invalid value: 0: must be between 1 and 65535, inclusive", field: "spec.ports[0].port" },
    ])
  })

  test("clusterIP may not change on update; a PUT without it keeps the allocated one", () => {
    const old: any = service({ ports: [{ port: 80 }] })
    applyBuiltinDefaults("", "services", old, ctx())
    const changed: any = service({ ports: [{ port: 80 }], clusterIP: "10.96.0.99" })
    applyBuiltinDefaults("", "services", changed, ctx())
    expect(validateBuiltin("", "services", changed, old)).toEqual([
      { reason: "FieldValueInvalid", message: 'Invalid value: ["10.96.0.99"]: may not change once set', field: "spec.clusterIPs[0]" },
    ])
    const replaced: any = service({ ports: [{ port: 80 }] })
    carryOverServiceAllocations(replaced, old)
    const c = ctx()
    applyBuiltinDefaults("", "services", replaced, c)
    expect(c.allocated).toEqual([])
    expect(validateBuiltin("", "services", replaced, old)).toEqual([])
  })

  test("a Service name must be a DNS-1035 label", () => {
    expect(validateBuiltin("", "services", service({ ports: [{ port: 80 }] }, "1web"))[0]).toEqual({
      reason: "FieldValueInvalid",
      message:
        "Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
      field: "metadata.name",
    })
  })
})

describe("Secret, ConfigMap, Namespace", () => {
  test("Secret: type Opaque, stringData merged into base64 data and removed", () => {
    const s: any = { metadata: { name: "s" }, data: { a: "b2xk", keep: "eA==" }, stringData: { a: "new", "pass word": "é" } }
    applyBuiltinDefaults("", "secrets", s, ctx())
    expect(s).toEqual({ metadata: { name: "s" }, type: "Opaque", data: { a: "bmV3", keep: "eA==", "pass word": "w6k=" } })
    expect(validateBuiltin("", "secrets", s)).toEqual([
      {
        reason: "FieldValueInvalid",
        message:
          "Invalid value: \"pass word\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
        field: "data[pass word]",
      },
    ])
  })

  test("Secret data must be base64: the decode error the server answers with 400", () => {
    expect(base64ErrorOffset("aGVsbG8=")).toBe(-1)
    expect(base64ErrorOffset("aGVsbG8")).toBe(7)
    expect(base64ErrorOffset("not base64!")).toBe(3)
    expect(builtinDecodeError("", "secrets", { data: { k: "aGk=" } })).toBeUndefined()
    expect(builtinDecodeError("", "secrets", { data: { k: "not base64!" } })).toBe(
      'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3',
    )
    expect(validateBuiltin("", "secrets", { type: "Opaque", data: { k: "@@@@" } })[0]!.field).toBe("data[k]")
  })

  test("Secret type is immutable; TLS secrets need their keys", () => {
    expect(validateBuiltin("", "secrets", { type: "kubernetes.io/tls", data: {} }).map((c) => c.field)).toEqual(["data[tls.crt]", "data[tls.key]"])
    expect(validateBuiltin("", "secrets", { type: "Other", data: {} }, { type: "Opaque" })).toEqual([
      { reason: "FieldValueInvalid", message: 'Invalid value: "Other": field is immutable', field: "type" },
    ])
  })

  test("ConfigMap: no defaults; keys validated; immutable config maps refuse data changes", () => {
    const c: any = { metadata: { name: "c" }, data: { "a.b": "1" } }
    applyBuiltinDefaults("", "configmaps", c, ctx())
    expect(c).toEqual({ metadata: { name: "c" }, data: { "a.b": "1" } })
    expect(validateBuiltin("", "configmaps", { data: { "..x": "1" } })[0]!.message).toContain("must not start with '..'")
    expect(validateBuiltin("", "configmaps", { immutable: true, data: { a: "2" } }, { immutable: true, data: { a: "1" } })).toEqual([
      { reason: "FieldValueForbidden", message: "Forbidden: field is immutable when `immutable` is set", field: "data" },
    ])
  })

  test("Namespace: finalizer, phase and the metadata.name label", () => {
    const ns: any = { metadata: { name: "team-a", labels: { "kubernetes.io/metadata.name": "wrong" } } }
    applyBuiltinDefaults("", "namespaces", ns, ctx())
    expect(ns).toEqual({
      metadata: { name: "team-a", labels: { "kubernetes.io/metadata.name": "team-a" } },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    })
  })

  test("Lease: duration must be positive", () => {
    expect(validateBuiltin("coordination.k8s.io", "leases", { spec: { leaseDurationSeconds: 0 } })).toEqual([
      { reason: "FieldValueInvalid", message: "Invalid value: 0: must be greater than 0", field: "spec.leaseDurationSeconds" },
    ])
  })
})

describe("object metadata", () => {
  test("names: subdomain or label rule with the real messages", () => {
    expect(validateObjectName("web.example", "subdomain")).toEqual([])
    expect(validateObjectName("Web", "subdomain")).toEqual([
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ])
    expect(validateObjectName("a.b", "label")).toHaveLength(1)
    expect(validateObjectName("x".repeat(64), "label")[0]).toBe("must be no more than 63 characters")
  })

  test("labels, annotations, finalizers, owner references", () => {
    const causes = validateObjectMeta({
      labels: { "bad key!": "v", ok: "bad value!" },
      annotations: { "Example.COM/Mixed-Case": "fine", "a/b/c": "x" },
      finalizers: ["example.com/cleanup", "bad finalizer"],
      ownerReferences: [{ apiVersion: "v1", kind: "X", name: "n", uid: "" }],
    })
    const expected: [string, string][] = [
      ["metadata.labels", 'Invalid value: "bad key!": name part must consist of'],
      ["metadata.labels", 'Invalid value: "bad value!": a valid label must be an empty string'],
      ["metadata.annotations", 'Invalid value: "a/b/c": a qualified name must consist of'],
      ["metadata.finalizers", 'Invalid value: "bad finalizer": name part must consist of'],
      ["metadata.ownerReferences.uid", 'Invalid value: "": uid must not be empty'],
    ]
    expect(causes.map((c) => c.field)).toEqual(expected.map(([f]) => f))
    causes.forEach((c, i) => expect(c.message).toStartWith(expected[i]![1]))
  })

  test("annotations may total 256 KiB", () => {
    expect(validateObjectMeta({ annotations: { a: "x".repeat(256 * 1024 - 1) } })).toEqual([])
    expect(validateObjectMeta({ annotations: { a: "x".repeat(256 * 1024) } })).toEqual([
      { reason: "FieldValueTooLong", message: "Too long: must have at most 262144 bytes", field: "metadata.annotations" },
    ])
  })
})
