import { describe, expect, it } from "vitest"
import { defaultHeapGrowthPercent, heapGrowthPercent } from "../../src/cli/HeapGrowth.js"

describe("heapGrowthPercent", () => {
  it("limits heap growth by default", () => {
    expect(heapGrowthPercent([], {})).toBe(defaultHeapGrowthPercent)
    expect(heapGrowthPercent(["--enable-source-maps"], { NODE_OPTIONS: "--max-semi-space-size=64" })).toBe(defaultHeapGrowthPercent)
  })

  it("leaves the heap alone when node was started with a heap policy", () => {
    expect(heapGrowthPercent(["--max-old-space-size=160"], {})).toBeUndefined()
    expect(heapGrowthPercent([], { NODE_OPTIONS: "--inspect --max-old-space-size=512" })).toBeUndefined()
    expect(heapGrowthPercent(["--heap-growing-percent=20"], {})).toBeUndefined()
    expect(heapGrowthPercent(["--optimize-for-size"], {})).toBeUndefined()
  })

  it("takes EVOLVE_HEAP_GROWTH_PERCENT over everything, 0 meaning V8's own policy", () => {
    expect(heapGrowthPercent(["--max-old-space-size=160"], { EVOLVE_HEAP_GROWTH_PERCENT: "25" })).toBe(25)
    expect(heapGrowthPercent([], { EVOLVE_HEAP_GROWTH_PERCENT: "0" })).toBeUndefined()
    expect(heapGrowthPercent([], { EVOLVE_HEAP_GROWTH_PERCENT: " " })).toBe(defaultHeapGrowthPercent)
  })

  it("rejects a setting that is not an integer from 0 to 400", () => {
    for (const bad of ["lots", "-5", "12.5", "401"]) {
      expect(() => heapGrowthPercent([], { EVOLVE_HEAP_GROWTH_PERCENT: bad })).toThrow(
        `EVOLVE_HEAP_GROWTH_PERCENT: expected an integer from 0 to 400, got "${bad}"`
      )
    }
  })
})
