import { describe, expect, test } from "bun:test"
import {
  formatLabelSelector,
  fromLabelSelectorObject,
  isDNS1035Label,
  isDNS1123Label,
  isDNS1123Subdomain,
  isQualifiedName,
  isValidLabelValue,
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
} from "./selectors.ts"

const parseError = (text: string): string => {
  try {
    parseLabelSelector(text)
  } catch (e) {
    expect(e).toBeInstanceOf(SelectorError)
    return (e as Error).message
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`)
}

describe("label selector grammar", () => {
  test("parses every operator, sorted by key, values sorted and de-duplicated", () => {
    const s = parseLabelSelector("z=1, y==2,x!=3,w in (b,a,b),v notin (c),u,!t")
    expect(s).toEqual([
      { key: "t", operator: "!", values: [] },
      { key: "u", operator: "exists", values: [] },
      { key: "v", operator: "notin", values: ["c"] },
      { key: "w", operator: "in", values: ["a", "b"] },
      { key: "x", operator: "!=", values: ["3"] },
      { key: "y", operator: "=", values: ["2"] },
      { key: "z", operator: "=", values: ["1"] },
    ])
    expect(formatLabelSelector(s)).toBe("!t,u,v notin (c),w in (a,b),x!=3,y=2,z=1")
  })

  test("empty selector selects everything", () => {
    expect(parseLabelSelector("")).toEqual([])
    expect(parseLabelSelector("   ")).toEqual([])
    expect(matchLabels([], undefined)).toBe(true)
  })

  test("empty values are allowed: `a=`, `a in ()`, `a in (,x)`", () => {
    expect(parseLabelSelector("a=")).toEqual([{ key: "a", operator: "=", values: [""] }])
    expect(parseLabelSelector("a in ()")).toEqual([{ key: "a", operator: "in", values: [""] }])
    expect(parseLabelSelector("a in (,x)")).toEqual([{ key: "a", operator: "in", values: ["", "x"] }])
  })

  test("`in`/`notin` are plain values inside a set", () => {
    expect(parseLabelSelector("a in (in,notin)")).toEqual([{ key: "a", operator: "in", values: ["in", "notin"] }])
  })

  test("prefixed keys are accepted", () => {
    expect(parseLabelSelector("app.kubernetes.io/name=web")[0]!.key).toBe("app.kubernetes.io/name")
  })

  test("syntax errors carry the apiserver's wording", () => {
    expect(parseError("a in b")).toBe("unable to parse requirement: found 'b' expected: '('")
    expect(parseError("a in (b")).toBe("unable to parse requirement: found '', expected: ',' or ')'")
    expect(parseError("a b")).toBe("unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt")
    expect(parseError("a=b c")).toBe("found 'c', expected: ',' or 'end of string'")
    expect(parseError("a,")).toBe("found '', expected: identifier after ','")
    expect(parseError(",a")).toBe("found ',', expected: !, identifier, or 'end of string'")
    expect(parseError("!a=b")).toBe("found '=', expected: ',' or 'end of string'")
  })

  test("invalid keys and values are rejected with the validation message", () => {
    expect(parseError("-a=b")).toBe(
      `unable to parse requirement: <nil>: Invalid value: "-a": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
    )
    expect(parseError("a=b_")).toContain(`values[0][a]: Invalid value: "b_": a valid label must be an empty string`)
    expect(parseError(`a=${"x".repeat(64)}`)).toContain("must be no more than 63 characters")
  })

  test("gt/lt are refused rather than mis-read", () => {
    expect(parseError("a>1")).toContain("found '>'")
  })
})

describe("label matching", () => {
  const labels = { app: "web", tier: "front" }
  const m = (s: string, l: Record<string, string> | undefined = labels) => matchLabels(parseLabelSelector(s), l)
  test("equality and inequality", () => {
    expect(m("app=web")).toBe(true)
    expect(m("app==web")).toBe(true)
    expect(m("app=db")).toBe(false)
    expect(m("app!=db")).toBe(true)
    expect(m("missing!=x")).toBe(true) // absent key satisfies !=
  })
  test("set based", () => {
    expect(m("app in (web,db)")).toBe(true)
    expect(m("app notin (web)")).toBe(false)
    expect(m("missing notin (x)")).toBe(true)
    expect(m("missing in (x)")).toBe(false)
  })
  test("existence", () => {
    expect(m("app")).toBe(true)
    expect(m("!app")).toBe(false)
    expect(m("!missing")).toBe(true)
    expect(matchLabels(parseLabelSelector("app"), undefined)).toBe(false)
  })
  test("all requirements must hold", () => {
    expect(m("app=web,tier=front")).toBe(true)
    expect(m("app=web,tier=back")).toBe(false)
  })
  test("a label set to the empty string exists and equals ''", () => {
    expect(m("a=", { a: "" })).toBe(true)
    expect(m("a", { a: "" })).toBe(true)
  })
})

