/**
 * Label and field selectors, parsed and matched as the apiserver does (pure functions).
 *
 * The label grammar and its error texts follow k8s.io/apimachinery pkg/labels
 * (selector.go): a hand-written lexer where `=`, `!`, `(`, `)`, `,`, `<`, `>`
 * are special, `in`/`notin` are keywords only in operator position, keys must
 * be qualified names and values valid label values. Field selectors follow
 * pkg/fields (selector.go): terms split on unescaped commas, the first of
 * `!=`, `==`, `=` found splits a term, values unescape `\,` `\=` `\\`.
 *
 * Not supported: the `>`/`<` (Gt/Lt) label operators, which the Requirement
 * type cannot express; such selectors are rejected as a parse error.
 *
 * The name/label validators the rest of the emulator shares (qualified names,
 * label values, DNS-1123/1035 names) live here too, with the exact messages of
 * k8s.io/apimachinery pkg/util/validation.
 */

export class SelectorError extends Error {}

export type Requirement =
  | { readonly key: string; readonly operator: "=" | "!="; readonly values: readonly [string] }
  | { readonly key: string; readonly operator: "in" | "notin"; readonly values: readonly string[] }
  | { readonly key: string; readonly operator: "exists" | "!"; readonly values: readonly [] }

export type LabelSelector = readonly Requirement[]

// ---------------------------------------------------------------------------
// pkg/util/validation: names, qualified names, label values
// ---------------------------------------------------------------------------

/** `RegexError` of pkg/util/validation, examples included (note the double space before "or"). */
export function regexError(msg: string, fmt: string, ...examples: string[]): string {
  if (examples.length === 0) return `${msg} (regex used for validation is '${fmt}')`
  let out = msg + " (e.g. "
  examples.forEach((e, i) => {
    if (i > 0) out += " or "
    out += `'${e}', `
  })
  return out + `regex used for validation is '${fmt}')`
}

export const maxLenError = (n: number): string => `must be no more than ${n} characters`
export const emptyError = (): string => "must be non-empty"

const qualifiedNameFmt = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
const qualifiedNameErrMsg =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
const qualifiedNameRe = new RegExp(`^${qualifiedNameFmt}$`)

const labelValueFmt = `(${qualifiedNameFmt})?`
const labelValueErrMsg =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
const labelValueRe = new RegExp(`^${labelValueFmt}$`)

const dns1123LabelFmt = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
const dns1123LabelErrMsg =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
const dns1123LabelRe = new RegExp(`^${dns1123LabelFmt}$`)

