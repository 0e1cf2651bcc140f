/**
 * Loaded before every test file (bunfig.toml). Integration tests start
 * servers and wait on conditions with their own deadlines; the per-test
 * limit is only the backstop above those deadlines.
 */
import { setDefaultTimeout } from "bun:test"

setDefaultTimeout(60_000)
