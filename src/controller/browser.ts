/** The path bench/ imports (its files are kept elsewhere); the module is src/reconciler/browser.ts. */
export { makeBrowserLifecycle } from "../reconciler/browser.ts"
