import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { PatchError } from "../../src/domain/Errors.js"
import { applyResponse, codeHash, definesSymbol, evolveBlocks, lineDiff, missingSymbols } from "../../src/propose/Edits.js"

const diff = { format: "diff", maxCodeBytes: 1 << 20 } as const
const full = { format: "full", maxCodeBytes: 1 << 20 } as const

const sr = (search: string, replace: string) => `<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE`

const ok = (r: Either.Either<{ code: string; patch: string }, PatchError>) => {
  if (Either.isLeft(r)) throw new Error(`expected success, got ${r.left.reason}: ${r.left.message}`)
  return r.right
}
const err = (r: Either.Either<{ code: string; patch: string }, PatchError>) => {
  if (Either.isRight(r)) throw new Error(`expected a PatchError, got code:\n${r.right.code}`)
  return r.left
}

const js = `function f(x) {
  const a = 1.5
  const b = 2
  return a * x + b
}
`

describe("SEARCH/REPLACE", () => {
  it("applies an exact match, ignoring prose and fences around the blocks", () => {
    const response = `I will tune a.\n\n\`\`\`javascript\n${sr("  const a = 1.5", "  const a = 0.75")}\n\`\`\`\nDone.`
    const r = ok(applyResponse(js, response, diff))
    expect(r.code).toBe(js.replace("1.5", "0.75"))
    expect(r.patch).toContain("<<<<<<< SEARCH\n  const a = 1.5\n=======\n  const a = 0.75\n>>>>>>> REPLACE")
  })

  it("applies several blocks in order", () => {
    const response = `${sr("  const a = 1.5", "  const a = 3")}\n\nand\n\n${sr("  const b = 2", "  const b = 4")}`
    const r = ok(applyResponse(js, response, diff))
    expect(r.code).toContain("const a = 3\n  const b = 4")
    expect(r.patch.match(/<<<<<<< SEARCH/g)).toHaveLength(2)
  })

  it("a later block sees the result of an earlier one", () => {
    const response = `${sr("  const a = 1.5", "  const a = 3")}\n${sr("  const a = 3", "  const a = 5")}`
    expect(ok(applyResponse(js, response, diff)).code).toContain("const a = 5")
  })

  it("tolerates a uniform indentation difference and re-indents the replacement", () => {
    const response = sr("const a = 1.5\nconst b = 2", "const a = 1.25\nif (x > 0) {\n  x = -x\n}\nconst b = 2")
    const r = ok(applyResponse(js, response, diff))
    expect(r.code).toBe(`function f(x) {
  const a = 1.25
  if (x > 0) {
    x = -x
  }
  const b = 2
  return a * x + b
}
`)
  })

  it("tolerates a search that is more indented than the code", () => {
    const response = sr("      const a = 1.5\n      const b = 2", "      const a = 9\n      const b = 2")
    expect(ok(applyResponse(js, response, diff)).code).toContain("\n  const a = 9\n  const b = 2\n")
  })

  it("tolerates trailing whitespace on either side", () => {
    const parent = "x = 1   \ny = 2\n"
    const r = ok(applyResponse(parent, sr("x = 1\ny = 2  ", "x = 10\ny = 2"), diff))
    expect(r.code).toBe("x = 10\ny = 2\n")
  })

  it("tolerates blank lines around the SEARCH text", () => {
    const r = ok(applyResponse(js, sr("\n  const b = 2\n", "\n  const b = 3\n"), diff))
    expect(r.code).toContain("  const a = 1.5\n  const b = 3\n  return")
  })

  it("matches a fragment of a line exactly", () => {
    expect(ok(applyResponse(js, sr("a * x", "a * x * x"), diff)).code).toContain("return a * x * x + b")
  })

  it("applies an ambiguous SEARCH to the first match", () => {
    const parent = "v = 1\nv = 1\n"
    expect(ok(applyResponse(parent, sr("v = 1", "v = 2"), diff)).code).toBe("v = 2\nv = 1\n")
  })

  it("deletes lines with an empty REPLACE section", () => {
    const response = "<<<<<<< SEARCH\n  const b = 2\n=======\n>>>>>>> REPLACE"
    expect(ok(applyResponse(js, response, diff)).code).not.toContain("const b")
  })

  it("reports no_match quoting the first line of the SEARCH text", () => {
    const e = err(applyResponse(js, sr("  const c = 7\n  const d = 8", "x"), diff))
    expect(e.reason).toBe("no_match")
    expect(e.message).toContain("\"const c = 7\"")
  })

  it("names the block that failed among several", () => {
    const e = err(applyResponse(js, `${sr("  const a = 1.5", "  const a = 2")}\n${sr("nope", "x")}`, diff))
    expect(e.reason).toBe("no_match")
    expect(e.message).toContain("SEARCH block 2 of 2")
  })

  it("reports no_edits when the answer has neither blocks nor code", () => {
    expect(err(applyResponse(js, "I think the program is fine.", diff)).reason).toBe("no_edits")
  })

  it("refuses a truncated block", () => {
    const e = err(applyResponse(js, `${sr("  const a = 1.5", "  const a = 2")}\n<<<<<<< SEARCH\n  const b = 2\n===`, diff))
    expect(e.reason).toBe("no_edits")
    expect(e.message).toContain("not terminated")
  })

  it("tolerates CRLF in the response and keeps a CRLF parent in CRLF", () => {
    const parent = js.replace(/\n/g, "\r\n")
    const response = sr("  const a = 1.5", "  const a = 4").replace(/\n/g, "\r\n")
    const r = ok(applyResponse(parent, response, diff))
    expect(r.code).toBe(parent.replace("1.5", "4"))
    const r2 = ok(applyResponse(js, response, diff))
    expect(r2.code).toBe(js.replace("1.5", "4"))
  })
})

