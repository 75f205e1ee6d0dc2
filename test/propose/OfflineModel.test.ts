import { LanguageModel } from "@effect/ai"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Random, Stream } from "effect"
import { readFileSync } from "node:fs"
import * as OfflineModel from "../../src/llm/OfflineModel.js"
import { applyResponse } from "../../src/propose/Edits.js"
import { buildPrompt } from "../../src/propose/Prompt.js"

const jsCode = readFileSync("examples/function_minimization/initial_program.mjs", "utf8")
const pyCode = readFileSync("examples/function_minimization_py/initial_program.py", "utf8")

const promptFor = (code: string, language: string, inspirations: ReadonlyArray<string> = []) =>
  buildPrompt({
    goal: "Minimise f",
    language,
    editFormat: "diff",
    parent: { code, metrics: { combined_score: 0.1 }, score: 0.1, feedback: null },
    inspirations: inspirations.map((c) => ({ code: c, score: 0.2, metrics: {} })),
    recentFailures: []
  })

const ask = (code: string, language: string, inspirations: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const p = promptFor(code, language, inspirations)
    const model = yield* LanguageModel.LanguageModel
    return yield* model.generateText({
      prompt: [{ role: "system", content: p.system }, { role: "user", content: [{ type: "text", text: p.user }] }]
    })
  }).pipe(Effect.provide(OfflineModel.layer))

describe("OfflineModel", () => {
  it.effect("is deterministic under a fixed seed", () =>
    Effect.gen(function*() {
      const runs = (seed: number) =>
        Effect.forEach([1, 2, 3, 4, 5], () => Effect.map(ask(jsCode, "javascript"), (r) => r.text)).pipe(
          Effect.withRandom(Random.make(seed))
        )
      const a = yield* runs(42)
      const b = yield* runs(42)
      const c = yield* runs(43)
      expect(a).toEqual(b)
      expect(a).not.toEqual(c)
      expect(new Set(a).size).toBeGreaterThan(1)
    }))

  it.effect("produces diffs that apply inside the EVOLVE-BLOCK (JavaScript and Python)", () =>
    Effect.gen(function*() {
      for (const [code, language] of [[jsCode, "javascript"], [pyCode, "python"]] as const) {
        let applied = 0
        let parent = code
        for (let i = 0; i < 100; i++) {
          const response = yield* ask(parent, language)
          expect(response.text).toContain("<<<<<<< SEARCH")
          const r = applyResponse(parent, response.text, { format: "diff", maxCodeBytes: 1 << 20 })
          if (Either.isLeft(r)) throw new Error(`${r.left.reason}: ${r.left.message}\n${response.text}`)
          applied++
          const outside = (c: string) => c.replace(/EVOLVE-BLOCK-START[\s\S]*EVOLVE-BLOCK-END/, "")
          expect(outside(r.right.code)).toBe(outside(code))
          if (i % 2 === 0) parent = r.right.code // walk away from the initial program too
        }
        expect(applied).toBe(100)
      }
    }).pipe(Effect.withRandom(Random.make(7))))

  it.effect("mostly tunes numbers", () =>
    Effect.gen(function*() {
      let numeric = 0
      for (let i = 0; i < 100; i++) {
        const { text } = yield* ask(jsCode, "javascript")
        if (/^Offline mutation: [\d.e+-]+ → [\d.e+-]+ \(line \d+\)\.$/m.test(text)) numeric++
      }
      expect(numeric).toBeGreaterThan(50)
    }).pipe(Effect.withRandom(Random.make(1))))

  it.effect("mutates the whole program when it has no EVOLVE-BLOCK", () =>
    Effect.gen(function*() {
      const code = "const rate = 0.5\nconst n = 10\nconsole.log(rate * n)\n"
      const { text } = yield* ask(code, "javascript")
      const r = applyResponse(code, text, { format: "diff", maxCodeBytes: 1 << 20 })
      expect(Either.isRight(r)).toBe(true)
    }).pipe(Effect.withRandom(Random.make(3))))

  it.effect("can borrow constants from an inspiration program", () =>
    Effect.gen(function*() {
      const donor = jsCode.replace("const cooling = 0.999", "const cooling = 0.95")
      const texts = yield* Effect.forEach(Array.from({ length: 60 }), () => Effect.map(ask(jsCode, "javascript", [donor]), (r) => r.text))
      expect(texts.some((t) => t.includes("const cooling = 0.95") && t.includes("constants from another program"))).toBe(true)
    }).pipe(Effect.withRandom(Random.make(5))))

  it.effect("reports usage of about chars/4 and streams the same text", () =>
    Effect.gen(function*() {
      const p = promptFor(jsCode, "javascript")
      const model = yield* LanguageModel.LanguageModel
      const prompt = [
        { role: "system" as const, content: p.system },
        { role: "user" as const, content: [{ type: "text" as const, text: p.user }] }
      ]
      const r = yield* model.generateText({ prompt }).pipe(Effect.withRandom(Random.make(9)))
      expect(r.finishReason).toBe("stop")
      expect(r.usage.inputTokens).toBe(Math.ceil((p.system.length + p.user.length) / 4))
      expect(r.usage.outputTokens).toBe(Math.ceil(r.text.length / 4))
      const parts = yield* Stream.runCollect(model.streamText({ prompt })).pipe(Effect.withRandom(Random.make(9)))
      const streamed = Chunk.toArray(parts).map((part) => (part.type === "text-delta" ? part.delta : "")).join("")
      expect(streamed).toBe(r.text)
    }).pipe(Effect.provide(OfflineModel.layer)))

  it.effect("answers without edits when the prompt has no program", () =>
    Effect.gen(function*() {
      const model = yield* LanguageModel.LanguageModel
      const r = yield* model.generateText({ prompt: "hello" })
      expect(Either.getLeft(applyResponse("x = 1\n", r.text, { format: "diff", maxCodeBytes: 100 })).pipe((o) => o._tag === "Some" && o.value.reason)).toBe("no_edits")
    }).pipe(Effect.provide(OfflineModel.layer)))
})
