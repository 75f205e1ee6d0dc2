import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Random } from "effect"
import * as CodeFences from "../../src/domain/CodeFences.js"
import { LlmError } from "../../src/domain/Errors.js"
import { EmbeddingClient } from "../../src/llm/Embeddings.js"
import { fromComplete, LlmClient, type LlmReply, type LlmRequest } from "../../src/llm/LlmClient.js"
import { judgeSystem } from "../../src/propose/Novelty.js"
import * as Proposer from "../../src/propose/Proposer.js"
import { program } from "../support/runFixtures.js"

const parentCode = `def search(f):
    # EVOLVE-BLOCK-START
    step = 0.5
    best = f(step)
    # EVOLVE-BLOCK-END
    return best
`
const parent = program({ id: "p_parent", runId: "run_1", code: parentCode, status: "evaluated", score: 0.3, metrics: { score: 0.3 } })

const sr = (search: string, replace: string) => `<<<<<<< SEARCH\n${search}\n=======\n${replace}\n>>>>>>> REPLACE`

const reply = (text: string): LlmReply => ({
  text,
  model: "stub",
  inputTokens: 100,
  outputTokens: 10,
  usd: 0.01,
  latencyMs: 5,
  attempts: 1,
  finishReason: "stop"
})

/** An LLM answering from a script; records every request. */
const scripted = (answers: ReadonlyArray<string | LlmError>) => {
  const requests: Array<LlmRequest> = []
  const llm = Layer.succeed(
    LlmClient,
    fromComplete("stub", (request) =>
      Effect.suspend(() => {
        requests.push(request)
        const answer = answers[Math.min(requests.length - 1, answers.length - 1)]!
        return typeof answer === "string" ? Effect.succeed(reply(answer)) : Effect.fail(answer)
      }))
  )
  return { requests, layer: Layer.merge(llm, EmbeddingClient.offline) }
}

const options = (settings: Partial<Proposer.ProposalSettings> = {}): Proposer.ProposerOptions => ({
  goal: "Make it better",
  language: "python",
  editFormat: "diff",
  maxCodeBytes: 1 << 20,
  settings
})

const propose = (
  llm: Layer.Layer<LlmClient | EmbeddingClient>,
  settings: Partial<Proposer.ProposalSettings> = {},
  input: Partial<Proposer.ProposalInput> = {}
) =>
  Effect.gen(function*() {
    const proposer = yield* Proposer.make(options(settings))
    return yield* proposer.propose({ parent, inspirations: [], recentFailures: [], ...input })
  }).pipe(Effect.provide(llm))

describe("Proposer: patch retries", () => {
  it.effect("sends an answer that does not apply back to the model with the reason", () =>
    Effect.gen(function*() {
      const { layer, requests } = scripted([
        sr("    step = 0.7", "    step = 0.25"),
        sr("    step = 0.5", "    step = 0.25")
      ])
      const result = yield* propose(layer, { maxPatchRetries: 2 })
      expect(result._tag).toBe("Proposed")
      if (result._tag !== "Proposed") return
      expect(result.code).toContain("step = 0.25")
      expect(result.tries).toBe(2)
      expect(requests).toHaveLength(2)
      expect(requests[0]!.user).not.toContain("could not be used")
      expect(requests[1]!.user).toContain("# Your previous answer could not be used (attempt 1)")
      expect(requests[1]!.user).toContain("no_match")
      expect(requests[1]!.user).toContain("step = 0.7") // the previous answer is quoted back
      // The current program is still the last code block of the retry prompt.
      expect(CodeFences.parse(requests[1]!.user).blocks.at(-1)!.code).toBe(parentCode.trimEnd())
      // Accounting covers both calls.
      expect(result.llm.inputTokens).toBe(200)
      expect(result.llm.usd).toBeCloseTo(0.02, 10)
      expect(result.llm.attempts).toBe(2)
      // Both exchanges are kept for the program page: what was sent, what came back.
      expect(result.exchanges!.map((e) => [e.user, e.response])).toEqual(requests.map((r, i) => [
        r.user,
        i === 0 ? sr("    step = 0.7", "    step = 0.25") : sr("    step = 0.5", "    step = 0.25")
      ]))
      expect(result.exchanges!.every((e) => e.system === requests[0]!.system && e.model === "stub")).toBe(true)
    }))

  it.effect("gives up after max_patch_retries more tries", () =>
    Effect.gen(function*() {
      const { layer, requests } = scripted(["no edits here"])
      const result = yield* propose(layer, { maxPatchRetries: 2 })
      expect(result).toMatchObject({ _tag: "Failed", kind: "patch" })
      if (result._tag !== "Failed") return
      expect(result.message).toMatch(/^no_edits: .*\(after 3 tries\)$/)
      expect(result.response).toBe("no edits here")
      expect(requests).toHaveLength(3)
      expect(result.llm!.outputTokens).toBe(30)
    }))

  it.effect("with no retries configured, one answer decides", () =>
    Effect.gen(function*() {
      const { layer, requests } = scripted(["nothing"])
      expect(yield* propose(layer, { maxPatchRetries: 0 })).toMatchObject({ _tag: "Failed", kind: "patch" })
      expect(requests).toHaveLength(1)
    }))

  it.effect("an LLM failure ends the proposal at once", () =>
    Effect.gen(function*() {
      const { layer, requests } = scripted([new LlmError({ reason: "server", message: "HTTP 500", attempts: 3 })])
      const result = yield* propose(layer, { maxPatchRetries: 3 })
      expect(result).toMatchObject({ _tag: "Failed", kind: "llm", attempts: 3 })
      expect(requests).toHaveLength(1)
      if (result._tag !== "Failed") return
      expect(result.exchanges).toEqual([{ model: "stub", system: requests[0]!.system, user: requests[0]!.user, response: null }])
    }))
})

