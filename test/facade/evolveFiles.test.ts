import { describe, expect, it } from "vitest"
import { evolve } from "../../src/facade/evolve.js"

describe("evolve (Promise facade) with a program of several files", () => {
  const files = {
    "params.js": "// EVOLVE-BLOCK-START\nexport const a = 1.0\n// EVOLVE-BLOCK-END\n",
    "main.js": "import { a } from './params.js'\nexport const f = () => a\n"
  }

  it("evolves the files and hands them to the evaluation function by path", async () => {
    const seen: Array<ReadonlyArray<string>> = []
    const result = await evolve({
      program: { files, language: "javascript" },
      evaluate: async (_code, context) => {
        seen.push(Object.keys(context.files ?? {}).sort())
        const a = Number(/a = (-?[\d.e+-]+)/.exec(context.files?.["params.js"] ?? "")?.[1])
        return Number.isFinite(a) ? { score: -((a - 3) ** 2) } : { error: "a missing" }
      },
      iterations: 25,
      parallel: 2,
      env: {}
    })
    expect(seen.every((paths) => paths.join(",") === "main.js,params.js")).toBe(true)
    expect(result.files?.["main.js"]).toBe(files["main.js"])
    expect(result.score).toBeGreaterThan(-4)
    expect(Object.keys(result.files ?? {}).sort()).toEqual(["main.js", "params.js"])
  })

  it("refuses a path that leaves the tree", async () => {
    await expect(evolve({ program: { files: { "../x.js": "x" } }, evaluate: () => 1, env: {} })).rejects.toThrow(/'\.\.'/)
  })
})