const py = `import math

def helper(x):
    return x * 2

def solve(n):
    # EVOLVE-BLOCK-START
    step = 0.5
    total = helper(n) * step
    # EVOLVE-BLOCK-END
    return total
`

const jsBlocks = `const SCALE = 3
// EVOLVE-BLOCK-START
export function g(x) {
  return x * SCALE + 1
}
// EVOLVE-BLOCK-END
export const version = 1
`

describe("EVOLVE-BLOCK regions", () => {
  it("finds regions with #, //, -- and /* */ markers", () => {
    expect(evolveBlocks(py)).toEqual([{ startLine: 6, endLine: 9 }])
    expect(evolveBlocks(jsBlocks)).toEqual([{ startLine: 1, endLine: 5 }])
    expect(evolveBlocks("-- EVOLVE-BLOCK-START\nselect 1;\n-- EVOLVE-BLOCK-END\n")).toHaveLength(1)
    expect(evolveBlocks("/* EVOLVE-BLOCK-START */\nint x;\n/* EVOLVE-BLOCK-END */\n")).toHaveLength(1)
    expect(evolveBlocks("x = 1\n")).toEqual([])
  })

  it("allows edits inside a region", () => {
    expect(ok(applyResponse(py, sr("    step = 0.5", "    step = 0.25"), diff)).code).toContain("step = 0.25")
  })

  it("refuses a SEARCH outside every region (# markers)", () => {
    const e = err(applyResponse(py, sr("    return x * 2", "    return x * 3"), diff))
    expect(e.reason).toBe("outside_evolve_block")
    expect(e.message).toContain("outside the EVOLVE-BLOCK")
  })

  it("refuses a SEARCH outside every region (// markers)", () => {
    const e = err(applyResponse(jsBlocks, sr("export const version = 1", "export const version = 2"), diff))
    expect(e.reason).toBe("outside_evolve_block")
  })

  it("refuses a SEARCH straddling a region boundary", () => {
    const e = err(applyResponse(py, sr("    # EVOLVE-BLOCK-END\n    return total", "    return total"), diff))
    expect(e.reason).toBe("outside_evolve_block")
  })

  it("accepts a marker line as an anchor but not its removal", () => {
    const anchored = sr("    # EVOLVE-BLOCK-START\n    step = 0.5", "    # EVOLVE-BLOCK-START\n    step = 0.1")
    expect(ok(applyResponse(py, anchored, diff)).code).toContain("step = 0.1")
    const removed = sr("    # EVOLVE-BLOCK-START\n    step = 0.5", "    step = 0.1")
    expect(err(applyResponse(py, removed, diff)).reason).toBe("outside_evolve_block")
  })

  it("prefers a match inside a region when the text also occurs outside", () => {
    const parent = "k = 1\n# EVOLVE-BLOCK-START\nk = 1\n# EVOLVE-BLOCK-END\n"
    expect(ok(applyResponse(parent, sr("k = 1", "k = 2"), diff)).code).toBe(
      "k = 1\n# EVOLVE-BLOCK-START\nk = 2\n# EVOLVE-BLOCK-END\n"
    )
  })
})

