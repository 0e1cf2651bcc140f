/** The path bench/ imports (its files are kept elsewhere); the module is src/runtime/reflector.ts. */
export type { Informer } from "../runtime/reflector.ts"
