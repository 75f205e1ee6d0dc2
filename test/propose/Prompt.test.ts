import { describe, expect, it } from "vitest"
import { codeBlocks } from "../../src/llm/OfflineModel.js"
import { buildPrompt, type PromptInput } from "../../src/propose/Prompt.js"

const base: PromptInput = {
  goal: "Minimise the function f.",
  language: "python",
  editFormat: "diff",
  parent: {
    code: "def solve():\n    # EVOLVE-BLOCK-START\n    return 1\n    # EVOLVE-BLOCK-END\n",
    metrics: { combined_score: 0.25, mean_value: -1.2 },
    score: 0.25,
    feedback: "warning: slow\n".repeat(400) + "final line of feedback"
  },
  inspirations: [
    { code: "def solve():\n    return 2\n", score: 0.5, metrics: { combined_score: 0.5 } },
    { code: "def solve():\n    return 3\n", score: 0.75, metrics: { combined_score: 0.75 } }
  ],
  recentFailures: [
    ...Array.from({ length: 8 }, (_, i) => ({ kind: "patch", message: `no_match: failure number ${i}` })),
    { kind: "evaluation", message: `Traceback: ${"x".repeat(1000)}` }
  ]
}

const lastBlock = (text: string) => codeBlocks(text).at(-1)!

describe("buildPrompt", () => {
  it("carries goal, metrics, failures, feedback tail and inspirations", () => {
    const { system, user } = buildPrompt(base)
    expect(system).toContain("<<<<<<< SEARCH")
    expect(system).toContain("EVOLVE-BLOCK")
    expect(user).toContain("Minimise the function f.")
    expect(user).toContain("combined_score=0.25")
    expect(user).toContain("mean_value=-1.2")
    expect(user).toContain("failure number 7")
    expect(user).not.toContain("failure number 3") // capped to the last 5
    expect(user).not.toContain("x".repeat(400)) // each failure capped
    expect(user).toContain("final line of feedback")
    expect(user.length).toBeLessThan(6000) // feedback tail capped
    expect(user).toContain("score 0.75")
    expect(user.indexOf("score 0.75")).toBeLessThan(user.indexOf("score 0.5")) // best first
  })

  it("puts the current program last, under '# Current program'", () => {
    const { user } = buildPrompt(base)
    const block = lastBlock(user)
    expect(block.code).toBe(base.parent.code.trimEnd())
    expect(block.info).toBe("python")
    expect(user.lastIndexOf("# Current program")).toBeGreaterThan(user.lastIndexOf("score 0.5"))
  })

  it("keeps the program one block when it contains ``` itself", () => {
    const code = "s = '''\n```\nnot a fence\n```\n'''\nx = 1\n"
    const { user } = buildPrompt({ ...base, parent: { ...base.parent, code } })
    expect(lastBlock(user).code).toBe(code.trimEnd())
  })

  it("handles an unevaluated parent and no history; full format asks for one fenced program", () => {
    const { system, user } = buildPrompt({
      ...base,
      editFormat: "full",
      parent: { code: "x = 1\n", metrics: null, score: null, feedback: null },
      inspirations: [],
      recentFailures: []
    })
    expect(user).toContain("Not evaluated yet")
    expect(user).not.toContain("# Weaknesses")
    expect(system).toContain("single fenced code block")
    expect(system).not.toContain("<<<<<<< SEARCH")
    expect(lastBlock(user).code).toBe("x = 1")
  })
})
