/**
 * The Pod Security Standards (v1.34, as k8s.io/pod-security-admission checks
 * them) applied to a pod spec: what a namespace labelled
 * `pod-security.kubernetes.io/enforce=baseline` or `=restricted` would refuse.
 * Returns the violations, one sentence each; [] means the level is met.
 */
type Obj = Record<string, any>

const BASELINE_CAPABILITIES = new Set([
  "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID",
  "SETPCAP", "SETUID", "SYS_CHROOT",
])
const SAFE_SYSCTLS = new Set([
  "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
])
const SELINUX_TYPES = new Set(["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"])
const RESTRICTED_VOLUMES = new Set(["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret", "image"])

export type Level = "baseline" | "restricted"

export function podSecurityViolations(spec: Obj, level: Level): string[] {
  const out: string[] = []
  const pod: Obj = spec.securityContext ?? {}
  const containers: Obj[] = [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])]
  const sc = (c: Obj): Obj => c.securityContext ?? {}
  const each = (test: (c: Obj) => boolean, message: string) => {
    for (const c of containers) if (test(c)) out.push(`container ${c.name}: ${message}`)
  }

  // baseline
  for (const k of ["hostNetwork", "hostPID", "hostIPC"]) if (spec[k] === true) out.push(`${k} is true`)
  if (pod.windowsOptions?.hostProcess === true) out.push("hostProcess")
  each((c) => sc(c).windowsOptions?.hostProcess === true, "hostProcess")
  each((c) => sc(c).privileged === true, "privileged")
  each((c) => (sc(c).capabilities?.add ?? []).some((a: string) => !BASELINE_CAPABILITIES.has(a)), "adds capabilities beyond the baseline set")
  for (const v of spec.volumes ?? []) if (v.hostPath) out.push(`volume ${v.name} is a hostPath`)
  each((c) => (c.ports ?? []).some((p: Obj) => (p.hostPort ?? 0) !== 0), "uses a hostPort")
  for (const s of [pod, ...containers.map(sc)]) {
    if (s.appArmorProfile && !["RuntimeDefault", "Localhost"].includes(s.appArmorProfile.type)) out.push("AppArmor profile not allowed")
    const se = s.seLinuxOptions
    if (se && (!SELINUX_TYPES.has(se.type ?? "") || (se.user ?? "") !== "" || (se.role ?? "") !== "")) out.push("SELinux options not allowed")
    if (s.seccompProfile?.type === "Unconfined") out.push("seccomp Unconfined")
  }
  each((c) => sc(c).procMount !== undefined && sc(c).procMount !== "Default", "procMount not Default")
  for (const s of pod.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) out.push(`sysctl ${s.name} is not safe`)
  if (level === "baseline") return out

  // restricted
  for (const v of spec.volumes ?? []) {
    const source = Object.keys(v).find((k) => k !== "name")
    if (!source || !RESTRICTED_VOLUMES.has(source)) out.push(`volume ${v.name} is of a restricted type (${source})`)
  }
  each((c) => sc(c).allowPrivilegeEscalation !== false, "allowPrivilegeEscalation is not false")
  each((c) => (sc(c).runAsNonRoot ?? pod.runAsNonRoot) !== true, "runAsNonRoot is not true")
  if (pod.runAsUser === 0) out.push("runAsUser is 0")
  each((c) => sc(c).runAsUser === 0, "runAsUser is 0")
  each((c) => !["RuntimeDefault", "Localhost"].includes(sc(c).seccompProfile?.type ?? pod.seccompProfile?.type), "seccomp profile is not RuntimeDefault or Localhost")
  each((c) => !(sc(c).capabilities?.drop ?? []).includes("ALL"), "does not drop ALL capabilities")
  each((c) => (sc(c).capabilities?.add ?? []).some((a: string) => a !== "NET_BIND_SERVICE"), "adds a capability other than NET_BIND_SERVICE")
  return out
}
