/**
 * What a reconcile depends on, as Effect Tags: the Layers of src/operator.ts
 * (and of a test) provide them. The Kubernetes client is the runtime's
 * write-through one (src/runtime/cached-client.ts) and the Guacamole
 * database is src/guacamole's `GuacamoleDb`.
 */
import { Context } from "effect"
import type { WorkloadSettings } from "../domain/desired.ts"
import type { EventRecorder } from "../runtime/events.ts"
import type { Store } from "../runtime/store.ts"
import type { AppliedAccess } from "./access.ts"
import type { BrowserLifecycle } from "./browser.ts"
import type { InstallationHealth } from "./classify.ts"
import type { StatusFields } from "./status-fields.ts"

/** The caches: bindings of every watched namespace, and the browser objects. */
export class Caches extends Context.Tag("reconciler/Caches")<
  Caches,
  { readonly bindings: Store; readonly deployments: Store; readonly services: Store; readonly secrets: Store }
>() {}

export class ReconcilerSettings extends Context.Tag("reconciler/Settings")<
  ReconcilerSettings,
  {
    readonly workload: WorkloadSettings
    readonly statusFields: StatusFields
    readonly randomBytes: (n: number) => Uint8Array
    /** Whether bindings of this namespace are watched (others are not ours to clean up after). */
    readonly watches: (namespace: string) => boolean
  }
>() {}

export class Recorder extends Context.Tag("reconciler/Recorder")<Recorder, EventRecorder>() {}

export class Applied extends Context.Tag("reconciler/Applied")<Applied, AppliedAccess>() {}

export class Browsers extends Context.Tag("reconciler/Browsers")<Browsers, BrowserLifecycle>() {}

export class Installation extends Context.Tag("reconciler/Installation")<Installation, InstallationHealth>() {}
