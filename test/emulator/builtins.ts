/**
 * What kube-apiserver does to built-in kinds on write: defaulting (the
 * SetDefaults_* functions of the core and apps groups) and the validation the
 * operator and kubectl can run into. Pure functions; they mutate `obj` in place.
 *
 * Defaulting (k8s.io/kubernetes pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go,
 * plus what the registries set on create):
 * - apps/v1 Deployment: replicas 1, strategy RollingUpdate 25%/25%, revisionHistoryLimit 10,
 *   progressDeadlineSeconds 600, and the pod template (below). StatefulSet, DaemonSet and
 *   ReplicaSet get their own spec defaults and the pod template.
 * - Pod template / pod spec: restartPolicy Always, dnsPolicy ClusterFirst, schedulerName
 *   default-scheduler, terminationGracePeriodSeconds 30, securityContext {}; containers:
 *   terminationMessagePath/Policy, imagePullPolicy (Always for `:latest` or no tag, else
 *   IfNotPresent), ports protocol TCP (hostPort = containerPort on hostNetwork), env
 *   fieldRef apiVersion v1, probes (timeout 1, period 10, success 1, failure 3; httpGet
 *   path / scheme HTTP); volumes with no source become emptyDir, configMap/secret/
 *   projected/downwardAPI defaultMode 420.
 * - Zero-valued Go structs the real server always serialises are added too, because an
 *   operator comparing objects sees them: Deployment `status: {}`, container
 *   `resources: {}`, Service `status.loadBalancer: {}`. (A template's zero
 *   `metadata.creationTimestamp` is left out, as kube-apiserver 1.34 leaves it out.)
 * - core/v1 Service: type ClusterIP, sessionAffinity None, ports protocol TCP, targetPort =
 *   port, internalTrafficPolicy Cluster, externalTrafficPolicy Cluster for NodePort/
 *   LoadBalancer, a ClusterIP from ctx (clusterIPs mirrors it; "None" for headless),
 *   ipFamilies [IPv4], ipFamilyPolicy SingleStack (RequireDualStack for a headless Service
 *   without selector, as the real allocator does), nodePorts when ctx can allocate them.
 * - Secret: type Opaque; stringData merged into data (base64) and removed.
 * - Namespace: spec.finalizers [kubernetes], status.phase Active, label
 *   kubernetes.io/metadata.name = name.
 * - Pod: the pod spec defaults, enableServiceLinks true, status.phase Pending.
 *
 * - What decoding into Go structs and encoding again does to the pod template fields an
 *   operator hardening its pods writes (pod and container securityContext, resources,
 *   nodeSelector, tolerations, emptyDir, automountServiceAccountToken, enableServiceLinks):
 *   a null pointer or map, and the empty value of an `omitempty` field ("" medium, an
 *   empty toleration operator, an empty drop list), disappear; kube-apiserver 1.34 defaults
 *   none of these fields otherwise (no SetDefaults_SecurityContext or _Toleration exists).
 *   Container requests and limits are rounded up to milli precision and canonicalised
 *   (SetDefaults_ResourceList, Quantity's String): "0.5" is stored as "500m", "1024Mi" as "1Gi".
 *
 * Not modelled: admission plugins (service account token volumes, default tolerations,
 * LimitRanger), dual-stack clusters.
 *
 * Messages follow k8s.io/apimachinery field.Error.ErrorBody (the Status cause message).
 */
import { fromLabelSelectorObject, isDNS1035Label, isDNS1123Label, isDNS1123Subdomain, isQualifiedName, isValidLabelValue, matchLabels, SelectorError, byteLength, regexError, maxLenError } from "./selectors.ts"
import type { FieldCause } from "./structural.ts"
// The one piece shared with the operator: its outputs are pinned to apimachinery's by test/domain/quantity.test.ts.
import { canonicalQuantity } from "../../src/domain/quantity.ts"

export interface DefaultingContext {
  /** A fresh ClusterIP from the emulated service CIDR. */
  allocateClusterIP(): string
  /** A free node port (30000-32767); when absent, NodePort/LoadBalancer ports get none. */
  allocateNodePort?(): number
}

type Obj = Record<string, any>
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)
const obj = (parent: Obj, key: string): Obj => {
  if (!isObj(parent[key])) parent[key] = {}
  return parent[key]
}
const list = (v: unknown): any[] => (Array.isArray(v) ? v : [])
const unset = (v: unknown) => v === undefined || v === null || v === ""

// ---------------------------------------------------------------------------
// Defaulting
// ---------------------------------------------------------------------------

/** The tag of an image reference ("" when only a digest is given, "latest" when neither). */
export function imageTag(image: string): string {
  let ref = image
  let digest = ""
  const at = ref.indexOf("@")
  if (at >= 0) {
    digest = ref.slice(at + 1)
    ref = ref.slice(0, at)
  }
  const lastSlash = ref.lastIndexOf("/")
  const colon = ref.indexOf(":", lastSlash + 1)
  const tag = colon >= 0 ? ref.slice(colon + 1) : ""
  if (tag === "" && digest === "") return "latest"
  return tag
}

function defaultHTTPGet(h: unknown): void {
  if (!isObj(h)) return
  if (unset(h.path)) h.path = "/"
  if (unset(h.scheme)) h.scheme = "HTTP"
}

function defaultProbe(p: unknown): void {
  if (!isObj(p)) return
  if (!p.timeoutSeconds) p.timeoutSeconds = 1
  if (!p.periodSeconds) p.periodSeconds = 10
  if (!p.successThreshold) p.successThreshold = 1
  if (!p.failureThreshold) p.failureThreshold = 3
  defaultHTTPGet(p.httpGet)
}

function defaultFieldRef(f: unknown): void {
  if (isObj(f) && unset(f.apiVersion)) f.apiVersion = "v1"
}

const isEmpty = (v: unknown) =>
  v === null || v === "" || (Array.isArray(v) && v.length === 0) || (isObj(v) && Object.keys(v).length === 0)

/** Fields that are Go pointers or `omitempty`: null, and their empty values, are not serialised. */
function dropEmpty(o: unknown, keys: ReadonlyArray<string>): void {
  if (!isObj(o)) return
  for (const k of keys) if (k in o && isEmpty(o[k])) delete o[k]
}

/** Only null pointers are dropped: a pointer to an empty struct is serialised as {}. */
function dropNull(o: unknown, keys: ReadonlyArray<string>): void {
  if (!isObj(o)) return
  for (const k of keys) if (o[k] === null) delete o[k]
}

