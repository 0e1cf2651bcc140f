/**
 * What the kernel says about a process: CPU seconds (utime + stime of the
 * process and of its children it has waited for, /proc/<pid>/stat) and
 * memory (VmRSS, VmHWM from /proc/<pid>/status). Linux only.
 */
import { readdirSync, readFileSync } from "node:fs"

/** Clock ticks per second (`getconf CLK_TCK`): 100 on every Linux this runs on. */
const TICKS = 100

/**
 * CPU seconds of a `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat` line: utime + stime, and
 * with `reaped` also cutime + cstime (the children waited for).
 */
const statCpuSeconds = (stat: string, reaped: boolean): number => {
  // Fields after the command name (which may hold spaces) start at state (field 3); utime is field 14.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const fields = reaped ? [f[11], f[12], f[13], f[14]] : [f[11], f[12]]
  return fields.reduce((sum, x) => sum + Number(x), 0) / TICKS
}

/** CPU seconds of `pid` and its reaped children; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, "utf8"), true)
  } catch {
    return undefined
  }
}

/**
 * CPU seconds of each of `pid`'s threads, summed by thread name (/proc/<pid>/task/<tid>): where a
 * process's CPU goes, e.g. Bun's JavaScript thread ("bun" or the binary's name), its garbage
 * collector's helpers ("HeapHelper") and its HTTP client ("HTTP Client"). Empty once it is gone.
 */
export function threadCpuSeconds(pid: number): Record<string, number> {
  const out: Record<string, number> = {}
  let tids: string[]
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out
  }
  for (const tid of tids) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim().replace(/[-:]?\d+$/, "")
      out[name] = (out[name] ?? 0) + statCpuSeconds(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8"), false)
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out
}

/** A `/proc/<pid>/status` field in bytes (VmRSS:, VmHWM:); 0 when absent. */
export function memoryBytes(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith(`${field}:`))
    return Number(/\d+/.exec(line ?? "")?.[0] ?? 0) * 1024
  } catch {
    return 0
  }
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ")
  } catch {
    return ""
  }
}

const comm = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim()
  } catch {
    return ""
  }
}

const pids = (): number[] =>
  readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)

/** Processes whose command line matches. */
export const findProcesses = (match: (cmdline: string) => boolean): number[] => pids().filter((p) => match(cmdline(p)))

/**
 * Every process of the machine's PostgreSQL (postmaster, backends, writers):
 * the postmaster's children's times include the backends that have exited, so
 * the sum only grows. Other users' work on the same server is in it too.
 */
export const postgresProcesses = (): number[] => pids().filter((p) => comm(p) === "postgres" || comm(p).startsWith("postgres:"))

export const sumCpu = (ps: ReadonlyArray<number>): number => ps.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0)
