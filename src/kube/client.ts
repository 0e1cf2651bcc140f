/** The path bench/ imports (its files are kept elsewhere); the module is src/runtime/client.ts. */
export type { KubeClientService, KubeObject } from "../runtime/client.ts"
