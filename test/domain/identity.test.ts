/**
 * Identities must be unambiguous: one binding's `<workspace>@<username>` and
 * deployment name can never be another's. The workspace is an
 * AnalyticsWorkspace's name (a Kubernetes object name, so no `@` and no `/`),
 * which makes `<workspace>@<username>` split at its first `@` and the
 * deployment formula's path at its first `/`. The usernames that would look
 * alike to a person but differ to a computer are refused.
 */
import { describe, expect, test } from "bun:test"
import { Either } from "effect"
import { decodeBinding } from "../../src/domain/binding.ts"
import { deploymentNameFor, deploymentUrlFor, entityNameFor } from "../../src/domain/naming.ts"

const binding = (workspace: unknown, username: unknown) => ({
  metadata: { name: "b", namespace: "jupyterhub", uid: "u", resourceVersion: "1" },
  spec: { workspace, username, expires: "2099-12-31" },
})
const problem = (workspace: unknown, username: unknown): string | undefined => {
  const r = decodeBinding(binding(workspace, username))
  return Either.isLeft(r) ? r.left.message : undefined
}

describe("issue 8 case 3: <workspace>@<username> is unambiguous", () => {
  test("a workspace with @ is refused, so a@b/c and a/b@c can no longer both be the Guacamole user a@b@c", () => {
    expect(entityNameFor("a@b", "c")).toBe(entityNameFor("a", "b@c"))
    expect(problem("a@b", "c")).toStartWith("spec.workspace must be the name of an AnalyticsWorkspace")
    expect(problem("a", "b@c")).toBeUndefined()
  })

  test("workspace names are Kubernetes object names: lowercase, digits, '-', '.', at most 253", () => {
    for (const ok of ["ws1", "example-workspace", "a.b-c", "0", "x".repeat(63)]) expect(problem(ok, "alice")).toBeUndefined()
    for (const bad of ["Admin Tools", "WS1", "-ws", "ws-", "ws_1", "ws/1", "ws@1", "wş1", ".ws", "ws..x", "x".repeat(254)]) {
      expect(problem(bad, "alice")).toStartWith("spec.workspace must be the name of an AnalyticsWorkspace")
    }
  })
})

describe("issue 8 case 4: the deployment name is unambiguous", () => {
  test("a workspace with / is refused, so x/y + z and x + y/z can no longer share one Deployment", () => {
    expect(deploymentNameFor("x/y", "z")).toBe(deploymentNameFor("x", "y/z"))
    expect(problem("x/y", "z")).toStartWith("spec.workspace must be the name of an AnalyticsWorkspace")
    expect(problem("x", "y/z")).toBeUndefined()
  })

  test("the formula is unchanged (the published vectors)", () => {
    expect(deploymentNameFor("ws1", "alice")).toBe("cee3c61f22f5523cab33ca6ab9cfc699")
    expect(deploymentNameFor("example-workspace", "shaun.turner@headinthecloudsolutions.co.uk")).toBe(
      "46bf32786e265a3db1ba4c8518ff635f",
    )
  })

  test("with valid workspaces, distinct (workspace, username) pairs give distinct URLs", () => {
    const pairs: Array<[string, string]> = [["a", "b/c"], ["a.b", "c"], ["a", "b.c"], ["a-b", "c"], ["a", "b-c"], ["ab", "c"]]
    const urls = new Set(pairs.map(([w, u]) => deploymentUrlFor(w, u)))
    expect(urls.size).toBe(pairs.length)
  })
})

describe("what a username may not contain", () => {
  test("e-mail addresses, / and letters of any script are fine", () => {
    for (const ok of ["alice", "shaun.turner@example.co.uk", "a/b", "O'Brien", 'quote"d', "Zoë", "日本", "аlice" /* Cyrillic а */]) {
      expect(problem("ws1", ok)).toBeUndefined()
    }
  })

  test("control characters", () => {
    expect(problem("ws1", "al\u0007ice")).toStartWith("spec.username must not contain control characters")
    expect(problem("ws1", "al\u0085ice")).toStartWith("spec.username must not contain control characters")
  })

  test("zero-width and bidirectional marks, and other invisible characters", () => {
    for (const c of ["\u200B", "\u200C", "\u200D", "\u200E", "\u200F", "\u202E", "\u2066", "\u2069", "\uFEFF", "\u00AD", "\u2028", "\uE000"]) {
      expect(problem("ws1", `ali${c}ce`)).toStartWith("spec.username must not contain invisible or bidirectional formatting characters")
    }
    expect(problem("ws1", "ali\u202Ece")).toContain("U+202E")
  })

  test("spaces at either end (inner ones are fine)", () => {
    expect(problem("ws1", " alice")).toStartWith("spec.username must not begin or end with a space")
    expect(problem("ws1", "alice\u00A0")).toStartWith("spec.username must not begin or end with a space")
    expect(problem("ws1", "alice smith")).toBeUndefined()
  })

  test("text not in Unicode form NFC is refused, not silently normalised", () => {
    const decomposed = "Zoe\u0308" // e + combining diaeresis: looks like "Zoë"
    expect(problem("ws1", decomposed)).toStartWith("spec.username must be in Unicode normalization form NFC")
    expect(problem("ws1", decomposed.normalize("NFC"))).toBeUndefined()
  })
})
