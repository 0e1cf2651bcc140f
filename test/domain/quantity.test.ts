import { describe, expect, test } from "bun:test"
import { canonicalQuantity } from "../../src/domain/quantity.ts"

// What kube-apiserver stores for a container's request or limit written as the first text:
// k8s.io/apimachinery v0.34.4's Quantity after UnmarshalJSON and RoundUp(-3), then String().
const apiServer: ReadonlyArray<readonly [string, string]> = [
  ["0.5", "500m"],
  ["500m", "500m"],
  ["1000m", "1"],
  ["1", "1"],
  ["1.5", "1500m"],
  ["1024Mi", "1Gi"],
  ["1.5Gi", "1536Mi"],
  ["2000Mi", "2000Mi"],
  ["512Ki", "512Ki"],
  ["1000Ki", "1000Ki"],
  ["100M", "100M"],
  ["1000M", "1G"],
  ["1G", "1G"],
  ["1e3", "1e3"],
  ["1500", "1500"],
  ["0.1", "100m"],
  ["0.0001", "1m"],
  ["1Ki", "1Ki"],
  ["1023", "1023"],
  ["100Mi", "100Mi"],
  ["2Gi", "2Gi"],
  ["0", "0"],
  ["1E3", "1E3"],
  ["1.25e3", "1250"],
  ["12345678", "12345678"],
  ["10", "10"],
  ["2.5k", "2500"],
  ["1u", "1m"],
  ["0.5Gi", "512Mi"],
  ["3Ti", "3Ti"],
  ["250m", "250m"],
  ["1.2345", "1235m"],
]

describe("canonicalQuantity", () => {
  test.each(apiServer)("%p is stored as %p", (written, stored) => {
    expect(canonicalQuantity(written)).toBe(stored)
  })

  test("text that is not a non-negative quantity is refused", () => {
    for (const bad of ["", "lots", "1.5.2", "-1", "1Kb", "Gi", "1 Gi", "0x10", "1e1000"]) {
      expect(canonicalQuantity(bad)).toBeUndefined()
    }
  })
})
