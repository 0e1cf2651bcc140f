/**
 * What the API server and the operator tell the author of a binding, on the
 * emulator and on kube-apiserver alike.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test"
import { startHarness, type Harness } from "../support/operator.ts"
import { forEachServer } from "../support/servers.ts"

setDefaultTimeout(60_000)

forEachServer("messages", (server) => {
  let h: Harness
  beforeAll(async () => {
    h = await startHarness({ server })
  })
  afterAll(async () => {
    await h?.close()
  })

  test("a binding with neither username nor claims is told so in words, with no <nil> field path", async () => {
    // Refused by the API server (the CRD's rule), or accepted and then marked ERROR by the operator: either way in words.
    const told = await h.createBinding("nobody", { workspace: "ws1", expires: "2099-12-31" }).then(
      async () => (await h.waitForStatus("nobody", "ERROR")).status.message as string,
      (refused: Error) => refused.message,
    )
    expect(told).not.toContain("<nil>")
    expect(told).toContain("spec.username")
  })
})