describe("full rewrites", () => {
  it("takes the last fenced block in full format", () => {
    const response = "Old:\n```js\nconst a = 1\n```\nNew:\n```js\nconst a = 2\n```\n"
    const r = ok(applyResponse("const a = 0\n", response, full))
    expect(r.code).toBe("const a = 2\n")
    expect(r.patch).toMatch(/^full rewrite\n@@ -1,\d \+1,\d @@\n-const a = 0\n\+const a = 2/)
  })

  it("accepts a fenced program in diff format when no SEARCH/REPLACE block is present", () => {
    expect(ok(applyResponse("x = 1\n", "```python\nx = 2\n```", diff)).code).toBe("x = 2\n")
  })

  it("accepts SEARCH/REPLACE blocks in full format", () => {
    expect(ok(applyResponse(js, sr("  const b = 2", "  const b = 5"), full)).code).toContain("const b = 5")
  })

  it("keeps the outside of the regions byte-identical", () => {
    const rewritten = py.replace("step = 0.5", "step = 0.3").replace("import math", "import math  ")
    const r = ok(applyResponse(py, `\`\`\`python\n${rewritten}\`\`\``, full))
    expect(r.code).toBe(py.replace("step = 0.5", "step = 0.3"))
  })

  it("refuses a rewrite that changes code outside the regions", () => {
    const rewritten = py.replace("return x * 2", "return x * 4").replace("step = 0.5", "step = 0.3")
    const e = err(applyResponse(py, `\`\`\`python\n${rewritten}\`\`\``, full))
    expect(e.reason).toBe("outside_evolve_block")
    expect(e.message).toContain("return x * 2")
  })

  it("splices a block-only rewrite into the single region, re-indented", () => {
    const response = "```python\nstep = 0.125\ntotal = helper(n) * step * 2\n```"
    const r = ok(applyResponse(py, response, full))
    expect(r.code).toBe(
      py.replace("    step = 0.5\n    total = helper(n) * step\n", "    step = 0.125\n    total = helper(n) * step * 2\n")
    )
  })

  it("accepts a whole program whose marker lines were dropped", () => {
    const rewritten = py.replace("step = 0.5", "step = 0.2").split("\n").filter((l) => !l.includes("EVOLVE-BLOCK")).join("\n")
    expect(ok(applyResponse(py, `\`\`\`python\n${rewritten}\`\`\``, full)).code).toBe(py.replace("step = 0.5", "step = 0.2"))
  })

  it("refuses a block-only rewrite when there are several regions", () => {
    const two = `${py}\n# EVOLVE-BLOCK-START\nz = 1\n# EVOLVE-BLOCK-END\n`
    expect(err(applyResponse(two, "```python\nstep = 1\n```", full)).reason).toBe("outside_evolve_block")
  })

  it("refuses an unterminated code block", () => {
    const e = err(applyResponse("x = 1\n", "```python\nx = 2\n", full))
    expect(e.reason).toBe("no_edits")
  })
})