const SECURITY_CONTEXT_POINTERS = [
  "runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "seLinuxOptions", "windowsOptions", "appArmorProfile",
]

function roundTripResources(r: Obj): void {
  for (const list of ["requests", "limits"]) {
    if (!isObj(r[list])) continue
    for (const [name, q] of Object.entries(r[list] as Obj)) {
      const canonical = typeof q === "string" || typeof q === "number" ? canonicalQuantity(String(q)) : undefined
      if (canonical !== undefined) r[list][name] = canonical
    }
  }
  dropEmpty(r, ["requests", "limits", "claims"])
}

function roundTripContainerSecurityContext(sc: unknown): void {
  if (!isObj(sc)) return
  dropNull(sc, [...SECURITY_CONTEXT_POINTERS, "capabilities", "privileged", "readOnlyRootFilesystem", "allowPrivilegeEscalation", "procMount"])
  dropEmpty(sc.capabilities, ["add", "drop"])
}

function roundTripPodSpec(spec: Obj): void {
  dropNull(spec, ["automountServiceAccountToken", "enableServiceLinks", "securityContext"])
  dropEmpty(spec, ["nodeSelector", "tolerations"])
  if (isObj(spec.securityContext)) {
    dropNull(spec.securityContext, [...SECURITY_CONTEXT_POINTERS, "fsGroup", "fsGroupChangePolicy"])
    dropEmpty(spec.securityContext, ["supplementalGroups", "sysctls"])
  }
  for (const t of list(spec.tolerations)) {
    dropEmpty(t, ["key", "operator", "value", "effect"])
    dropNull(t, ["tolerationSeconds"])
  }
  for (const v of list(spec.volumes)) {
    if (!isObj(v) || !isObj(v.emptyDir)) continue
    dropEmpty(v.emptyDir, ["medium", "sizeLimit"])
    if (typeof v.emptyDir.sizeLimit === "string") v.emptyDir.sizeLimit = canonicalQuantity(v.emptyDir.sizeLimit) ?? v.emptyDir.sizeLimit
  }
}

function defaultContainer(c: unknown, hostNetwork: boolean): void {
  if (!isObj(c)) return
  dropNull(c, ["securityContext"])
  roundTripContainerSecurityContext(c.securityContext)
  if (unset(c.imagePullPolicy)) c.imagePullPolicy = imageTag(String(c.image ?? "")) === "latest" ? "Always" : "IfNotPresent"
  if (unset(c.terminationMessagePath)) c.terminationMessagePath = "/dev/termination-log"
  if (unset(c.terminationMessagePolicy)) c.terminationMessagePolicy = "File"
  if (!isObj(c.resources)) c.resources = {}
  roundTripResources(c.resources)
  for (const p of list(c.ports)) {
    if (!isObj(p)) continue
    if (unset(p.protocol)) p.protocol = "TCP"
    if (hostNetwork && !p.hostPort) p.hostPort = p.containerPort
  }
  for (const e of list(c.env)) if (isObj(e) && isObj(e.valueFrom)) defaultFieldRef(e.valueFrom.fieldRef)
  for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) defaultProbe(c[probe])
  if (isObj(c.lifecycle)) for (const h of ["postStart", "preStop"]) if (isObj(c.lifecycle[h])) defaultHTTPGet(c.lifecycle[h].httpGet)
}

const VOLUME_SOURCES = [
  "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi", "glusterfs",
  "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap",
  "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi",
  "ephemeral", "image",
]

function defaultVolume(v: unknown): void {
  if (!isObj(v)) return
  if (!VOLUME_SOURCES.some((s) => isObj(v[s]))) v.emptyDir = {}
  for (const s of ["configMap", "secret", "projected", "downwardAPI"]) {
    if (isObj(v[s]) && v[s].defaultMode === undefined) v[s].defaultMode = 420
  }
  if (isObj(v.hostPath) && v.hostPath.type === undefined) v.hostPath.type = ""
  if (isObj(v.downwardAPI)) for (const i of list(v.downwardAPI.items)) if (isObj(i)) defaultFieldRef(i.fieldRef)
  if (isObj(v.projected)) {
    for (const src of list(v.projected.sources)) {
      if (!isObj(src)) continue
      if (isObj(src.downwardAPI)) for (const i of list(src.downwardAPI.items)) if (isObj(i)) defaultFieldRef(i.fieldRef)
      if (isObj(src.serviceAccountToken) && src.serviceAccountToken.expirationSeconds === undefined) src.serviceAccountToken.expirationSeconds = 3600
    }
  }
}

/** SetDefaults_PodSpec and what it reaches. */
export function defaultPodSpec(spec: Obj): void {
  roundTripPodSpec(spec)
  if (unset(spec.dnsPolicy)) spec.dnsPolicy = "ClusterFirst"
  if (unset(spec.restartPolicy)) spec.restartPolicy = "Always"
  if (!isObj(spec.securityContext)) spec.securityContext = {}
  if (spec.terminationGracePeriodSeconds === undefined || spec.terminationGracePeriodSeconds === null) spec.terminationGracePeriodSeconds = 30
  if (unset(spec.schedulerName)) spec.schedulerName = "default-scheduler"
  const hostNetwork = spec.hostNetwork === true
  for (const k of ["initContainers", "containers", "ephemeralContainers"]) for (const c of list(spec[k])) defaultContainer(c, hostNetwork)
  for (const v of list(spec.volumes)) defaultVolume(v)
}

function defaultPodTemplate(spec: Obj): void {
  const template = obj(spec, "template")
  obj(template, "metadata")
  defaultPodSpec(obj(template, "spec"))
}

const absent = (v: unknown) => v === undefined || v === null

function defaultDeployment(d: Obj): void {
  const spec = obj(d, "spec")
  if (absent(spec.replicas)) spec.replicas = 1
  const strategy = obj(spec, "strategy")
  if (unset(strategy.type)) strategy.type = "RollingUpdate"
  if (strategy.type === "RollingUpdate") {
    const ru = obj(strategy, "rollingUpdate")
    if (absent(ru.maxUnavailable)) ru.maxUnavailable = "25%"
    if (absent(ru.maxSurge)) ru.maxSurge = "25%"
  }
  if (absent(spec.revisionHistoryLimit)) spec.revisionHistoryLimit = 10
  if (absent(spec.progressDeadlineSeconds)) spec.progressDeadlineSeconds = 600
  defaultPodTemplate(spec)
  if (!isObj(d.status)) d.status = {}
}