describe("Proposer: validation", () => {
  it.effect("refuses a candidate that no longer defines a required symbol, and says so to the model", () =>
    Effect.gen(function*() {
      const code = "def search(f):\n    return f(0.5)\n\ndef helper():\n    return 1\n"
      const withHelper = program({ id: "p_h", runId: "run_1", code, status: "evaluated", score: 1, metrics: {} })
      const { layer, requests } = scripted([
        sr("def helper():\n    return 1", "x = 1"),
        sr("    return f(0.5)", "    return f(0.25)")
      ])
      const result = yield* propose(layer, { maxPatchRetries: 1, requiredSymbols: ["search", "helper", "not_in_parent"] }, {
        parent: withHelper
      })
      expect(result._tag).toBe("Proposed")
      expect(requests[1]!.user).toContain("missing_symbols")
      expect(requests[1]!.user).toContain("`helper`")
      expect(requests[0]!.system).toContain("These names must stay defined: search, helper, not_in_parent.")
    }))

  it.effect("reports a too-large candidate as invalid", () =>
    Effect.gen(function*() {
      const { layer } = scripted([sr("    step = 0.5", `    step = 0.5${" # padding".repeat(100)}`)])
      const result = yield* Effect.gen(function*() {
        const proposer = yield* Proposer.make({ ...options(), maxCodeBytes: 200 })
        return yield* proposer.propose({ parent, inspirations: [], recentFailures: [] })
      }).pipe(Effect.provide(layer))
      expect(result).toMatchObject({ _tag: "Failed", kind: "invalid" })
    }))
})

