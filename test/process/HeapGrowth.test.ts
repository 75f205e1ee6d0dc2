import { describe, expect, it } from "vitest"
import { ConfigProvider, Effect, Exit } from "effect"
import { applyHeapPolicy, heapGrowthPercent, serviceHeapGrowthPercent } from "../../src/process/HeapGrowth.js"

describe("heapGrowthPercent", () => {
  it("takes the command's default when the user chose nothing", () => {
    expect(heapGrowthPercent([], {}, serviceHeapGrowthPercent)).toBe(serviceHeapGrowthPercent)
    expect(heapGrowthPercent(["--enable-source-maps"], { NODE_OPTIONS: "--max-semi-space-size=64" }, 50)).toBe(50)
    expect(heapGrowthPercent([], {}, undefined)).toBeUndefined()
  })

  it("leaves the heap alone when node was started with a heap policy", () => {
    expect(heapGrowthPercent(["--max-old-space-size=160"], {}, 50)).toBeUndefined()
    expect(heapGrowthPercent([], { NODE_OPTIONS: "--inspect --max-old-space-size=512" }, 50)).toBeUndefined()
    expect(heapGrowthPercent(["--heap-growing-percent=20"], {}, 50)).toBeUndefined()
    expect(heapGrowthPercent(["--optimize-for-size"], {}, 50)).toBeUndefined()
  })

  it("takes EVOLVE_HEAP_GROWTH_PERCENT over everything, 0 meaning V8's own policy", () => {
    expect(heapGrowthPercent(["--max-old-space-size=160"], { EVOLVE_HEAP_GROWTH_PERCENT: "25" }, 50)).toBe(25)
    expect(heapGrowthPercent([], { EVOLVE_HEAP_GROWTH_PERCENT: "25" }, undefined)).toBe(25)
    expect(heapGrowthPercent([], { EVOLVE_HEAP_GROWTH_PERCENT: "0" }, 50)).toBeUndefined()
    expect(heapGrowthPercent([], { EVOLVE_HEAP_GROWTH_PERCENT: " " }, 50)).toBe(50)
  })

  it("rejects a setting that is not an integer from 0 to 400", () => {
    for (const bad of ["lots", "-5", "12.5", "401"]) {
      expect(() => heapGrowthPercent([], { EVOLVE_HEAP_GROWTH_PERCENT: bad }, 50)).toThrow(
        `EVOLVE_HEAP_GROWTH_PERCENT: expected an integer from 0 to 400, got "${bad}"`
      )
    }
  })

  it("reads EVOLVE_HEAP_GROWTH_PERCENT through Effect's Config", async () => {
    const withEnv = (value: string) =>
      applyHeapPolicy(50).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["EVOLVE_HEAP_GROWTH_PERCENT", value]]))))
    const bad = await Effect.runPromiseExit(withEnv("lots"))
    expect(bad).toEqual(Exit.fail(expect.objectContaining({
      _tag: "ConfigError",
      message: "EVOLVE_HEAP_GROWTH_PERCENT: expected an integer from 0 to 400, got \"lots\""
    })))
    expect(Exit.isSuccess(await Effect.runPromiseExit(withEnv("0")))).toBe(true)
  })
})
