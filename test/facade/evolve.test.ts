import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import type { RunEvent } from "../../src/domain/RunEvent.js"
import { evolve, evolveEffect } from "../../src/facade/evolve.js"
import { llmBatch } from "../../src/llm/LlmBatch.js"

const program = "// EVOLVE-BLOCK-START\nconst a = 1.0\nconst b = 2.0\n// EVOLVE-BLOCK-END\nexport const f = () => a + b\n"

const constants = (code: string) => {
  const a = Number(/const a = (-?[\d.e+-]+)/.exec(code)?.[1])
  const b = Number(/const b = (-?[\d.e+-]+)/.exec(code)?.[1])
  return { a, b }
}

/** Higher is better; the optimum is a = 3, b = -1. */
const score = (code: string) => {
  const { a, b } = constants(code)
  if (!Number.isFinite(a) || !Number.isFinite(b)) return { error: "constants missing" }
  return { score: -((a - 3) ** 2) - (b + 1) ** 2, a, b }
}

const env = {} as Record<string, string | undefined>
const dirs: Array<string> = []
const tempDb = () => {
  const dir = mkdtempSync(join(tmpdir(), "evolve-facade-"))
  dirs.push(dir)
  return join(dir, "evolve.db")
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("evolve (Promise facade)", () => {
  it("evolves a program with an in-process evaluator and reports events", async () => {
    const events: Array<RunEvent> = []
    const result = await evolve({
      program,
      evaluate: async (code) => score(code),
      goal: "make f() return the best value",
      iterations: 30,
      parallel: 4,
      onEvent: (event) => events.push(event),
      env
    })
    expect(result.evolved).toBe(true)
    expect(result.runId).toMatch(/^run_/)
    expect(result.summary?.status).toBe("completed")
    expect(result.summary?.evaluations).toBe(30)
    const initial = score(program) as { score: number }
    expect(result.score).toBeGreaterThanOrEqual(initial.score)
    expect(result.metrics?.["score"]).toBe(result.score)
    expect(score(result.code)).toMatchObject({ score: result.score })
    expect(result.programId).toBe(result.summary?.bestProgramId)
    const tags = events.map((e) => e._tag)
    expect(tags).toContain("CandidateEvaluated")
    expect(tags).toContain("NewBest")
    expect(tags.filter((t) => t === "CandidateEvaluated").length).toBe(result.summary!.scored)
    const last = events[events.length - 1]!
    expect(last._tag === "RunStatusChanged" && last.status).toBe("completed")
  })

  it("stops cleanly on abort and resumes by run id without re-evaluating", async () => {
    const db = tempDb()
    const controller = new AbortController()
    const evaluated: Array<string> = []
    const evaluate = async (code: string, ctx: { programId: string }) => {
      evaluated.push(ctx.programId)
      if (evaluated.length === 6) controller.abort()
      await sleep(5)
      return score(code)
    }
    const first = await evolve({ program, evaluate, iterations: 40, parallel: 2, db, signal: controller.signal, env })
    expect(first.summary?.status).toBe("interrupted")
    expect(first.summary!.evaluations).toBeLessThan(40)
    expect(first.runId).not.toBeNull()

    const second = await evolve({ program, evaluate, iterations: 40, parallel: 2, db, runId: first.runId!, env })
    expect(second.runId).toBe(first.runId)
    expect(second.summary?.status).toBe("completed")
    expect(second.summary?.evaluations).toBe(40)
    expect(new Set(evaluated).size).toBe(evaluated.length)
    expect(second.score).toBeGreaterThanOrEqual(first.score!)
  })

  it("rejects a resume without a database file, and an unknown run id", async () => {
    await expect(evolve({ program, evaluate: score, runId: "run_x", env })).rejects.toMatchObject({ _tag: "ConfigError" })
    await expect(evolve({ program, evaluate: score, runId: "run_missing", db: tempDb(), env })).rejects.toMatchObject({
      _tag: "RunNotFound"
    })
  })

  it("EVOLVE=0 evaluates the program once and returns it unevolved", async () => {
    let calls = 0
    const result = await evolve({
      program,
      evaluate: (code) => {
        calls++
        return score(code)
      },
      iterations: 50,
      env: { EVOLVE: "0" }
    })
    expect(calls).toBe(1)
    expect(result).toMatchObject({ evolved: false, runId: null, code: program, summary: null, failure: null })
    expect(result.score).toBe((score(program) as { score: number }).score)
  })

  it("EVOLVE_ITERATIONS and EVOLVE_PARALLEL override the call's values", async () => {
    let inFlight = 0
    let maxInFlight = 0
    const result = await evolve({
      program,
      evaluate: async (code) => {
        maxInFlight = Math.max(maxInFlight, ++inFlight)
        await sleep(2)
        inFlight--
        return score(code)
      },
      iterations: 50,
      parallel: 4,
      env: { EVOLVE_ITERATIONS: "7", EVOLVE_PARALLEL: "1" }
    })
    expect(result.summary?.evaluations).toBe(7)
    expect(result.summary?.maxEvaluations).toBe(7)
    expect(maxInFlight).toBe(1)
  })

  it("rejects bad options with a ConfigError naming the key", async () => {
    await expect(evolve({ program, evaluate: score, iterations: 0, env })).rejects.toMatchObject({
      _tag: "ConfigError",
      message: expect.stringContaining("max_evaluations")
    })
    await expect(evolve({ program, evaluate: score, env: { EVOLVE_ITERATIONS: "many" } })).rejects.toMatchObject({
      _tag: "ConfigError",
      message: expect.stringContaining("EVOLVE_ITERATIONS")
    })
  })

  it("records a throwing evaluator as a failed candidate and goes on", async () => {
    let n = 0
    const result = await evolve({
      program,
      evaluate: (code) => {
        if (++n % 3 === 0) throw new Error("flaky evaluator")
        return score(code)
      },
      iterations: 12,
      env
    })
    expect(result.summary?.evaluations).toBe(12)
    expect(result.summary?.failuresByKind["evaluator_error"]).toBeGreaterThan(0)
    expect(result.score).not.toBeNull()
  })

  it("nests: an evaluation may itself call evolve", async () => {
    const result = await evolve({
      program,
      iterations: 4,
      parallel: 2,
      env,
      evaluate: async (code) => {
        const inner = await evolve({ program: code, evaluate: score, iterations: 3, env })
        return { score: inner.score ?? -1e9, inner_evaluations: inner.summary?.evaluations ?? 0 }
      }
    })
    expect(result.summary?.evaluations).toBe(4)
    expect(result.metrics?.["inner_evaluations"]).toBe(3)
  })

  it("an evaluation may call llmBatch, which runs on the run's own LLM client", async () => {
    const result = await evolve({
      program,
      iterations: 3,
      env,
      evaluate: async (code) => {
        const replies = await llmBatch([`Improve this program:\n\n\`\`\`js\n${code}\n\`\`\``, "hello"])
        return {
          ...score(code),
          replies: replies.filter((r) => r._tag === "Success").length,
          offline: replies.every((r) => r._tag === "Success" && r.model === "offline") ? 1 : 0
        }
      }
    })
    expect(result.summary?.evaluations).toBe(3)
    expect(result.metrics).toMatchObject({ replies: 2, offline: 1 })
  })

  it.effect("runs from inside an Effect, as a promise or as an Effect", () =>
    Effect.gen(function*() {
      const viaPromise = yield* Effect.tryPromise((signal) => evolve({ program, evaluate: score, iterations: 5, signal, env }))
      expect(viaPromise.summary?.evaluations).toBe(5)
      const viaEffect = yield* evolveEffect({ program, evaluate: score, iterations: 5, env })
      expect(viaEffect.summary?.evaluations).toBe(5)
    }))
})