const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`
const dns1123SubdomainErrMsg =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
const dns1123SubdomainRe = new RegExp(`^${dns1123SubdomainFmt}$`)

const dns1035LabelFmt = "[a-z]([-a-z0-9]*[a-z0-9])?"
const dns1035LabelErrMsg =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"
const dns1035LabelRe = new RegExp(`^${dns1035LabelFmt}$`)

/** Byte length, as Go's len() of a string. */
export function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8")
}

/** IsDNS1123Label. */
export function isDNS1123Label(value: string): string[] {
  const errs: string[] = []
  if (byteLength(value) > 63) errs.push(maxLenError(63))
  if (!dns1123LabelRe.test(value)) errs.push(regexError(dns1123LabelErrMsg, dns1123LabelFmt, "my-name", "123-abc"))
  return errs
}

/** IsDNS1123Subdomain. */
export function isDNS1123Subdomain(value: string): string[] {
  const errs: string[] = []
  if (byteLength(value) > 253) errs.push(maxLenError(253))
  if (!dns1123SubdomainRe.test(value)) errs.push(regexError(dns1123SubdomainErrMsg, dns1123SubdomainFmt, "example.com"))
  return errs
}

/** IsDNS1035Label (Service names). */
export function isDNS1035Label(value: string): string[] {
  const errs: string[] = []
  if (byteLength(value) > 63) errs.push(maxLenError(63))
  if (!dns1035LabelRe.test(value)) errs.push(regexError(dns1035LabelErrMsg, dns1035LabelFmt, "my-name", "abc-123"))
  return errs
}

/** IsQualifiedName: `[prefix/]name`, prefix a DNS-1123 subdomain, name at most 63 characters. */
export function isQualifiedName(value: string): string[] {
  const errs: string[] = []
  const parts = value.split("/")
  let name: string
  if (parts.length === 1) {
    name = parts[0]!
  } else if (parts.length === 2) {
    const prefix = parts[0]!
    name = parts[1]!
    if (prefix.length === 0) errs.push("prefix part " + emptyError())
    else for (const m of isDNS1123Subdomain(prefix)) errs.push("prefix part " + m)
  } else {
    return [
      "a qualified name " +
        regexError(qualifiedNameErrMsg, qualifiedNameFmt, "MyName", "my.name", "123-abc") +
        " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ]
  }
  if (name.length === 0) errs.push("name part " + emptyError())
  else if (byteLength(name) > 63) errs.push("name part " + maxLenError(63))
  if (!qualifiedNameRe.test(name)) errs.push("name part " + regexError(qualifiedNameErrMsg, qualifiedNameFmt, "MyName", "my.name", "123-abc"))
  return errs
}

/** IsValidLabelValue. */
export function isValidLabelValue(value: string): string[] {
  const errs: string[] = []
  if (byteLength(value) > 63) errs.push(maxLenError(63))
  if (!labelValueRe.test(value)) errs.push(regexError(labelValueErrMsg, labelValueFmt, "MyValue", "my_value", "12345"))
  return errs
}

/** Go's %q for a string (close enough: JSON escaping). */
export function goQuote(s: string): string {
  return JSON.stringify(s)
}

// ---------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------

type Tok =
  | "error"
  | "eos"
  | ")"
  | ","
  | "!"
  | "=="
  | "="
  | ">"
  | "id"
  | "in"
  | "<"
  | "!="
  | "notin"
  | "("

const string2token: Record<string, Tok> = {
  ")": ")",
  ",": ",",
  "!": "!",
  "==": "==",
  "=": "=",
  ">": ">",
  in: "in",
  "<": "<",
  "!=": "!=",
  notin: "notin",
  "(": "(",
}

const isWhitespace = (c: string) => c === " " || c === "\t" || c === "\r" || c === "\n"
const isSpecial = (c: string) => c === "=" || c === "!" || c === "(" || c === ")" || c === "," || c === ">" || c === "<"

function lex(s: string): { tok: Tok; lit: string }[] {
  const out: { tok: Tok; lit: string }[] = []
  let pos = 0
  for (;;) {
    while (pos < s.length && isWhitespace(s[pos]!)) pos++
    if (pos >= s.length) {
      out.push({ tok: "eos", lit: "" })
      return out
    }
    if (isSpecial(s[pos]!)) {
      let buf = ""
      let last: { tok: Tok; lit: string } | undefined
      while (pos < s.length && isSpecial(s[pos]!)) {
        buf += s[pos]
        const t = string2token[buf]
        if (t) {
          last = { tok: t, lit: buf }
          pos++
        } else if (last) {
          break
        } else {
          pos++
        }
      }
      out.push(last ?? { tok: "error", lit: `error expected: keyword found '${buf}'` })
    } else {
      let buf = ""
      while (pos < s.length && !isSpecial(s[pos]!) && !isWhitespace(s[pos]!)) buf += s[pos++]
      const t = string2token[buf]
      out.push(t ? { tok: t, lit: buf } : { tok: "id", lit: buf })
    }
  }
}

const binaryOperators = "in, notin, =, ==, !=, gt, lt"

function fieldInvalid(path: string, value: string, detail: string): string {
  return `${path}: Invalid value: ${goQuote(value)}: ${detail}`
}

function validateKey(key: string): string | undefined {
  const errs = isQualifiedName(key)
  return errs.length ? fieldInvalid("<nil>", key, errs.join("; ")) : undefined
}

/** NewRequirement's checks: key, value count, each value (an aggregate of field errors). */
function newRequirement(key: string, operator: Requirement["operator"], values: string[]): Requirement {
  const errs: string[] = []
  const k = validateKey(key)
  if (k) errs.push(k)
  const goList = (v: string[]) => `[]string{${v.map(goQuote).join(", ")}}`
  if ((operator === "in" || operator === "notin") && values.length === 0) {
    errs.push(`values: Invalid value: ${goList(values)}: for 'in', 'notin' operators, values set can't be empty`)
  }
  if ((operator === "=" || operator === "!=") && values.length !== 1) {
    errs.push(`values: Invalid value: ${goList(values)}: exact-match compatibility requires one single value`)
  }
  if ((operator === "exists" || operator === "!") && values.length !== 0) {
    errs.push(`values: Invalid value: ${goList(values)}: values set must be empty for exists and does not exist`)
  }
  values.forEach((v, i) => {
    const ve = isValidLabelValue(v)
    if (ve.length) errs.push(fieldInvalid(`values[${i}][${key}]`, v, ve.join("; ")))
  })
  if (errs.length === 1) throw new SelectorError(errs[0]!)
  if (errs.length > 1) throw new SelectorError(`[${errs.join(", ")}]`)
  return { key, operator, values } as Requirement
}

const sortedUnique = (v: Iterable<string>) => [...new Set(v)].sort()

/** Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h` (also `==`). Throws SelectorError (→ 400 BadRequest). */
export function parseLabelSelector(text: string): LabelSelector {
  const items = lex(text)
  let p = 0
  // In "values" context the keywords in/notin are plain identifiers.
  const look = (values = true) => {
    const it = items[p]!
    return values && (it.tok === "in" || it.tok === "notin") ? { tok: "id" as Tok, lit: it.lit } : it
  }
  const consume = (values = true) => {
    const it = look(values)
    p++
    return it
  }

  const parseRequirement = (): Requirement => {
    // parseKeyAndInferOperator
    let op: Requirement["operator"] | undefined
    let { tok, lit } = consume()
    if (tok === "!") {
      op = "!"
      ;({ tok, lit } = consume())
    }
    if (tok !== "id") throw new SelectorError(`found '${lit}', expected: identifier`)
    const keyErr = validateKey(lit)
    if (keyErr) throw new SelectorError(keyErr)
    const key = lit
    const next = look().tok
    // `!key` is complete as it stands; what follows must be `,` or the end.
    if (op === "!") return newRequirement(key, "!", [])
    if (next === "eos" || next === ",") return newRequirement(key, "exists", [])
    // parseOperator
    const o = consume(false)
    let operator: "in" | "notin" | "=" | "!="
    switch (o.tok) {
      case "in":
        operator = "in"
        break
      case "notin":
        operator = "notin"
        break
      case "=":
      case "==":
        operator = "="
        break
      case "!=":
        operator = "!="
        break
      case ">":
      case "<":
        throw new SelectorError(`found '${o.lit}', expected: ${binaryOperators} (the emulator does not support gt/lt)`)
      default:
        throw new SelectorError(`found '${o.lit}', expected: ${binaryOperators}`)
    }
    let values: string[]
    if (operator === "in" || operator === "notin") {
      // parseValues
      const open = consume()
      if (open.tok !== "(") throw new SelectorError(`found '${open.lit}' expected: '('`)
      const first = look()
      if (first.tok === "id" || first.tok === ",") {
        const set = new Set<string>()
        for (;;) {
          const t = consume()
          if (t.tok === "id") {
            set.add(t.lit)
            const t2 = look()
            if (t2.tok === ",") continue
            if (t2.tok === ")") break
            throw new SelectorError(`found '${t2.lit}', expected: ',' or ')'`)
          } else if (t.tok === ",") {
            if (set.size === 0) set.add("")
            const t2 = look()
            if (t2.tok === ")") {
              set.add("")
              break
            }
            if (t2.tok === ",") {
              consume()
              set.add("")
            }
          } else {
            throw new SelectorError(`found '${t.lit}', expected: ',', or identifier`)
          }
        }
        const close = consume()
        if (close.tok !== ")") throw new SelectorError(`found '${first.lit}', expected: ')'`)
        values = sortedUnique(set)
      } else if (first.tok === ")") {
        consume()
        values = [""]
      } else {
        throw new SelectorError(`found '${first.lit}', expected: ',', ')' or identifier`)
      }
    } else {
      // parseExactValue
      const t = look()
      if (t.tok === "eos" || t.tok === ",") values = [""]
      else {
        const v = consume()
        if (v.tok !== "id") throw new SelectorError(`found '${v.lit}', expected: identifier`)
        values = [v.lit]
      }
    }
    return newRequirement(key, operator, values)
  }

  const reqs: Requirement[] = []
  for (;;) {
    const { tok, lit } = look()
    if (tok === "id" || tok === "!") {
      let r: Requirement
      try {
        r = parseRequirement()
      } catch (e) {
        if (e instanceof SelectorError) throw new SelectorError(`unable to parse requirement: ${e.message}`)
        throw e
      }
      reqs.push(r)
      const t = consume()
      if (t.tok === "eos") break
      if (t.tok === ",") {
        const t2 = look()
        if (t2.tok !== "id" && t2.tok !== "!") throw new SelectorError(`found '${t2.lit}', expected: identifier after ','`)
        continue
      }
      throw new SelectorError(`found '${t.lit}', expected: ',' or 'end of string'`)
    } else if (tok === "eos") {
      break
    } else {
      throw new SelectorError(`found '${lit}', expected: !, identifier, or 'end of string'`)
    }
  }
  return sortByKey(reqs)
}

function sortByKey(reqs: Requirement[]): Requirement[] {
  return reqs
    .map((r, i) => [r, i] as const)
    .sort((a, b) => (a[0].key < b[0].key ? -1 : a[0].key > b[0].key ? 1 : a[1] - b[1]))
    .map(([r]) => r)
}