function defaultStatefulSet(s: Obj): void {
  const spec = obj(s, "spec")
  if (absent(spec.replicas)) spec.replicas = 1
  if (unset(spec.podManagementPolicy)) spec.podManagementPolicy = "OrderedReady"
  const us = obj(spec, "updateStrategy")
  if (unset(us.type)) us.type = "RollingUpdate"
  if (us.type === "RollingUpdate") {
    const ru = obj(us, "rollingUpdate")
    if (absent(ru.partition)) ru.partition = 0
  }
  if (absent(spec.revisionHistoryLimit)) spec.revisionHistoryLimit = 10
  const ret = obj(spec, "persistentVolumeClaimRetentionPolicy")
  if (unset(ret.whenDeleted)) ret.whenDeleted = "Retain"
  if (unset(ret.whenScaled)) ret.whenScaled = "Retain"
  defaultPodTemplate(spec)
  if (!isObj(s.status)) s.status = { replicas: 0, availableReplicas: 0 }
}

function defaultDaemonSet(s: Obj): void {
  const spec = obj(s, "spec")
  const us = obj(spec, "updateStrategy")
  if (unset(us.type)) us.type = "RollingUpdate"
  if (us.type === "RollingUpdate") {
    const ru = obj(us, "rollingUpdate")
    if (absent(ru.maxUnavailable)) ru.maxUnavailable = 1
    if (absent(ru.maxSurge)) ru.maxSurge = 0
  }
  if (absent(spec.revisionHistoryLimit)) spec.revisionHistoryLimit = 10
  defaultPodTemplate(spec)
}

function defaultService(svc: Obj, ctx: DefaultingContext): void {
  const spec = obj(svc, "spec")
  if (unset(spec.sessionAffinity)) spec.sessionAffinity = "None"
  if (spec.sessionAffinity === "None") delete spec.sessionAffinityConfig
  if (spec.sessionAffinity === "ClientIP") {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds
    if (absent(t)) spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } }
  }
  if (unset(spec.type)) spec.type = "ClusterIP"
  for (const p of list(spec.ports)) {
    if (!isObj(p)) continue
    if (unset(p.protocol)) p.protocol = "TCP"
    if (p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === "") p.targetPort = p.port
  }
  const external = spec.type === "LoadBalancer" || spec.type === "NodePort" || (spec.type === "ClusterIP" && list(spec.externalIPs).length > 0)
  if (external && unset(spec.externalTrafficPolicy)) spec.externalTrafficPolicy = "Cluster"
  if (absent(spec.internalTrafficPolicy) && ["NodePort", "LoadBalancer", "ClusterIP"].includes(spec.type)) spec.internalTrafficPolicy = "Cluster"
  if (spec.type === "LoadBalancer" && absent(spec.allocateLoadBalancerNodePorts)) spec.allocateLoadBalancerNodePorts = true

  if (spec.type !== "ExternalName") {
    // The registry's IP allocation on create.
    const ips = list(spec.clusterIPs).filter((x) => typeof x === "string" && x !== "")
    if (unset(spec.clusterIP) && ips.length > 0) spec.clusterIP = ips[0]
    if (unset(spec.clusterIP)) spec.clusterIP = ctx.allocateClusterIP()
    if (ips.length === 0) spec.clusterIPs = [spec.clusterIP]
    const headless = spec.clusterIP === "None"
    if (list(spec.ipFamilies).length === 0) spec.ipFamilies = ["IPv4"]
    if (unset(spec.ipFamilyPolicy)) {
      const selectorless = !isObj(spec.selector) || Object.keys(spec.selector).length === 0
      spec.ipFamilyPolicy = headless && selectorless ? "RequireDualStack" : "SingleStack"
    }
    if ((spec.type === "NodePort" || (spec.type === "LoadBalancer" && spec.allocateLoadBalancerNodePorts !== false)) && ctx.allocateNodePort) {
      for (const p of list(spec.ports)) if (isObj(p) && !p.nodePort) p.nodePort = ctx.allocateNodePort()
    }
  }
  const status = obj(svc, "status")
  if (!isObj(status.loadBalancer)) status.loadBalancer = {}
}

/**
 * On update the service registry keeps what was allocated when the new object omits it
 * (clusterIP, clusterIPs, ipFamilies, ipFamilyPolicy, nodePorts) — call before
 * applyBuiltinDefaults so that a PUT without spec.clusterIP does not allocate afresh.
 */
export function carryOverServiceAllocations(svc: any, old: any): void {
  if (!isObj(svc) || !isObj(old) || !isObj(old.spec)) return
  const spec = obj(svc, "spec")
  const o = old.spec
  const needsIP = (s: Obj) => (s.type ?? "ClusterIP") !== "ExternalName"
  if (!needsIP(spec) || !needsIP(o)) return
  if (unset(spec.clusterIP) && list(spec.clusterIPs).length === 0) {
    spec.clusterIP = o.clusterIP
    if (Array.isArray(o.clusterIPs)) spec.clusterIPs = [...o.clusterIPs]
  } else if (unset(spec.clusterIP) && list(spec.clusterIPs).length > 0) {
    spec.clusterIP = spec.clusterIPs[0]
  }
  if (list(spec.ipFamilies).length === 0 && Array.isArray(o.ipFamilies)) spec.ipFamilies = [...o.ipFamilies]
  if (unset(spec.ipFamilyPolicy) && o.ipFamilyPolicy) spec.ipFamilyPolicy = o.ipFamilyPolicy
  for (const p of list(spec.ports)) {
    if (!isObj(p) || p.nodePort) continue
    const match = list(o.ports).find((q) => isObj(q) && q.port === p.port && (q.protocol ?? "TCP") === (p.protocol ?? "TCP"))
    if (match?.nodePort) p.nodePort = match.nodePort
  }
}

function defaultSecret(s: Obj): void {
  if (unset(s.type)) s.type = "Opaque"
  if (isObj(s.stringData)) {
    const data = obj(s, "data")
    for (const [k, v] of Object.entries(s.stringData)) data[k] = Buffer.from(String(v ?? ""), "utf8").toString("base64")
  }
  delete s.stringData
}

