/** The path bench/ imports (its files are kept elsewhere); the module is src/reconciler/idle.ts. */
export { makeIdleCuller } from "../reconciler/idle.ts"
