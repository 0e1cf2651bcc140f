/**
 * Kubernetes resource quantities ("500m", "2Gi", "1.5") in the canonical
 * form the API server stores them in.
 *
 * The API server decodes a container's requests and limits, rounds each up
 * to milli precision and writes it back canonicalised: "0.5" becomes
 * "500m", "1024Mi" becomes "1Gi", "1.5Gi" becomes "1536Mi". An operator that
 * compared the text it sent with the text it reads back would patch the
 * Deployment on every reconcile; so settings are canonicalised once, when
 * they are read, exactly as k8s.io/apimachinery's Quantity does
 * (CanonicalizeBytes after ParseQuantity and RoundUp(-3)).
 */

type Format = "BinarySI" | "DecimalSI" | "DecimalExponent"

const QUANTITY = /^([+-]?)(\d+\.?\d*|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$/

const BINARY: Readonly<Record<string, number>> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 }
const DECIMAL: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 }
const DECIMAL_SUFFIX: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(DECIMAL).map(([suffix, exponent]) => [exponent, suffix]),
)
const BINARY_SUFFIX = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"] as const

/** The largest value the API server's int64 quantities hold without switching to arbitrary precision. */
const MAX_MILLI = 2n ** 63n - 1n

const pow = (base: bigint, exponent: number): bigint => base ** BigInt(exponent)

interface Parsed {
  /** The value in thousandths, rounded up (the API server's RoundUp(-3)). */
  readonly milli: bigint
  readonly format: Format
}

const parse = (raw: string): Parsed | undefined => {
  const m = QUANTITY.exec(raw)
  if (m === null) return undefined
  const [, sign, number, suffix = ""] = m
  const [whole = "", fraction = ""] = number!.split(".")
  const digits = BigInt((whole + fraction) || "0")
  let format: Format
  // value = digits × 10^-fraction.length × multiplier, kept as numerator / denominator
  let numerator = digits
  let denominator = pow(10n, fraction.length)
  if (suffix in BINARY) {
    format = "BinarySI"
    numerator *= pow(1024n, BINARY[suffix]!)
  } else if (suffix in DECIMAL) {
    format = "DecimalSI"
    const e = DECIMAL[suffix]!
    if (e >= 0) numerator *= pow(10n, e)
    else denominator *= pow(10n, -e)
  } else {
    format = "DecimalExponent"
    const e = Number(suffix.slice(1))
    if (!Number.isSafeInteger(e) || Math.abs(e) > 30) return undefined
    if (e >= 0) numerator *= pow(10n, e)
    else denominator *= pow(10n, -e)
  }
  if (digits === 0n) return { milli: 0n, format }
  if (sign === "-") return undefined
  const milli = (numerator * 1000n + denominator - 1n) / denominator
  return milli > MAX_MILLI ? undefined : { milli, format }
}

/** A non-negative quantity's value in thousandths (rounded up), or undefined when `raw` is not one. */
export const quantityMilli = (raw: string): bigint | undefined => parse(raw)?.milli

/**
 * The canonical text of a non-negative quantity, or undefined when `raw` is
 * not a quantity (or is negative, or too large to be a sensible resource).
 */
export const canonicalQuantity = (raw: string): string | undefined => {
  const parsed = parse(raw)
  if (parsed === undefined) return undefined
  const { milli } = parsed
  let format = parsed.format
  if (milli === 0n) return "0"

  if (format === "BinarySI") {
    if (milli < 1024n * 1000n || milli % 1000n !== 0n) {
      format = "DecimalSI"
    } else {
      let amount = milli / 1000n
      let exponent = 0
      while (amount >= 1024n && amount % 1024n === 0n) {
        amount /= 1024n
        exponent++
      }
      return `${amount}${BINARY_SUFFIX[exponent]}`
    }
  }
  let amount = milli
  let exponent = -3
  while (amount >= 10n && amount % 10n === 0n) {
    amount /= 10n
    exponent++
  }
  const rest = ((exponent % 3) + 3) % 3
  amount *= pow(10n, rest)
  exponent -= rest
  if (format === "DecimalExponent") {
    const text = exponent === 0 ? `${amount}` : `${amount}e${exponent}`
    // Text already in canonical form is kept as written, upper-case exponent included.
    return text === raw.replace("E", "e") ? raw : text
  }
  const decimalSuffix = DECIMAL_SUFFIX[exponent]
  return decimalSuffix === undefined ? `${amount}e${exponent}` : `${amount}${decimalSuffix}`
}