function defaultNamespace(ns: Obj): void {
  const meta = obj(ns, "metadata")
  if (typeof meta.name === "string" && meta.name !== "") obj(meta, "labels")["kubernetes.io/metadata.name"] = meta.name
  const spec = obj(ns, "spec")
  if (!Array.isArray(spec.finalizers) || spec.finalizers.length === 0) spec.finalizers = ["kubernetes"]
  const status = obj(ns, "status")
  if (unset(status.phase)) status.phase = "Active"
}

function defaultPod(p: Obj): void {
  const spec = obj(p, "spec")
  defaultPodSpec(spec)
  if (absent(spec.enableServiceLinks)) spec.enableServiceLinks = true
  const status = obj(p, "status")
  if (unset(status.phase)) status.phase = "Pending"
}

/** `group` is "" for core. `resource` is the plural (deployments, services, secrets, configmaps…). */
export function applyBuiltinDefaults(group: string, resource: string, obj: any, ctx: DefaultingContext): void {
  if (!isObj(obj)) return
  const key = `${group}/${resource}`
  switch (key) {
    case "apps/deployments":
      return defaultDeployment(obj)
    case "apps/replicasets": {
      const spec = (obj.spec ??= {})
      if (absent(spec.replicas)) spec.replicas = 1
      defaultPodTemplate(spec)
      return
    }
    case "apps/statefulsets":
      return defaultStatefulSet(obj)
    case "apps/daemonsets":
      return defaultDaemonSet(obj)
    case "/services":
      return defaultService(obj, ctx)
    case "/secrets":
      return defaultSecret(obj)
    case "/namespaces":
      return defaultNamespace(obj)
    case "/pods":
      return defaultPod(obj)
    default:
      return
  }
}

// ---------------------------------------------------------------------------
// Field errors, rendered as Status causes (field.Error.ErrorBody)
// ---------------------------------------------------------------------------

/**
 * A map as kube-apiserver 1.34 prints an invalid value: JSON, keys sorted as
 * Go's encoding/json sorts them (older servers printed Go's %#v instead).
 */
function sortedMap(m: unknown): Record<string, unknown> | null {
  if (!isObj(m)) return null
  return Object.fromEntries(Object.keys(m).sort().map((k) => [k, m[k]]))
}

/** A value already rendered in Go syntax. */
class GoRepr {
  constructor(readonly text: string) {}
}

function body(v: unknown): string {
  if (v instanceof GoRepr) return v.text
  if (v === null || v === undefined) return '"null"'
  if (typeof v === "string") return JSON.stringify(v)
  if (typeof v === "number" || typeof v === "boolean") return String(v)
  return JSON.stringify(v)
}

const required = (field: string, detail = ""): FieldCause => ({ reason: "FieldValueRequired", message: detail ? `Required value: ${detail}` : "Required value", field })
const invalid = (field: string, value: unknown, detail: string): FieldCause => ({
  reason: "FieldValueInvalid",
  message: `Invalid value: ${body(value)}${detail ? `: ${detail}` : ""}`,
  field,
})
const notSupported = (field: string, value: unknown, values: string[]): FieldCause => ({
  reason: "FieldValueNotSupported",
  message: `Unsupported value: ${body(value)}: supported values: ${values.map((v) => JSON.stringify(v)).join(", ")}`,
  field,
})
const forbidden = (field: string, detail: string): FieldCause => ({ reason: "FieldValueForbidden", message: `Forbidden: ${detail}`, field })
const duplicate = (field: string, value: unknown): FieldCause => ({ reason: "FieldValueDuplicate", message: `Duplicate value: ${body(value)}`, field })
const tooLong = (field: string, max: number): FieldCause => ({ reason: "FieldValueTooLong", message: `Too long: must have at most ${max} bytes`, field })

const FIELD_IMMUTABLE = "field is immutable"
const NEGATIVE = "must be greater than or equal to 0"

const nonNegative = (v: unknown, field: string): FieldCause[] => (typeof v === "number" && v < 0 ? [invalid(field, v, NEGATIVE)] : [])

/** IsValidPortNum. */
function portNumErrors(v: unknown): string[] {
  return typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 65535 ? [] : ["must be between 1 and 65535, inclusive"]
}

/** IsValidPortName. */
export function isValidPortName(port: string): string[] {
  const errs: string[] = []
  if (port.length > 15) errs.push(maxLenError(15))
  if (!/^[-a-z0-9]+$/.test(port)) errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
  if (!/[a-z]/.test(port)) errs.push("must contain at least one letter (a-z)")
  if (port.includes("--")) errs.push("must not contain consecutive hyphens")
  if (port.length > 0 && (port.startsWith("-") || port.endsWith("-"))) errs.push("must not begin or end with a hyphen")
  return errs
}

