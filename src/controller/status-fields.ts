/** The path bench/ imports (its files are kept elsewhere); the module is src/reconciler/status-fields.ts. */
export { baseStatusFields } from "../reconciler/status-fields.ts"
