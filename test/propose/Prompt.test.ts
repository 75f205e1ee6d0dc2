import { describe, expect, it } from "vitest"
import * as CodeFences from "../../src/domain/CodeFences.js"
import { buildPrompt, type PromptInput } from "../../src/propose/Prompt.js"

const codeBlocks = (text: string) => CodeFences.parse(text).blocks

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

describe("buildPrompt: search features", () => {
  it("lists lagging metrics: objectives with their direction first, then the largest other gaps", () => {
    const { user } = buildPrompt({
      ...base,
      parent: { ...base.parent, metrics: { combined_score: 0.25, latency: 30, accuracy: 0.5, size: 10, same: 1 } },
      inspirations: [{ code: "x = 1", score: 0.75, metrics: { combined_score: 0.75, latency: 20, accuracy: 0.9, size: 40, same: 1 } }],
      objectives: [{ metric: "latency", direction: "minimize" }, { metric: "accuracy", direction: "maximize" }]
    })
    const section = user.slice(user.indexOf("Metrics that differ from the best program:"))
    expect(section).toMatch(/- (latency|accuracy) lags/)
    expect(section).toContain("- latency lags (lower is better): 30 here, 20 in the best program")
    expect(section).toContain("- accuracy lags (higher is better): 0.5 here, 0.9 in the best program")
    expect(section).toContain("- size: 10 here, 40 in the best program")
    expect(section.indexOf("lags")).toBeLessThan(section.indexOf("- size"))
    expect(section.split("# Other programs")[0]).not.toContain("same:")
  })

  it("caps the weakness section and each failure", () => {
    const { user } = buildPrompt({ ...base, limits: { weaknessChars: 500, failures: 2, failureChars: 40 } })
    const weak = user.slice(user.indexOf("# Weaknesses"), user.indexOf("# Other programs"))
    expect(weak.trim().length).toBeLessThanOrEqual(500)
    expect(weak).toContain("failure number 7")
    expect(weak).not.toContain("failure number 6")
  })

  it("fix mode shows the failure and asks for a fix", () => {
    const { user } = buildPrompt({
      ...base,
      mode: "fix",
      parent: { code: "x = 1\n", metrics: null, score: null, feedback: "Traceback: boom", failure: { kind: "evaluator_error", message: "exit 1: boom" } },
      inspirations: []
    })
    expect(user).toContain("FAILED: [evaluator_error] exit 1: boom")
    expect(user).toContain("The current program FAILS")
    expect(user).toContain("> Traceback: boom")
  })

  it("a retry quotes the previous answer (fences defused) and the reason, before the current program", () => {
    const { user } = buildPrompt({
      ...base,
      retry: { previousAnswer: "```python\n<<<<<<< SEARCH\nnope\n=======\nx\n>>>>>>> REPLACE\n```", reason: "no_match: nope", attempt: 2 }
    })
    expect(user).toContain("# Your previous answer could not be used (attempt 2)")
    expect(user).toContain("Reason: no_match: nope")
    expect(user).toContain("> '''python")
    expect(user.indexOf("could not be used")).toBeLessThan(user.lastIndexOf("# Current program"))
    expect(lastBlock(user).code).toBe(base.parent.code.trimEnd())
  })

  it("uses the instruction variant it is given", () => {
    expect(buildPrompt({ ...base, instruction: "Try something bold." }).user).toContain("Try something bold.")
  })

  it("renders templates in one pass and inserts code byte for byte", () => {
    const code = "s = '{{goal}}'\n\n\n\nx = 1   \n"
    const { system, user } = buildPrompt({
      ...base,
      parent: { ...base.parent, code },
      templates: {
        system: "Custom system for {{language}}.{{required_symbols}}\n\n\n\n{{unknown}}",
        user: "Goal: {{goal}}\n\n{{weaknesses}}\n\n\n{{current_program}}\n{{ task }}"
      },
      requiredSymbols: ["solve"]
    })
    expect(system).toBe("Custom system for python.\nThese names must stay defined: solve.")
    expect(user.startsWith("Goal: Minimise the function f.\n\n# Weaknesses")).toBe(true)
    expect(user).toContain("s = '{{goal}}'\n\n\n\nx = 1")
    expect(lastBlock(user).code).toBe(code.trimEnd())
    expect(user.endsWith("as SEARCH/REPLACE blocks.")).toBe(true)
  })

  it("appends the current program when a template leaves it out", () => {
    const { user } = buildPrompt({ ...base, templates: { user: "Just improve it: {{goal}}" } })
    expect(user.startsWith("Just improve it: Minimise the function f.")).toBe(true)
    expect(lastBlock(user).code).toBe(base.parent.code.trimEnd())
  })
})
