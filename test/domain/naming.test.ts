import { describe, expect, test } from "bun:test"
import {
  connectionHostnameFor,
  deploymentNameFor,
  deploymentUrlFor,
  entityNameFor,
  pythonQuote,
  secretNameFor,
  serviceNameFor
} from "../../src/domain/naming.ts"

describe("deploymentNameFor: the published vectors of the original operator", () => {
  test("ws1 / alice", () => {
    expect(deploymentNameFor("ws1", "alice")).toBe("cee3c61f22f5523cab33ca6ab9cfc699")
  })
  test("example-workspace / an e-mail address", () => {
    expect(deploymentNameFor("example-workspace", "shaun.turner@headinthecloudsolutions.co.uk")).toBe(
      "46bf32786e265a3db1ba4c8518ff635f"
    )
  })
})

// Expected names obtained with Python 3.11:
//   python3 -c 'import uuid,urllib.parse; w,u=...; print(uuid.uuid5(uuid.NAMESPACE_URL,
//     "https://workspaces.xlscsde.nhs.uk/"+urllib.parse.quote(w)+"/"+urllib.parse.quote(u)).hex)'
// The quoted forms are written out by hand from the UTF-8 bytes of each character.
const vectors: ReadonlyArray<{
  what: string
  workspace: string
  username: string
  quotedWorkspace: string
  quotedUsername: string
  name: string
}> = [
  {
    what: "spaces",
    workspace: "my workspace",
    username: "a b",
    quotedWorkspace: "my%20workspace",
    quotedUsername: "a%20b",
    name: "a8be7c877792545dae5ea62d16c6a064"
  },
  {
    what: "@ and +",
    workspace: "ws",
    username: "first.last+tag@example.org",
    quotedWorkspace: "ws",
    quotedUsername: "first.last%2Btag%40example.org",
    name: "cc2bed9895c45737ba6183baf64f2d91"
  },
  {
    what: "' ( ) * ! (kept by encodeURIComponent, quoted by Python)",
    workspace: "o'brien",
    username: "(x)*!",
    quotedWorkspace: "o%27brien",
    quotedUsername: "%28x%29%2A%21",
    name: "3779c85b7dca588eac3c7b1b77656108"
  },
  {
    what: "~ and / stay as they are",
    workspace: "ws~1",
    username: "dept/team",
    quotedWorkspace: "ws~1",
    quotedUsername: "dept/team",
    name: "36e075dc1abd5a0b889b12df65bdd343"
  },
  {
    what: "é (two UTF-8 bytes)",
    workspace: "café",
    username: "é",
    quotedWorkspace: "caf%C3%A9",
    quotedUsername: "%C3%A9",
    name: "f1e431d9435d5d8781fd4c7eaca21765"
  },
  {
    what: "日本 and katakana (three UTF-8 bytes each)",
    workspace: "日本",
    username: "ユーザー",
    quotedWorkspace: "%E6%97%A5%E6%9C%AC",
    quotedUsername: "%E3%83%A6%E3%83%BC%E3%82%B6%E3%83%BC",
    name: "4be34d14330252349d52f13bbebeb4f9"
  },
  {
    what: "an emoji outside the BMP (four UTF-8 bytes, one surrogate pair in JS)",
    workspace: "ws",
    username: "😀",
    quotedWorkspace: "ws",
    quotedUsername: "%F0%9F%98%80",
    name: "2a68937fd2d3502396c6e29e28bf2d4d"
  },
  {
    what: "a literal % is itself quoted",
    workspace: "ws",
    username: "a%b",
    quotedWorkspace: "ws",
    quotedUsername: "a%25b",
    name: "4eef5ffbf2bd596d8342511a878fdfbd"
  },
  {
    what: "every always-safe character",
    workspace: "ws",
    username: "A-Z_a.z~0-9",
    quotedWorkspace: "ws",
    quotedUsername: "A-Z_a.z~0-9",
    name: "7e4cc688a0ea581fa812c7f93e9d8cb6"
  }
]

describe("pythonQuote and deploymentNameFor agree with Python", () => {
  for (const v of vectors) {
    test(v.what, () => {
      expect(pythonQuote(v.workspace)).toBe(v.quotedWorkspace)
      expect(pythonQuote(v.username)).toBe(v.quotedUsername)
      expect(deploymentUrlFor(v.workspace, v.username)).toBe(
        `https://workspaces.xlscsde.nhs.uk/${v.quotedWorkspace}/${v.quotedUsername}`
      )
      expect(deploymentNameFor(v.workspace, v.username)).toBe(v.name)
    })
  }

  test("differs from encodeURIComponent where the two disagree", () => {
    for (const s of ["'", "(", ")", "*", "!", "/"]) {
      expect(pythonQuote(s)).not.toBe(encodeURIComponent(s))
    }
  })

  test("every ASCII character outside the safe set is %XX with uppercase hex", () => {
    for (let c = 0; c < 128; c++) {
      const ch = String.fromCharCode(c)
      const safe = /[A-Za-z0-9_.\-~/]/.test(ch)
      expect(pythonQuote(ch)).toBe(safe ? ch : "%" + c.toString(16).toUpperCase().padStart(2, "0"))
    }
  })

  test("a lone surrogate (Python raises) is encoded as U+FFFD instead of throwing", () => {
    expect(pythonQuote("a\uD800b")).toBe("a%EF%BF%BDb")
    expect(pythonQuote("\uDE00")).toBe("%EF%BF%BD")
    // Same name as the replacement character itself (Python: quote("\ufffd")).
    expect(deploymentNameFor("ws", "\uD83D")).toBe("d6bb3afdc2b25455bf94b654affde373")
    expect(deploymentNameFor("ws", "\uFFFD")).toBe("d6bb3afdc2b25455bf94b654affde373")
  })

  test("names are 32 lowercase hex digits", () => {
    expect(deploymentNameFor("Upper Case", "USER@EXAMPLE.ORG")).toMatch(/^[0-9a-f]{32}$/)
  })
})

describe("derived names", () => {
  const d = "cee3c61f22f5523cab33ca6ab9cfc699"
  test("service, secret, entity, hostname", () => {
    expect(serviceNameFor(d)).toBe("client-cee3c61f22f5523cab33ca6ab9cfc699")
    expect(secretNameFor(d)).toBe("client-cee3c61f22f5523cab33ca6ab9cfc699-vnc")
    expect(entityNameFor("ws1", "alice")).toBe("ws1@alice")
    expect(connectionHostnameFor(d, "guacamole")).toBe(
      "client-cee3c61f22f5523cab33ca6ab9cfc699.guacamole.svc.cluster.local"
    )
  })
  test("service and secret names are valid DNS labels (at most 63 characters)", () => {
    expect(serviceNameFor(d).length).toBeLessThanOrEqual(63)
    expect(secretNameFor(d).length).toBeLessThanOrEqual(63)
  })
})
