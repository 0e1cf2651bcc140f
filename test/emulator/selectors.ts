/** Label and field selectors, parsed and matched as the apiserver does (pure functions). */

export class SelectorError extends Error {}

export type Requirement =
  | { readonly key: string; readonly operator: "=" | "!="; readonly values: readonly [string] }
  | { readonly key: string; readonly operator: "in" | "notin"; readonly values: readonly string[] }
  | { readonly key: string; readonly operator: "exists" | "!"; readonly values: readonly [] }

export type LabelSelector = readonly Requirement[]

/** Parses `a=b,c!=d,e in (x,y),f notin (z),g,!h` (also `==`). Throws SelectorError (→ 400 BadRequest). */
export function parseLabelSelector(text: string): LabelSelector {
  throw new Error("not implemented")
}

export function matchLabels(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  throw new Error("not implemented")
}

/** A metav1.LabelSelector ({matchLabels, matchExpressions}) as requirements. */
export function fromLabelSelectorObject(selector: {
  matchLabels?: Record<string, string>
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[]
}): LabelSelector {
  throw new Error("not implemented")
}

/** The canonical string form (what Scale.status.selector carries). */
export function formatLabelSelector(selector: LabelSelector): string {
  throw new Error("not implemented")
}

export type FieldRequirement = { readonly field: string; readonly operator: "=" | "!="; readonly value: string }
export type FieldSelector = readonly FieldRequirement[]

/** Parses `metadata.name=x,metadata.namespace!=y`; a field outside `allowed` throws SelectorError (the real 400 message). */
export function parseFieldSelector(text: string, allowed: readonly string[]): FieldSelector {
  throw new Error("not implemented")
}

/** Matches against the object's value at each dotted field path (missing → ""). */
export function matchFields(selector: FieldSelector, obj: unknown): boolean {
  throw new Error("not implemented")
}