describe("Proposer: prompts", () => {
  it.effect("varies the instruction per proposal with the seeded Random", () =>
    Effect.gen(function*() {
      const { layer, requests } = scripted([sr("    step = 0.5", "    step = 0.25")])
      const settings = { varyInstructions: true, instructions: ["Alpha idea.", "Beta idea.", "Gamma idea."] }
      for (let i = 0; i < 30; i++) yield* propose(layer, settings)
      const used = new Set(requests.map((r) => ["Alpha", "Beta", "Gamma"].find((w) => r.user.includes(`${w} idea.`))))
      expect(used).toEqual(new Set(["Alpha", "Beta", "Gamma"]))
      // Without variation, always the first.
      const fixed = scripted([sr("    step = 0.5", "    step = 0.25")])
      for (let i = 0; i < 5; i++) yield* propose(fixed.layer, { ...settings, varyInstructions: false })
      expect(fixed.requests.every((r) => r.user.includes("Alpha idea."))).toBe(true)
    }).pipe(Effect.withRandom(Random.make(3))))

  it.effect("uses prompt templates; the program is always the last code block", () =>
    Effect.gen(function*() {
      const { layer, requests } = scripted([sr("    step = 0.5", "    step = 0.25")])
      const result = yield* propose(layer, {
        systemTemplate: { text: "SYSTEM for {{language}}.\n{{edit_rules}}" },
        userTemplate: { text: "TASK: {{goal}}\nRESULTS: {{results}}\n{{task}}" }
      })
      expect(result._tag).toBe("Proposed")
      expect(requests[0]!.system).toMatch(/^SYSTEM for python\.\nAnswer with one or more SEARCH\/REPLACE blocks/)
      expect(requests[0]!.user).toMatch(/^TASK: Make it better\nRESULTS: Score: 0.3/)
      // The template has no {{current_program}}: the program is appended last.
      expect(CodeFences.parse(requests[0]!.user).blocks.at(-1)!.code).toBe(parentCode.trimEnd())

      // Template files are inlined when the run is created; one left as a file is refused.
      const missing = yield* propose(scripted(["x"]).layer, { userTemplate: { file: "user.txt" } })
      expect(missing).toMatchObject({ _tag: "Failed", kind: "invalid" })
    }))

  it.effect("fix mode sends the failing parent with its error", () =>
    Effect.gen(function*() {
      const failed = program({
        id: "p_failed",
        runId: "run_1",
        code: parentCode,
        status: "failed",
        failure: { kind: "evaluator_error", message: "exit code 1: NameError: name 'stp' is not defined" },
        feedback: "Traceback (most recent call last):\nNameError: name 'stp' is not defined"
      })
      const { layer, requests } = scripted([sr("    step = 0.5", "    step = 0.25")])
      yield* propose(layer, {}, { parent: failed, mode: "fix" })
      const user = requests[0]!.user
      expect(user).toContain("FAILED: [evaluator_error] exit code 1: NameError")
      expect(user).toContain("The current program FAILS")
      expect(user).toContain("> NameError: name 'stp' is not defined")
    }))
})

describe("Proposer: novelty", () => {
  const codeA = "def f(x):\n    y = x * 2\n    z = y + 1\n    return z * z + 3\n"
  const codeA2 = "def f(x):\n    y = x * 2\n    z = y + 1\n    return z * z + 4\n"
  const codeB = "import math\nclass Solver:\n    def run(self, items):\n        return sorted(items, key=lambda i: math.sin(i))[:10]\n"

  it.effect("rejects a candidate too similar to a program of its island (offline embeddings)", () =>
    Effect.gen(function*() {
      const proposer = yield* Proposer.make(options())
      const check = proposer.checkNovelty!
      const near = yield* check(codeA2, [{ id: "p_a", code: codeA }, { id: "p_b", code: codeB }], { embeddingThreshold: 0.9, llmJudge: false })
      expect(near).toMatchObject({ novel: false, similarTo: "p_a" })
      if (!near.novel) expect(near.reason).toMatch(/too similar to p_a \(cosine 0\.9\d+ ≥ 0\.9\)/)
      const far = yield* check(codeB, [{ id: "p_a", code: codeA }], { embeddingThreshold: 0.9, llmJudge: false })
      expect(far.novel).toBe(true)
      const off = yield* check(codeA2, [{ id: "p_a", code: codeA }], { llmJudge: false })
      expect(off).toMatchObject({ novel: true, similarity: null })
    }).pipe(Effect.provide(scripted(["unused"]).layer)))

  it.effect("asks the LLM judge before rejecting, and follows its answer", () =>
    Effect.gen(function*() {
      const ask = (answer: string) =>
        Effect.gen(function*() {
          const llm = scripted([answer])
          const proposer = yield* Proposer.make(options()).pipe(Effect.provide(llm.layer))
          const verdict = yield* proposer.checkNovelty!(codeA2, [{ id: "p_a", code: codeA }], { embeddingThreshold: 0.9, llmJudge: true })
          return { verdict, requests: llm.requests }
        })
      const novel = yield* ask("NOVEL")
      expect(novel.verdict).toMatchObject({ novel: true, note: "judged novel by the LLM" })
      expect(novel.requests[0]!.system).toBe(judgeSystem)
      expect(novel.verdict.llm?.usd).toBe(0.01)
      const dup = yield* ask("DUPLICATE.")
      expect(dup.verdict).toMatchObject({ novel: false })
      if (!dup.verdict.novel) expect(dup.verdict.reason).toContain("judged a duplicate by the LLM")
      const unclear = yield* ask("I am not sure")
      expect(unclear.verdict).toMatchObject({ novel: true, note: "LLM judgement not understood" })
    }))
})
