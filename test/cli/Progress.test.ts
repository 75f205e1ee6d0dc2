import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { decodeRunConfig } from "../../src/config/ConfigLoader.js"
import { startLine, statusLine, summaryText } from "../../src/cli/Progress.js"
import { RunId } from "../../src/domain/Ids.js"
import * as RunState from "../../src/engine/RunState.js"
import { emptySteering } from "../../src/domain/Steering.js"

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

describe("failures where the user looks", () => {
  it("the status line and the summary show the last error of each failure kind", () => {
    let state = RunState.initial({
      runId: RunId.make("run_x"),
      startedAt: 0,
      limits: {
        maxEvaluations: 10, proposals: 2, evaluations: 1, queue: 1, maxConsecutiveProposalFailures: 50, proposalMargin: 1,
        allowFailingInitial: false, budgetUsd: undefined, targetScore: undefined, targetMetrics: undefined, patience: undefined
      },
      evaluations: 0, scored: 0, pending: 0, failuresByKind: {}, recentFailures: [], best: undefined, sinceBest: 0,
      inputTokens: 0, outputTokens: 0, usd: 0, firstCallUsd: 0, hashes: [], steering: emptySteering
    })
    const fail = (kind: "llm" | "patch", message: string) => {
      state = RunState.proposalFailed(RunState.proposalStarted(state, 0), { kind, message }, 0)
    }
    fail("patch", "no_match: SEARCH block not found")
    fail("llm", "HTTP 401 from POST http://127.0.0.1:9/v1/chat/completions")
    fail("patch", "no_edits: the answer holds no SEARCH/REPLACE block")
    const stats = RunState.stats(state, 5000)
    expect(stats.lastFailures).toEqual({
      patch: "no_edits: the answer holds no SEARCH/REPLACE block",
      llm: "HTTP 401 from POST http://127.0.0.1:9/v1/chat/completions"
    })
    expect(statusLine(stats)).toContain(
      "failed patch 2 (last: no_edits: the answer holds no SEARCH/REPLACE bl…), llm 1 (last: HTTP 401 from POST http://127.0.0.1:9/v1/chat/c…)"
    )
    const summary = summaryText({ ...stats, stopReason: "max_evaluations", message: null }, "/tmp/x.db")
    expect(summary).toContain("  failures       3\n    patch 2 (last: no_edits: the answer holds no SEARCH/REPLACE block)\n    llm 1 (last: HTTP 401 from POST http://127.0.0.1:9/v1/chat/completions)")
  })
})
