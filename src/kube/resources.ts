/** The path bench/ imports (its files are kept elsewhere); the module is src/runtime/resources.ts. */
export { Bindings } from "../runtime/resources.ts"