export function matchLabels(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const ls = labels ?? {}
  const has = (k: string) => Object.prototype.hasOwnProperty.call(ls, k)
  for (const r of selector) {
    switch (r.operator) {
      case "=":
      case "in":
        if (!has(r.key) || !r.values.includes(ls[r.key]!)) return false
        break
      case "!=":
      case "notin":
        if (has(r.key) && r.values.includes(ls[r.key]!)) return false
        break
      case "exists":
        if (!has(r.key)) return false
        break
      case "!":
        if (has(r.key)) return false
        break
    }
  }
  return true
}

/** A metav1.LabelSelector ({matchLabels, matchExpressions}) as requirements. */
export function fromLabelSelectorObject(selector: {
  matchLabels?: Record<string, string>
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[]
}): LabelSelector {
  const reqs: Requirement[] = []
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) reqs.push(newRequirement(k, "=", [String(v)]))
  for (const e of selector.matchExpressions ?? []) {
    const op = ({ In: "in", NotIn: "notin", Exists: "exists", DoesNotExist: "!" } as const)[e.operator]
    if (!op) throw new SelectorError(`${goQuote(String(e.operator))} is not a valid label selector operator`)
    reqs.push(newRequirement(e.key, op, [...(e.values ?? [])]))
  }
  return sortByKey(reqs)
}

/** The canonical string form (what Scale.status.selector carries). */
export function formatLabelSelector(selector: LabelSelector): string {
  return selector
    .map((r) => {
      switch (r.operator) {
        case "exists":
          return r.key
        case "!":
          return "!" + r.key
        case "=":
          return `${r.key}=${r.values[0]}`
        case "!=":
          return `${r.key}!=${r.values[0]}`
        case "in":
        case "notin":
          return `${r.key} ${r.operator} (${[...r.values].sort().join(",")})`
      }
    })
    .join(",")
}

// ---------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------

export type FieldRequirement = { readonly field: string; readonly operator: "=" | "!="; readonly value: string }
export type FieldSelector = readonly FieldRequirement[]

function splitTerms(s: string): string[] {
  if (s.length === 0) return []
  const terms: string[] = []
  let start = 0
  let inSlash = false
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (inSlash) inSlash = false
    else if (c === "\\") inSlash = true
    else if (c === ",") {
      terms.push(s.slice(start, i))
      start = i + 1
    }
  }
  terms.push(s.slice(start))
  return terms
}

function splitTerm(term: string): [string, "!=" | "==" | "=", string] | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of ["!=", "==", "="] as const) {
      if (term.startsWith(op, i)) return [term.slice(0, i), op, term.slice(i + op.length)]
    }
  }
  return undefined
}

function unescapeValue(s: string): string {
  if (!/[\\,=]/.test(s)) return s
  let out = ""
  let inSlash = false
  for (const c of s) {
    if (inSlash) {
      if (c === "\\" || c === "," || c === "=") out += c
      else throw new SelectorError(`invalid field selector: invalid escape sequence: \\${c}`)
      inSlash = false
      continue
    }
    if (c === "\\") inSlash = true
    else if (c === "," || c === "=") throw new SelectorError(`invalid field selector: unescaped character in value: ${c.codePointAt(0)}`)
    else out += c
  }
  if (inSlash) throw new SelectorError("invalid field selector: invalid escape sequence: \\")
  return out
}

/** Parses `metadata.name=x,metadata.namespace!=y`; a field outside `allowed` throws SelectorError (the real 400 message). */
export function parseFieldSelector(text: string, allowed: readonly string[]): FieldSelector {
  const parts = splitTerms(text).sort()
  const out: FieldRequirement[] = []
  for (const part of parts) {
    if (part === "") continue
    const split = splitTerm(part)
    if (!split) throw new SelectorError(`invalid selector: '${text}'; can't understand '${part}'`)
    const [field, op, rhs] = split
    out.push({ field, operator: op === "!=" ? "!=" : "=", value: unescapeValue(rhs) })
  }
  // The field-label conversion runs after parsing (handlers/get.go → ConvertFieldLabel).
  for (const r of out) {
    if (!allowed.includes(r.field)) throw new SelectorError(`field label not supported: ${r.field}`)
  }
  return out
}

function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj
  for (const seg of path.split(".")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return ""
    cur = (cur as Record<string, unknown>)[seg]
  }
  if (cur === undefined || cur === null) return ""
  if (typeof cur === "string") return cur
  if (typeof cur === "number" || typeof cur === "boolean") return String(cur)
  return JSON.stringify(cur)
}

/** Matches against the object's value at each dotted field path (missing → ""). */
export function matchFields(selector: FieldSelector, obj: unknown): boolean {
  for (const r of selector) {
    const v = fieldValue(obj, r.field)
    if (r.operator === "=" ? v !== r.value : v === r.value) return false
  }
  return true
}