/** IsConfigMapKey (also used for Secret keys). */
export function isConfigMapKey(key: string): string[] {
  const errs: string[] = []
  if (byteLength(key) > 253) errs.push(maxLenError(253))
  if (!/^[-._a-zA-Z0-9]+$/.test(key)) {
    errs.push(regexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'", "[-._a-zA-Z0-9]+", "key.name", "KEY_NAME", "key-name"))
  }
  if (key === ".") errs.push("must not be '.'")
  else if (key === "..") errs.push("must not be '..'")
  else if (key.startsWith("..")) errs.push("must not start with '..'")
  return errs
}

const PROTOCOLS = ["SCTP", "TCP", "UDP"]

// --- label selectors (ValidateLabelSelector) ---------------------------------

function validateLabelsAt(labels: unknown, field: string): FieldCause[] {
  const out: FieldCause[] = []
  if (!isObj(labels)) return out
  for (const [k, v] of Object.entries(labels)) {
    for (const m of isQualifiedName(k)) out.push(invalid(field, k, m))
    for (const m of isValidLabelValue(String(v))) out.push(invalid(field, String(v), m))
  }
  return out
}

function validateLabelSelector(sel: Obj, field: string): FieldCause[] {
  const out = validateLabelsAt(sel.matchLabels, `${field}.matchLabels`)
  list(sel.matchExpressions).forEach((e: any, i: number) => {
    const p = `${field}.matchExpressions[${i}]`
    const values = list(e?.values)
    switch (e?.operator) {
      case "In":
      case "NotIn":
        if (values.length === 0) out.push(required(`${p}.values`, "must be specified when `operator` is 'In' or 'NotIn'"))
        break
      case "Exists":
      case "DoesNotExist":
        if (values.length > 0) out.push(forbidden(`${p}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        break
      default:
        out.push(invalid(`${p}.operator`, e?.operator ?? "", "not a valid selector operator"))
    }
    for (const m of isQualifiedName(String(e?.key ?? ""))) out.push(invalid(`${p}.key`, e?.key ?? "", m))
  })
  return out
}

/** A metav1.LabelSelector as the real server prints it in a message: its JSON, empty fields left out. */
function jsonLabelSelector(sel: unknown): unknown {
  if (!isObj(sel)) return new GoRepr("null")
  const out: Record<string, unknown> = {}
  if (isObj(sel.matchLabels) && Object.keys(sel.matchLabels).length) out.matchLabels = sortedMap(sel.matchLabels)
  const exprs = list(sel.matchExpressions)
  if (exprs.length) {
    out.matchExpressions = exprs.map((e: any) => ({
      key: String(e?.key ?? ""),
      operator: String(e?.operator ?? ""),
      ...(Array.isArray(e?.values) && e.values.length ? { values: e.values.map(String) } : {}),
    }))
  }
  return out
}

// --- pod spec ------------------------------------------------------------------

function validateContainers(containers: unknown, field: string, names: Set<string>, required_: boolean): FieldCause[] {
  const out: FieldCause[] = []
  const cs = list(containers)
  if (required_ && cs.length === 0) out.push(required(field))
  cs.forEach((c: any, i: number) => {
    const p = `${field}[${i}]`
    if (!isObj(c)) return
    const name = c.name
    if (unset(name)) out.push(required(`${p}.name`))
    else {
      for (const m of isDNS1123Label(String(name))) out.push(invalid(`${p}.name`, name, m))
      if (names.has(name)) out.push(duplicate(`${p}.name`, name))
      names.add(name)
    }
    if (unset(c.image)) out.push(required(`${p}.image`))
    if (!unset(c.imagePullPolicy) && !["Always", "IfNotPresent", "Never"].includes(c.imagePullPolicy)) {
      out.push(notSupported(`${p}.imagePullPolicy`, c.imagePullPolicy, ["Always", "IfNotPresent", "Never"]))
    }
    list(c.ports).forEach((port: any, j: number) => {
      const pp = `${p}.ports[${j}]`
      if (!isObj(port)) return
      for (const m of portNumErrors(port.containerPort)) out.push(invalid(`${pp}.containerPort`, port.containerPort ?? 0, m))
      if (!unset(port.name)) for (const m of isValidPortName(String(port.name))) out.push(invalid(`${pp}.name`, port.name, m))
      if (!unset(port.protocol) && !PROTOCOLS.includes(port.protocol)) out.push(notSupported(`${pp}.protocol`, port.protocol, PROTOCOLS))
    })
    list(c.env).forEach((e: any, j: number) => {
      if (!isObj(e)) return
      if (unset(e.name)) out.push(required(`${p}.env[${j}].name`))
    })
  })
  return out
}

function validatePodSpec(spec: unknown, field: string): FieldCause[] {
  if (!isObj(spec)) return [required(`${field}.containers`)]
  const names = new Set<string>()
  const out = [
    ...validateContainers(spec.containers, `${field}.containers`, names, true),
    ...validateContainers(spec.initContainers, `${field}.initContainers`, names, false),
  ]
  const volNames = new Set<string>()
  list(spec.volumes).forEach((v: any, i: number) => {
    const p = `${field}.volumes[${i}].name`
    if (!isObj(v)) return
    if (unset(v.name)) out.push(required(p))
    else {
      for (const m of isDNS1123Label(String(v.name))) out.push(invalid(p, v.name, m))
      if (volNames.has(v.name)) out.push(duplicate(p, v.name))
      volNames.add(v.name)
    }
  })
  const ci = [...list(spec.initContainers).map((c: any, i: number) => [c, `${field}.initContainers[${i}]`] as const), ...list(spec.containers).map((c: any, i: number) => [c, `${field}.containers[${i}]`] as const)]
  for (const [c, p] of ci) {
    if (!isObj(c)) continue
    list(c.volumeMounts).forEach((m: any, j: number) => {
      if (!isObj(m)) return
      if (unset(m.name)) out.push(required(`${p}.volumeMounts[${j}].name`))
      else if (!volNames.has(m.name)) out.push({ reason: "FieldValueNotFound", message: `Not found: ${JSON.stringify(m.name)}`, field: `${p}.volumeMounts[${j}].name` })
      if (unset(m.mountPath)) out.push(required(`${p}.volumeMounts[${j}].mountPath`))
    })
  }
  if (!unset(spec.restartPolicy) && !["Always", "OnFailure", "Never"].includes(spec.restartPolicy)) {
    out.push(notSupported(`${field}.restartPolicy`, spec.restartPolicy, ["Always", "OnFailure", "Never"]))
  }
  if (!unset(spec.dnsPolicy) && !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].includes(spec.dnsPolicy)) {
    out.push(notSupported(`${field}.dnsPolicy`, spec.dnsPolicy, ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]))
  }
  out.push(...nonNegative(spec.terminationGracePeriodSeconds, `${field}.terminationGracePeriodSeconds`))
  return out
}

/** ValidatePodTemplateSpecForReplicaSet (Deployments, ReplicaSets) and the selector checks around it. */
function validateWorkloadTemplate(spec: Obj, kindNeedsAlways: boolean): FieldCause[] {
  const out: FieldCause[] = []
  const sel = spec.selector
  let selector: ReturnType<typeof fromLabelSelectorObject> | undefined
  if (!isObj(sel)) out.push(required("spec.selector"))
  else {
    out.push(...validateLabelSelector(sel, "spec.selector"))
    if (Object.keys(sel.matchLabels ?? {}).length + list(sel.matchExpressions).length === 0) {
      out.push(invalid("spec.selector", jsonLabelSelector(sel), "empty selector is invalid for deployment"))
    }
    try {
      selector = fromLabelSelectorObject(sel)
    } catch (e) {
      if (!(e instanceof SelectorError)) throw e
    }
  }
  const template = spec.template
  if (!isObj(template)) {
    out.push(required("spec.template"))
    return out
  }
  const labels = template.metadata?.labels
  if (selector && selector.length > 0 && !matchLabels(selector, isObj(labels) ? labels : undefined)) {
    out.push(invalid("spec.template.metadata.labels", sortedMap(labels) ?? new GoRepr("null"), "`selector` does not match template `labels`"))
  }
  out.push(...validateLabelsAt(labels, "spec.template.metadata.labels"))
  out.push(...validatePodSpec(template.spec, "spec.template.spec"))
  const rp = template.spec?.restartPolicy
  if (kindNeedsAlways && !unset(rp) && rp !== "Always" && ["OnFailure", "Never"].includes(rp)) {
    out.push(notSupported("spec.template.spec.restartPolicy", rp, ["Always"]))
  }
  if (kindNeedsAlways && !absent(template.spec?.activeDeadlineSeconds)) {
    out.push(invalid("spec.template.spec.activeDeadlineSeconds", template.spec.activeDeadlineSeconds, "activeDeadlineSeconds in ReplicaSet is not Supported"))
  }
  return out
}

function intOrPercent(v: unknown): { percent: boolean; n: number } | undefined {
  if (typeof v === "number") return { percent: false, n: v }
  if (typeof v === "string") {
    const m = /^(\d+)%$/.exec(v)
    return m ? { percent: true, n: Number(m[1]) } : undefined
  }
  return undefined
}

function validateDeployment(d: Obj, old: Obj | undefined): FieldCause[] {
  const spec = isObj(d.spec) ? d.spec : {}
  const out: FieldCause[] = []
  out.push(...nonNegative(spec.replicas, "spec.replicas"))
  out.push(...validateWorkloadTemplate(spec, true))
  const strategy = isObj(spec.strategy) ? spec.strategy : {}
  if (strategy.type === "Recreate") {
    if (!absent(strategy.rollingUpdate)) out.push(forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
  } else if (strategy.type === "RollingUpdate") {
    const ru = isObj(strategy.rollingUpdate) ? strategy.rollingUpdate : {}
    for (const k of ["maxUnavailable", "maxSurge"]) {
      const v = ru[k]
      if (absent(v)) continue
      const parsed = intOrPercent(v)
      const f = `spec.strategy.rollingUpdate.${k}`
      if (!parsed) out.push(invalid(f, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"))
      else if (parsed.n < 0) out.push(invalid(f, v, NEGATIVE))
      else if (parsed.percent && k === "maxUnavailable" && parsed.n > 100) out.push(invalid(f, v, "must not be greater than 100%"))
    }
    const mu = intOrPercent(ru.maxUnavailable)
    const ms = intOrPercent(ru.maxSurge)
    if (mu && ms && mu.n === 0 && ms.n === 0) out.push(invalid("spec.strategy.rollingUpdate.maxUnavailable", ru.maxUnavailable, "may not be 0 when `maxSurge` is 0"))
  } else if (!unset(strategy.type)) {
    out.push(notSupported("spec.strategy.type", strategy.type, ["Recreate", "RollingUpdate"]))
  }
  out.push(...nonNegative(spec.revisionHistoryLimit, "spec.revisionHistoryLimit"))
  out.push(...nonNegative(spec.minReadySeconds, "spec.minReadySeconds"))
  if (typeof spec.progressDeadlineSeconds === "number") {
    out.push(...nonNegative(spec.progressDeadlineSeconds, "spec.progressDeadlineSeconds"))
    if (spec.progressDeadlineSeconds <= (typeof spec.minReadySeconds === "number" ? spec.minReadySeconds : 0)) {
      out.push(invalid("spec.progressDeadlineSeconds", spec.progressDeadlineSeconds, "must be greater than minReadySeconds"))
    }
  }
  if (old && isObj(old.spec) && !jsonEq(spec.selector, old.spec.selector)) {
    out.push(invalid("spec.selector", jsonLabelSelector(spec.selector), FIELD_IMMUTABLE))
  }
  return out
}

function jsonEq(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => jsonEq(x, b[i]))
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined)
    const kb = Object.keys(b).filter((k) => b[k] !== undefined)
    return ka.length === kb.length && ka.every((k) => jsonEq(a[k], b[k]))
  }
  // An absent map and an empty one are the same to the Go types.
  const empty = (v: unknown) => v === undefined || v === null || (isObj(v) && Object.keys(v).length === 0) || (Array.isArray(v) && v.length === 0)
  return empty(a) && empty(b)
}

// --- Service ----------------------------------------------------------------------

function isIP(s: string): boolean {
  const v4 = s.split(".")
  if (v4.length === 4 && v4.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return true
  return s.includes(":") && /^[0-9a-fA-F:.]+$/.test(s)
}

function validateService(svc: Obj, old: Obj | undefined): FieldCause[] {
  const out: FieldCause[] = []
  const name = svc.metadata?.name
  // Service names are DNS-1035 labels; a DNS-1123 label that starts with a digit passes the
  // generic "label" rule but not this one.
  if (!old && typeof name === "string" && isDNS1123Label(name).length === 0) {
    for (const m of isDNS1035Label(name)) out.push(invalid("metadata.name", name, m))
  }
  const spec = isObj(svc.spec) ? svc.spec : {}
  const type = spec.type ?? "ClusterIP"
  const types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
  if (!types.includes(type)) out.push(notSupported("spec.type", type, types))
  const headless = spec.clusterIP === "None"
  const ports = list(spec.ports)
  if (type === "ExternalName") {
    if (unset(spec.externalName)) out.push(required("spec.externalName"))
    else for (const m of isDNS1123Subdomain(String(spec.externalName).replace(/\.$/, ""))) out.push(invalid("spec.externalName", spec.externalName, m))
  } else {
    if (ports.length === 0 && !headless) out.push(required("spec.ports"))
    if (!unset(spec.clusterIP) && spec.clusterIP !== "None" && !isIP(String(spec.clusterIP))) {
      out.push(invalid("spec.clusterIPs[0]", spec.clusterIP, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    }
    if (headless && (type === "NodePort" || type === "LoadBalancer")) {
      out.push(invalid("spec.clusterIPs[0]", "None", `may not be set to 'None' for ${type} services`))
    }
  }
  const portNames = new Set<string>()
  const seen = new Set<string>()
  ports.forEach((p: any, i: number) => {
    const f = `spec.ports[${i}]`
    if (!isObj(p)) return
    if (ports.length > 1 && unset(p.name)) out.push(required(`${f}.name`))
    if (!unset(p.name)) {
      for (const m of isDNS1123Label(String(p.name))) out.push(invalid(`${f}.name`, p.name, m))
      if (portNames.has(p.name)) out.push(duplicate(`${f}.name`, p.name))
      portNames.add(p.name)
    }
    for (const m of portNumErrors(p.port)) out.push(invalid(`${f}.port`, p.port ?? 0, m))
    const proto = p.protocol ?? "TCP"
    if (!PROTOCOLS.includes(proto)) out.push(notSupported(`${f}.protocol`, proto, PROTOCOLS))
    if (typeof p.targetPort === "number") for (const m of portNumErrors(p.targetPort)) out.push(invalid(`${f}.targetPort`, p.targetPort, m))
    else if (typeof p.targetPort === "string") for (const m of isValidPortName(p.targetPort)) out.push(invalid(`${f}.targetPort`, p.targetPort, m))
    const key = `${p.port}/${proto}`
    // The real check compares a key holding only protocol and port, and prints that key (internal field names).
    if (seen.has(key)) out.push(duplicate(f, { Name: "", Protocol: proto, AppProtocol: null, Port: p.port, TargetPort: 0, NodePort: 0 }))
    seen.add(key)
  })
  if (!unset(spec.sessionAffinity) && !["ClientIP", "None"].includes(spec.sessionAffinity)) {
    out.push(notSupported("spec.sessionAffinity", spec.sessionAffinity, ["ClientIP", "None"]))
  }
  if (old && isObj(old.spec)) out.push(...validateClusterIPUpdate(old.spec, spec))
  return out
}

function validateClusterIPUpdate(o: Obj, n: Obj): FieldCause[] {
  if ((n.type ?? "ClusterIP") === "ExternalName" || (o.type ?? "ClusterIP") === "ExternalName") return []
  if (o.clusterIP === "None" && n.clusterIP === "None") return []
  const oldIPs = list(o.clusterIPs).length ? list(o.clusterIPs) : unset(o.clusterIP) ? [] : [o.clusterIP]
  const newIPs = list(n.clusterIPs).length ? list(n.clusterIPs) : unset(n.clusterIP) ? [] : [n.clusterIP]
  const repr = newIPs.length ? newIPs.map(String) : new GoRepr("null")
  const out: FieldCause[] = []
  if (newIPs.length === 0 && oldIPs.length > 0) out.push(invalid("spec.clusterIPs[0]", repr, "primary clusterIP can not be unset"))
  else if (oldIPs.length > 0 && newIPs[0] !== oldIPs[0]) out.push(invalid("spec.clusterIPs[0]", repr, "may not change once set"))
  return out
}

// --- Secret, ConfigMap, Namespace, Lease ------------------------------------------

/** The byte offset Go's base64.StdEncoding reports for bad input, or -1 when it decodes. */
export function base64ErrorOffset(s: string): number {
  const alphabet = /[A-Za-z0-9+/]/
  let i = 0
  let quantum = 0
  let lastNonNewline = -1
  while (i < s.length) {
    const c = s[i]!
    if (c === "\r" || c === "\n") {
      i++
      continue
    }
    lastNonNewline = i
    if (c === "=") {
      // Padding is only valid at quantum positions 2 or 3, and must end the input.
      if (quantum < 2) return i
      let j = i + 1
      let need = quantum === 2 ? 1 : 0
      while (need > 0) {
        while (j < s.length && (s[j] === "\r" || s[j] === "\n")) j++
        if (j >= s.length) return s.length
        if (s[j] !== "=") return j
        j++
        need--
      }
      while (j < s.length && (s[j] === "\r" || s[j] === "\n")) j++
      return j < s.length ? j : -1
    }
    if (!alphabet.test(c)) return i
    quantum = (quantum + 1) % 4
    i++
  }
  if (quantum === 1) return lastNonNewline
  if (quantum !== 0) return s.length
  return -1
}

/**
 * The 400 BadRequest the real server answers before validation when a built-in object
 * cannot be decoded (e.g. Secret data that is not base64), or undefined.
 */
export function builtinDecodeError(group: string, resource: string, obj: any): string | undefined {
  if (group === "" && (resource === "secrets" || resource === "configmaps") && isObj(obj)) {
    const field = resource === "secrets" ? "data" : "binaryData"
    const kind = resource === "secrets" ? "Secret" : "ConfigMap"
    for (const v of Object.values(isObj(obj[field]) ? obj[field] : {})) {
      if (typeof v !== "string") return `${kind} in version "v1" cannot be handled as a ${kind}: json: cannot unmarshal ${Array.isArray(v) ? "array" : typeof v} into Go struct field ${kind}.${field} of type []uint8`
      const at = base64ErrorOffset(v)
      if (at >= 0) return `${kind} in version "v1" cannot be handled as a ${kind}: illegal base64 data at input byte ${at}`
    }
  }
  return undefined
}

const MAX_SECRET_SIZE = 1024 * 1024

function validateSecret(s: Obj, old: Obj | undefined): FieldCause[] {
  const out: FieldCause[] = []
  const data = isObj(s.data) ? s.data : {}
  let total = 0
  for (const [k, v] of Object.entries(data)) {
    for (const m of isConfigMapKey(k)) out.push(invalid(`data[${k}]`, k, m))
    if (typeof v === "string") {
      const at = base64ErrorOffset(v)
      if (at >= 0) out.push(invalid(`data[${k}]`, "<secret data>", `illegal base64 data at input byte ${at}`))
      else total += Buffer.from(v, "base64").length
    }
  }
  if (total > MAX_SECRET_SIZE) out.push(tooLong("data", MAX_SECRET_SIZE))
  const type = s.type ?? "Opaque"
  if (type === "kubernetes.io/tls") {
    for (const k of ["tls.crt", "tls.key"]) if (!(k in data)) out.push(required(`data[${k}]`))
  } else if (type === "kubernetes.io/dockerconfigjson") {
    if (!(".dockerconfigjson" in data)) out.push(required("data[.dockerconfigjson]"))
  } else if (type === "kubernetes.io/basic-auth") {
    if (!("username" in data) && !("password" in data)) out.push(required("data[username]"))
  } else if (type === "kubernetes.io/ssh-auth") {
    if (!("ssh-privatekey" in data)) out.push(required("data[ssh-privatekey]"))
  } else if (type === "kubernetes.io/service-account-token") {
    if (unset(s.metadata?.annotations?.["kubernetes.io/service-account.name"])) out.push(required("metadata.annotations[kubernetes.io/service-account.name]"))
  }
  if (old) {
    if ((old.type ?? "Opaque") !== type) out.push(invalid("type", type, FIELD_IMMUTABLE))
    if (old.immutable === true) {
      if (s.immutable !== true) out.push(forbidden("immutable", "field is immutable when `immutable` is set"))
      if (!jsonEq(s.data, old.data)) out.push(forbidden("data", "field is immutable when `immutable` is set"))
    }
  }
  return out
}

function validateConfigMap(c: Obj, old: Obj | undefined): FieldCause[] {
  const out: FieldCause[] = []
  const data = isObj(c.data) ? c.data : {}
  const bin = isObj(c.binaryData) ? c.binaryData : {}
  let total = 0
  for (const [k, v] of Object.entries(data)) {
    for (const m of isConfigMapKey(k)) out.push(invalid(`data[${k}]`, k, m))
    total += byteLength(String(v))
  }
  for (const [k, v] of Object.entries(bin)) {
    for (const m of isConfigMapKey(k)) out.push(invalid(`binaryData[${k}]`, k, m))
    if (k in data) out.push(invalid(`data[${k}]`, k, "duplicate of key present in binaryData"))
    if (typeof v === "string") total += Buffer.from(v, "base64").length
  }
  if (total > MAX_SECRET_SIZE) out.push(tooLong("", MAX_SECRET_SIZE))
  if (old?.immutable === true) {
    if (c.immutable !== true) out.push(forbidden("immutable", "field is immutable when `immutable` is set"))
    if (!jsonEq(c.data, old.data)) out.push(forbidden("data", "field is immutable when `immutable` is set"))
    if (!jsonEq(c.binaryData, old.binaryData)) out.push(forbidden("binaryData", "field is immutable when `immutable` is set"))
  }
  return out
}

function validateLease(l: Obj): FieldCause[] {
  const spec = isObj(l.spec) ? l.spec : {}
  const out: FieldCause[] = []
  if (typeof spec.leaseDurationSeconds === "number" && spec.leaseDurationSeconds <= 0) {
    out.push(invalid("spec.leaseDurationSeconds", spec.leaseDurationSeconds, "must be greater than 0"))
  }
  if (typeof spec.leaseTransitions === "number" && spec.leaseTransitions < 0) out.push(invalid("spec.leaseTransitions", spec.leaseTransitions, NEGATIVE))
  return out
}

/** Validation of a built-in object (beyond metadata); `old` is given on update. */
export function validateBuiltin(group: string, resource: string, obj: any, old?: any): FieldCause[] {
  if (!isObj(obj)) return []
  const o = isObj(old) ? old : undefined
  switch (`${group}/${resource}`) {
    case "apps/deployments":
      return validateDeployment(obj, o)
    case "apps/replicasets": {
      const spec = isObj(obj.spec) ? obj.spec : {}
      const out = [...nonNegative(spec.replicas, "spec.replicas"), ...validateWorkloadTemplate(spec, true)]
      if (o && isObj(o.spec) && !jsonEq(spec.selector, o.spec.selector)) out.push(invalid("spec.selector", jsonLabelSelector(spec.selector), FIELD_IMMUTABLE))
      return out
    }
    case "apps/statefulsets":
    case "apps/daemonsets": {
      const spec = isObj(obj.spec) ? obj.spec : {}
      const out = [...nonNegative(spec.replicas, "spec.replicas"), ...validateWorkloadTemplate(spec, true)]
      if (o && isObj(o.spec) && !jsonEq(spec.selector, o.spec.selector)) out.push(invalid("spec.selector", jsonLabelSelector(spec.selector), FIELD_IMMUTABLE))
      return out
    }
    case "/pods":
      return validatePodSpec(obj.spec, "spec")
    case "/services":
      return validateService(obj, o)
    case "/secrets":
      return validateSecret(obj, o)
    case "/configmaps":
      return validateConfigMap(obj, o)
    case "coordination.k8s.io/leases":
      return validateLease(obj)
    default:
      return []
  }
}

/** metadata.name rules: DNS-1123 subdomain for most kinds, DNS-1123 label for namespaces and services. */
export function validateObjectName(name: string, rule: "subdomain" | "label"): string[] {
  return rule === "label" ? isDNS1123Label(name) : isDNS1123Subdomain(name)
}

export const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024

/** metadata.labels / annotations validity (qualified names, label values, 256 KiB annotations). */
export function validateObjectMeta(meta: any): FieldCause[] {
  if (!isObj(meta)) return []
  const out = validateLabelsAt(meta.labels, "metadata.labels")
  if (isObj(meta.annotations)) {
    let size = 0
    for (const [k, v] of Object.entries(meta.annotations)) {
      for (const m of isQualifiedName(k.toLowerCase())) out.push(invalid("metadata.annotations", k, m))
      size += byteLength(k) + byteLength(String(v ?? ""))
    }
    if (size > TOTAL_ANNOTATION_SIZE_LIMIT) out.push(tooLong("metadata.annotations", TOTAL_ANNOTATION_SIZE_LIMIT))
  }
  list(meta.finalizers).forEach((f: unknown) => {
    for (const m of isQualifiedName(String(f))) out.push(invalid("metadata.finalizers", f, m))
  })
  let controller = ""
  list(meta.ownerReferences).forEach((r: any) => {
    if (!isObj(r)) return
    const gv = String(r.apiVersion ?? "")
    const version = gv.includes("/") ? gv.slice(gv.indexOf("/") + 1) : gv
    if (version === "") out.push(invalid("metadata.ownerReferences.apiVersion", r.apiVersion ?? "", "version must not be empty"))
    if (unset(r.kind)) out.push(invalid("metadata.ownerReferences.kind", r.kind ?? "", "kind must not be empty"))
    if (unset(r.name)) out.push(invalid("metadata.ownerReferences.name", r.name ?? "", "name must not be empty"))
    if (unset(r.uid)) out.push(invalid("metadata.ownerReferences.uid", r.uid ?? "", "uid must not be empty"))
    if (r.controller === true) {
      const current = `${r.kind}/${r.name}`
      if (controller !== "") {
        out.push(
          invalid(
            "metadata.ownerReferences",
            list(meta.ownerReferences).map((o: any) => ({
              apiVersion: o?.apiVersion,
              kind: o?.kind,
              name: o?.name,
              uid: o?.uid,
              ...(o?.controller !== undefined ? { controller: o.controller } : {}),
              ...(o?.blockOwnerDeletion !== undefined ? { blockOwnerDeletion: o.blockOwnerDeletion } : {}),
            })),
            `Only one reference can have Controller set to true. Found "true" in references for ${controller} and ${current}`,
          ),
        )
      } else controller = current
    }
  })
  return out
}