describe("limits and identity", () => {
  it("reports too_large over maxCodeBytes", () => {
    const e = err(applyResponse(js, sr("  const b = 2", `  const b = "${"x".repeat(200)}"`), { format: "diff", maxCodeBytes: 150 }))
    expect(e.reason).toBe("too_large")
    expect(e.message).toContain("150")
  })

  it("reports unchanged when the edit is a no-op (up to trailing whitespace)", () => {
    expect(err(applyResponse(js, sr("  const b = 2", "  const b = 2   "), diff)).reason).toBe("unchanged")
    expect(err(applyResponse(js, `\`\`\`js\n${js}\`\`\``, full)).reason).toBe("unchanged")
  })

  it("codeHash ignores trailing whitespace, trailing blank lines and CRLF", () => {
    expect(codeHash("a = 1  \nb = 2\n\n\n")).toBe(codeHash("a = 1\r\nb = 2"))
    expect(codeHash("a = 1\n")).not.toBe(codeHash("a = 2\n"))
    expect(codeHash("x")).toMatch(/^[0-9a-f]{64}$/)
  })

  it("lineDiff shows hunks with context", () => {
    const before = Array.from({ length: 20 }, (_, i) => `line ${i}`).join("\n")
    const after = before.replace("line 3", "line three").replace("line 15", "line fifteen")
    const d = lineDiff(before, after)
    expect(d.match(/^@@/gm)).toHaveLength(2)
    expect(d).toContain("-line 3\n+line three")
    expect(d).toContain("@@ -2,5 +2,5 @@")
  })
})

describe("edge cases (search issue)", () => {
  it("refuses the whole answer when one of several blocks lies outside the regions, naming it", () => {
    const response = `${sr("    step = 0.5", "    step = 0.25")}\n${sr("    return x * 2", "    return x * 3")}`
    const e = err(applyResponse(py, response, diff))
    expect(e.reason).toBe("outside_evolve_block")
    expect(e.message).toMatch(/^SEARCH block 2 of 2/)
  })

  it("matches tab-indented code from a space-indented SEARCH only with a uniform difference", () => {
    const tabs = "function f() {\n\tconst a = 1\n\tif (a) {\n\t\treturn a\n\t}\n}\n"
    const r = ok(applyResponse(tabs, sr("const a = 1\nif (a) {", "const a = 2\nif (a) {"), diff))
    expect(r.code).toBe(tabs.replace("const a = 1", "const a = 2"))
    expect(err(applyResponse(tabs, sr("    return a", "    return 0"), diff)).reason).toBe("no_match")
  })

  it("reports a block that matches nothing even when an earlier one applied", () => {
    const response = `${sr("    step = 0.5", "    step = 0.25")}\n${sr("    step = 0.5", "    step = 0.125")}`
    const e = err(applyResponse(py, response, diff))
    expect(e.reason).toBe("no_match")
    expect(e.message).toMatch(/^SEARCH block 2 of 2 does not match/)
  })
})

describe("required symbols", () => {
  it("recognises definitions across languages", () => {
    expect(definesSymbol("def search(f):\n    pass\n", "search")).toBe(true)
    expect(definesSymbol("async def search(f): ...\n", "search")).toBe(true)
    expect(definesSymbol("export function search(f, b) {}\n", "search")).toBe(true)
    expect(definesSymbol("export const search = (f) => f\n", "search")).toBe(true)
    expect(definesSymbol("class Solver:\n  pass\n", "Solver")).toBe(true)
    expect(definesSymbol("STEP: float = 0.5\n", "STEP")).toBe(true)
    expect(definesSymbol("double search(double x) {\n  return x;\n}\n", "search")).toBe(true)
    expect(definesSymbol("fn search(x: f64) -> f64 { x }\n", "search")).toBe(true)
    expect(definesSymbol("func search(x int) int { return x }\n", "search")).toBe(true)
    expect(definesSymbol("export { search, other }\n", "search")).toBe(true)
    expect(definesSymbol("x := search(1)\n", "search")).toBe(false) // a call, not a definition
    expect(definesSymbol("if search == 1:\n  pass\n", "search")).toBe(false)
    expect(definesSymbol("# def search(f): removed\n", "search")).toBe(false)
    expect(definesSymbol("def search_fast(f): pass\n", "search")).toBe(false)
  })

  it("lists the required names the parent defines and the child lost", () => {
    const parent = "def search(f):\n    return helper(f)\n\ndef helper(f):\n    return f\n"
    const child = "def search(f):\n    return f\n"
    expect(missingSymbols(parent, child, ["search", "helper", "absent"])).toEqual(["helper"])
    expect(missingSymbols(parent, parent, ["search", "helper"])).toEqual([])
  })
})
