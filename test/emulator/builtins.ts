/**
 * What kube-apiserver does to built-in kinds on write: defaulting (the
 * SetDefaults_* functions of the core and apps groups) and the validation the
 * operator and kubectl can run into. Pure functions; they mutate `obj` in place.
 */
import type { FieldCause } from "./structural.ts"

export interface DefaultingContext {
  /** A fresh ClusterIP from the emulated service CIDR. */
  allocateClusterIP(): string
}

/** `group` is "" for core. `resource` is the plural (deployments, services, secrets, configmaps…). */
export function applyBuiltinDefaults(group: string, resource: string, obj: any, ctx: DefaultingContext): void {
  throw new Error("not implemented")
}

/** Validation of a built-in object (beyond metadata); `old` is given on update. */
export function validateBuiltin(group: string, resource: string, obj: any, old?: any): FieldCause[] {
  throw new Error("not implemented")
}

/** metadata.name rules: DNS-1123 subdomain for most kinds, DNS-1123 label for namespaces and services. */
export function validateObjectName(name: string, rule: "subdomain" | "label"): string[] {
  throw new Error("not implemented")
}

/** metadata.labels / annotations validity (qualified names, label values, 256 KiB annotations). */
export function validateObjectMeta(meta: any): FieldCause[] {
  throw new Error("not implemented")
}