describe("metav1.LabelSelector objects", () => {
  test("matchLabels and matchExpressions become requirements, sorted by key", () => {
    const s = fromLabelSelectorObject({
      matchLabels: { z: "1", app: "web" },
      matchExpressions: [
        { key: "env", operator: "In", values: ["prod", "dev"] },
        { key: "gone", operator: "DoesNotExist" },
      ],
    })
    expect(formatLabelSelector(s)).toBe("app=web,env in (dev,prod),!gone,z=1")
    expect(matchLabels(s, { app: "web", z: "1", env: "dev" })).toBe(true)
    expect(matchLabels(s, { app: "web", z: "1", env: "dev", gone: "x" })).toBe(false)
  })
  test("an empty selector object matches everything", () => {
    expect(fromLabelSelectorObject({})).toEqual([])
    expect(formatLabelSelector(fromLabelSelectorObject({}))).toBe("")
  })
  test("In with no values and bad operators are rejected", () => {
    expect(() => fromLabelSelectorObject({ matchExpressions: [{ key: "a", operator: "In", values: [] }] })).toThrow(
      "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty",
    )
    expect(() => fromLabelSelectorObject({ matchExpressions: [{ key: "a", operator: "Gt" as any, values: ["1"] }] })).toThrow(
      `"Gt" is not a valid label selector operator`,
    )
  })
})

describe("field selectors", () => {
  const allowed = ["metadata.name", "metadata.namespace", "status.phase"]
  test("=, == and != with escapes", () => {
    expect(parseFieldSelector("metadata.name==a,metadata.namespace!=b,status.phase=x\\,y", allowed)).toEqual([
      { field: "metadata.name", operator: "=", value: "a" },
      { field: "metadata.namespace", operator: "!=", value: "b" },
      { field: "status.phase", operator: "=", value: "x,y" },
    ])
    expect(parseFieldSelector("", allowed)).toEqual([])
  })
  test("unsupported fields give the apiserver's message", () => {
    expect(() => parseFieldSelector("spec.foo=bar", allowed)).toThrow(new SelectorError("field label not supported: spec.foo"))
  })
  test("malformed terms and escapes", () => {
    expect(() => parseFieldSelector("metadata.name", allowed)).toThrow("invalid selector: 'metadata.name'; can't understand 'metadata.name'")
    expect(() => parseFieldSelector("metadata.name=a=b", allowed)).toThrow("invalid field selector: unescaped character in value: 61")
    expect(() => parseFieldSelector("metadata.name=a\\x", allowed)).toThrow("invalid field selector: invalid escape sequence: \\x")
  })
  test("matching by dotted path, missing fields read as ''", () => {
    const pod = { metadata: { name: "p", namespace: "ns" }, status: { phase: "Running" }, spec: { unschedulable: false } }
    expect(matchFields(parseFieldSelector("metadata.name=p,status.phase!=Pending", allowed), pod)).toBe(true)
    expect(matchFields(parseFieldSelector("metadata.name=q", allowed), pod)).toBe(false)
    expect(matchFields([{ field: "spec.nodeName", operator: "=", value: "" }], pod)).toBe(true)
    expect(matchFields([{ field: "spec.unschedulable", operator: "=", value: "false" }], pod)).toBe(true)
  })
})

describe("name validators", () => {
  test("DNS-1123 subdomain and label", () => {
    expect(isDNS1123Subdomain("example.com")).toEqual([])
    expect(isDNS1123Subdomain("Example")).toEqual([
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ])
    expect(isDNS1123Subdomain("a".repeat(254))[0]).toBe("must be no more than 253 characters")
    expect(isDNS1123Label("a.b")[0]).toBe(
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    )
    expect(isDNS1035Label("1abc")[0]).toContain("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character")
  })
  test("qualified names and label values", () => {
    expect(isQualifiedName("example.com/My_Name")).toEqual([])
    expect(isQualifiedName("/x")).toEqual(["prefix part must be non-empty"])
    expect(isQualifiedName("a/b/c")[0]).toStartWith("a qualified name must consist of")
    expect(isQualifiedName("Bad_Prefix/x")[0]).toStartWith("prefix part a lowercase RFC 1123 subdomain")
    expect(isValidLabelValue("")).toEqual([])
    expect(isValidLabelValue("-x")[0]).toStartWith("a valid label must be an empty string")
  })
})
