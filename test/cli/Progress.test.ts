import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { decodeRunConfig } from "../../src/config/ConfigLoader.js"
import { startLine } from "../../src/cli/Progress.js"

const spec = (llm: Record<string, unknown>) =>
  Effect.map(decodeRunConfig({ llm }), (config) => ({ programPath: "/p/prog.py", evaluatorPath: "/p/eval.py", config }))

describe("the start line", () => {
  it.effect("names every model of an ensemble", () =>
    Effect.gen(function*() {
      const line = startLine("r1", yield* spec({
        provider: "openai-chat",
        base_url: "http://127.0.0.1:8000/v1",
        models: [{ model: "a", weight: 0.8 }, { name: "local", model: "b", base_url: "http://127.0.0.1:9/v1", weight: 0.2 }]
      }))
      expect(line).toBe(
        "run r1: evolving /p/prog.py with 2 models, weighted: a (openai-chat at http://127.0.0.1:8000/v1) weight 0.8, local: b (openai-chat at http://127.0.0.1:9/v1) weight 0.2, P=4 W=2"
      )
    }))

  it.effect("says plainly when no LLM runs", () =>
    Effect.gen(function*() {
      expect(startLine("r1", yield* spec({}))).toMatch(/with the offline mutator \(llm\.provider: offline: no LLM/)
      expect(startLine("r1", yield* spec({ provider: "openai-chat", model: "m" }))).toMatch(/with m \(openai-chat at https:\/\/api\.openai\.com\/v1\)/)
    }))
})
