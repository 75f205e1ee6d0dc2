/**
 * The search inside a whole run (EvolutionRun with an in-memory database, under TestClock):
 * duplicate and novelty rejection before evaluation, patience and per-metric stop rules, islands
 * with migration and MAP-Elites descriptors across a resume, fix mode, and the exact
 * reproduction of an offline run from its seed.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Ref, Schema, TestClock } from "effect"
import { readFileSync } from "node:fs"
import * as Db from "../../src/db/ProgramDatabase.js"
import * as NodeHttp from "../../src/llm/NodeHttp.js"
import type { RunId } from "../../src/domain/Ids.js"
import { RunConfig, type RunConfigInput } from "../../src/domain/RunConfig.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import { EmbeddingClient } from "../../src/llm/Embeddings.js"
import * as LlmClientLive from "../../src/llm/LlmClientLive.js"
import { codeHash } from "../../src/propose/Edits.js"
import * as Proposer from "../../src/propose/Proposer.js"
import { allStores } from "../support/database.js"
import { runDefaults, startLocal } from "../support/engine.js"

const decode = Schema.decodeUnknownSync(RunConfig)
const specOf = (config: RunConfigInput) => ({
  programPath: "/tmp/evolve-test/program.mjs",
  evaluatorPath: "/tmp/evolve-test/evaluator.mjs",
  config: decode(config)
})

/** Runs to completion under TestClock. */
const runToEnd = (spec: ReturnType<typeof specOf>, initialCode: string) =>
  Effect.gen(function*() {
    const handle = yield* startLocal({ _tag: "New", spec, initialCode })
    const fiber = yield* Effect.fork(handle.await)
    yield* TestClock.adjust("10 hours")
    return yield* Fiber.join(fiber)
  })

const resumeToEnd = (runId: RunId, spec: ReturnType<typeof specOf>) =>
  Effect.gen(function*() {
    const handle = yield* startLocal({ _tag: "Resume", runId, spec })
    const fiber = yield* Effect.fork(handle.await)
    yield* TestClock.adjust("10 hours")
    return yield* Fiber.join(fiber)
  })

/** Every program of a run in creation order. */
const programsOf = (runId: RunId) =>
  Effect.gen(function*() {
    const db = yield* allStores
    const page = yield* db.listPrograms(runId, { offset: 0, limit: 100_000, sort: "time", order: "asc" })
    return page.items
  })

/** `score = N` programs score N; "crash" fails. Records every code it sees. */
const scoringEvaluator = (seen: Ref.Ref<ReadonlyArray<string>>, metrics: (code: string) => Record<string, number> = () => ({})) =>
  Layer.succeed(Evaluator, {
    evaluate: (request) =>
      Effect.gen(function*() {
        yield* Ref.update(seen, (xs) => [...xs, request.code])
        yield* Effect.sleep("100 millis")
        if (request.code.includes("crash")) {
          return { _tag: "Failed", failure: { kind: "evaluator_error", message: "exit code 1: crash" }, feedback: "crash", durationMs: 100 } as const
        }
        const score = Number(/score = (-?[\d.]+)/.exec(request.code)?.[1] ?? 0)
        return { _tag: "Scored", metrics: { score, ...metrics(request.code) }, score, feedback: null, durationMs: 100 } as const
      })
  })

const llm = { text: "", model: "stub", inputTokens: 10, outputTokens: 5, usd: 0, latencyMs: 1, attempts: 1, finishReason: "stop" }

/** A proposer writing `score = f(n)` for the n-th proposal, recording what it was given. */
const stubProposer = (
  code: (n: number, input: Proposer.ProposalInput) => string,
  calls: Array<Proposer.ProposalInput> = [],
  checkNovelty?: Proposer.Proposer["Type"]["checkNovelty"]
) =>
  Layer.succeed(Proposer.Proposer, {
    propose: (input) =>
      Effect.sync(() => {
        calls.push(input)
        return { _tag: "Proposed", code: code(calls.length, input), patch: "", llm } as const
      }),
    ...(checkNovelty ? { checkNovelty } : {})
  })

describe("search in a run", () => {
  it.scoped("rejects exact duplicates before evaluation and replaces them with new proposals", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      // Every third proposal repeats an earlier program (modulo whitespace).
      const summary = yield* runToEnd(
        specOf({ max_evaluations: 12, concurrency: { proposals: 1, evaluations: 1 } }),
        "score = 0\n"
      ).pipe(Effect.provide(Layer.mergeAll(
        runDefaults,
        stubProposer((n) => (n % 3 === 0 ? "score = 1   \n\n" : `score = ${n}\n`)),
        scoringEvaluator(seen),
        Db.layer(":memory:")
      )))
      expect(summary.evaluations).toBe(12)
      const evaluated = yield* Ref.get(seen)
      expect(new Set(evaluated.map(codeHash)).size).toBe(evaluated.length) // no copy reached the evaluator
      expect(summary.failuresByKind["duplicate"]).toBeGreaterThan(0)
    }))

  it.scoped("rejects candidates the novelty check finds too similar, records why, and carries on", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const compared: Array<number> = []
      const novelty: Proposer.Proposer["Type"]["checkNovelty"] = (candidate, neighbours, settings) =>
        Effect.sync(() => {
          compared.push(neighbours.length)
          expect(settings).toEqual({ embeddingThreshold: 0.95, llmJudge: false })
          return candidate.includes("# near")
            ? { novel: false, reason: `too similar to ${neighbours[0]!.id} (cosine 0.99 ≥ 0.95)`, similarTo: neighbours[0]!.id, similarity: 0.99, llm: null }
            : { novel: true, similarity: 0.5, llm: null, note: null }
        })
      const result = yield* Effect.gen(function*() {
        const summary = yield* runToEnd(
          specOf({
            max_evaluations: 10,
            concurrency: { proposals: 1, evaluations: 1 },
            search: { novelty: { embedding_threshold: 0.95, compare_with: 3 } }
          }),
          "score = 0\n"
        )
        return { summary, programs: yield* programsOf(summary.runId) }
      }).pipe(Effect.provide(Layer.mergeAll(
        runDefaults,
        stubProposer((n) => (n % 2 === 0 ? `score = ${n}\n# near` : `score = ${n}\n`), [], novelty),
        scoringEvaluator(seen),
        Db.layer(":memory:")
      )))
      expect(result.summary.evaluations).toBe(10)
      expect((yield* Ref.get(seen)).some((c) => c.includes("# near"))).toBe(false)
      const rejected = result.programs.filter((p) => p.status === "rejected")
      expect(rejected.length).toBeGreaterThan(0)
      expect(rejected[0]!.failure).toMatchObject({ kind: "duplicate", message: expect.stringMatching(/^too similar to p_/) })
      expect(Math.max(...compared)).toBeLessThanOrEqual(3)
    }))

  it.scoped("stops when the best score has not improved for `patience` evaluations", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      // Improves for 5 proposals, then never again.
      const summary = yield* runToEnd(
        specOf({ max_evaluations: 500, patience: 8, concurrency: { proposals: 1, evaluations: 1 } }),
        "score = 0\n"
      ).pipe(Effect.provide(Layer.mergeAll(
        runDefaults,
        stubProposer((n) => `score = ${Math.min(n, 5)}\n# ${n}`),
        scoringEvaluator(seen),
        Db.layer(":memory:")
      )))
      expect(summary.stopReason).toBe("patience")
      expect(summary.status).toBe("completed")
      expect(summary.bestScore).toBe(5)
      expect(summary.message).toMatch(/no improvement of the best score in 8 evaluations/)
      // 1 initial + 5 improving + 8 without improvement (+ at most the one in flight)
      expect(summary.evaluations).toBeGreaterThanOrEqual(14)
      expect(summary.evaluations).toBeLessThanOrEqual(15)
    }))

  it.scoped("stops when one program meets every per-metric target", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const metrics = (code: string) => {
        const n = Number(/# (\d+)/.exec(code)?.[1] ?? 0)
        return { accuracy: n / 10, latency: 100 - n * 5 }
      }
      const summary = yield* runToEnd(
        specOf({
          max_evaluations: 100,
          target_metrics: { accuracy: 0.6, latency: { at_most: 50 } },
          concurrency: { proposals: 1, evaluations: 1 }
        }),
        "score = 0\n"
      ).pipe(Effect.provide(Layer.mergeAll(
        runDefaults,
        stubProposer((n) => `score = 1\n# ${n}`),
        scoringEvaluator(seen, metrics),
        Db.layer(":memory:")
      )))
      expect(summary.stopReason).toBe("target_metrics")
      expect(summary.message).toMatch(/met every metric target \(accuracy ≥ 0.6, latency ≤ 50\)/)
      // accuracy reaches 0.6 at n = 6, latency ≤ 50 at n = 10.
      expect(summary.evaluations).toBeGreaterThanOrEqual(11)
      expect(summary.evaluations).toBeLessThanOrEqual(12)
    }))

  it.scoped("breeds from the failing initial program with its error until something works (fix mode)", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const calls: Array<Proposer.ProposalInput> = []
      const summary = yield* runToEnd(
        specOf({ max_evaluations: 10, allow_failing_initial: true, concurrency: { proposals: 1, evaluations: 1 } }),
        "crash\n"
      ).pipe(Effect.provide(Layer.mergeAll(
        runDefaults,
        stubProposer((n) => (n < 3 ? `crash ${n}\n` : `score = ${n}\n`), calls),
        scoringEvaluator(seen),
        Db.layer(":memory:")
      )))
      expect(summary.evaluations).toBe(10)
      // Proposals start while the initial program is evaluated: those get it without metrics...
      const firstFix = calls.findIndex((c) => c.mode === "fix")
      expect(firstFix).toBeGreaterThanOrEqual(0)
      for (const c of calls.slice(0, firstFix)) {
        expect(c.parent.status).toBe("pending")
        expect(c.parent.metrics).toBeNull()
        expect(c.mode).toBe("explore")
      }
      // ...and once it failed, the next ones fix it, with its error.
      expect(calls[firstFix]!.parent.status).toBe("failed")
      expect(calls[firstFix]!.parent.failure?.message).toContain("crash")
      expect(calls.at(-1)!.mode).not.toBe("fix")
    }))

  it.scoped("islands: children stay on their parent's island, migrants are recorded and restored on resume", () =>
    Effect.gen(function*() {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const calls: Array<Proposer.ProposalInput> = []
      const population = {
        islands: 3,
        migration_interval: 6,
        migration_fraction: 0.5,
        selection: "hill_climb" as const,
        map_elites: { features: [{ name: "code_length", bins: 4 }, { name: "edit_distance", bins: 4 }] }
      }
      const layers = Layer.mergeAll(
        stubProposer((n, input) => `${input.parent.code.split("\n")[0]}\nscore = ${n}\n# island ${n % 3}`, calls),
        scoringEvaluator(seen),
        Db.layer(":memory:")
      )
      yield* Effect.gen(function*() {
        const spec = specOf({ max_evaluations: 19, concurrency: { proposals: 1, evaluations: 1 }, population })
        const first = yield* runToEnd(spec, "score = 0\n")
        const programs = yield* programsOf(first.runId)
        const byId = new Map(programs.map((p) => [p.id, p]))
        const children = programs.filter((p) => p.parentId !== null)
        expect(new Set(children.map((p) => p.island))).toEqual(new Set([0, 1, 2]))
        const db = yield* allStores
        const state = yield* db.loadSearchState(first.runId, { descriptors: true, failures: 10 })
        // Migration at 6, 12 and 18 evaluations: copies tagged with their origin, to the next island.
        expect(state.migrants.length).toBeGreaterThan(0)
        for (const m of state.migrants) {
          expect(byId.get(m.programId)!.island).toBe(m.origin)
          expect(m.island).toBe((m.origin + 1) % 3)
        }
        // A child's parent is a member of the child's island: its own program, the initial one, or a migrant copy.
        for (const child of children) {
          const parent = byId.get(child.parentId!)!
          const migrated = state.migrants.some((m) => m.programId === parent.id && m.island === child.island)
          expect(parent.island === child.island || parent.parentId === null || migrated).toBe(true)
        }
        // Every scored program has its MAP-Elites descriptor stored.
        expect(state.descriptors.size).toBe(programs.filter((p) => p.status === "evaluated").length)

        const resumed = yield* resumeToEnd(first.runId, { ...spec, config: { ...spec.config, max_evaluations: 30 } })
        expect(resumed.evaluations).toBe(30)
        const after = yield* db.loadSearchState(first.runId, { descriptors: true, failures: 10 })
        expect(after.migrants.length).toBeGreaterThan(state.migrants.length)
        // No program is copied twice to the same island.
        expect(new Set(after.migrants.map((m) => `${m.programId}:${m.island}`)).size).toBe(after.migrants.length)
      }).pipe(Effect.provide(Layer.merge(runDefaults, layers)))
    }))
})

// ---- reproducibility ---------------------------------------------------------------------------

const pointSpread = readFileSync("examples/point_spread/initial_program.mjs", "utf8")

/** The point-spread score, computed in-process from the literal coordinates. */
const pointEvaluator = Layer.succeed(Evaluator, {
  evaluate: (request) =>
    Effect.gen(function*() {
      yield* Effect.sleep("80 millis")
      const pts = [...request.code.matchAll(/const p\d+ = \[([-\d.e]+), ([-\d.e]+)\]/g)].map((m) => [Number(m[1]), Number(m[2])] as const)
      if (pts.length !== 6 || pts.some(([x, y]) => !(x >= 0 && x <= 1 && y >= 0 && y <= 1))) {
        return { _tag: "Failed", failure: { kind: "evaluator_error", message: "bad points" }, feedback: null, durationMs: 80 } as const
      }
      let min = Infinity
      for (let i = 0; i < 6; i++) for (let j = i + 1; j < 6; j++) min = Math.min(min, Math.hypot(pts[i]![0] - pts[j]![0], pts[i]![1] - pts[j]![1]))
      const spread = pts.reduce((s, [x, y]) => s + Math.abs(x - 0.5) + Math.abs(y - 0.5), 0) / 6
      return { _tag: "Scored", metrics: { min_distance: min, spread }, score: min, feedback: null, durationMs: 80 } as const
    })
})

const offlineRun = (seed: number) =>
  Effect.gen(function*() {
    const spec = specOf({
      seed,
      language: "javascript",
      max_evaluations: 30,
      concurrency: { proposals: 1, evaluations: 1 },
      llm: { provider: "offline" },
      population: {
        islands: 2,
        migration_interval: 8,
        selection: "fitness_weighted",
        map_elites: { features: [{ name: "spread", bins: 4 }, { name: "edit_distance", bins: 4 }] }
      },
      prompt: { vary_instructions: true },
      search: { max_patch_retries: 1, required_symbols: ["points"] }
    })
    // The trace: every proposal (parent, inspirations, mode, outcome) and every evaluation, in order.
    const trace: Array<string> = []
    const llmLayer = LlmClientLive.layer(spec.config.llm, Option.none()).pipe(
      Layer.provide([NodeHttp.layer, LlmClientLive.featuresOff])
    )
    const proposer = Layer.effect(
      Proposer.Proposer,
      Effect.map(Proposer.make({ goal: "spread", language: "javascript", editFormat: "diff", maxCodeBytes: 1 << 20 }), (inner) => ({
        ...inner,
        propose: (input: Proposer.ProposalInput) =>
          Effect.tap(inner.propose(input), (r) =>
            Effect.sync(() =>
              trace.push(
                `propose ${input.mode} parent=${codeHash(input.parent.code).slice(0, 8)} insp=${
                  input.inspirations.map((p) => codeHash(p.code).slice(0, 8)).join(",")
                } -> ${r._tag === "Proposed" ? codeHash(r.code).slice(0, 8) : `${r.kind}`}`
              )
            ))
      }))
    ).pipe(Layer.provide([llmLayer, EmbeddingClient.offline]))
    const evaluator = Layer.effect(
      Evaluator,
      Effect.map(Evaluator, (inner) => ({
        evaluate: (request: Parameters<typeof inner.evaluate>[0]) =>
          Effect.tap(inner.evaluate(request), (o) =>
            Effect.sync(() => trace.push(`evaluate ${codeHash(request.code).slice(0, 8)} -> ${o._tag === "Scored" ? o.score : o.failure.kind}`))
          )
      }))
    ).pipe(Layer.provide(pointEvaluator))
    return yield* Effect.gen(function*() {
      const summary = yield* runToEnd(spec, pointSpread)
      const programs = yield* programsOf(summary.runId)
      const db = yield* allStores
      const search = yield* db.loadSearchState(summary.runId, { descriptors: true, failures: 100 })
      return {
        summary,
        trace,
        statuses: programs.map((p) => `${p.codeHash}:${p.status}:${p.island}`).sort(),
        migrants: search.migrants.length,
        ids: programs.map((p) => p.id)
      }
    }).pipe(Effect.provide(Layer.mergeAll(runDefaults, proposer, evaluator, Db.layer(":memory:"))))
  })

describe("reproducibility", () => {
  it.scoped("the same seed reproduces an offline run candidate for candidate (P = W = 1)", () =>
    Effect.gen(function*() {
      const a = yield* offlineRun(11)
      const b = yield* offlineRun(11)
      const c = yield* offlineRun(12)
      expect(a.summary.evaluations).toBe(30)
      expect(a.trace.filter((t) => t.startsWith("evaluate")).length).toBe(30)
      expect(b.trace).toEqual(a.trace)
      expect(b.statuses).toEqual(a.statuses)
      expect(b.summary.bestScore).toBe(a.summary.bestScore)
      expect(a.migrants).toBeGreaterThan(0)
      expect(b.migrants).toBe(a.migrants)
      expect(c.trace).not.toEqual(a.trace)
      // Only the ids differ (their random suffix is drawn per run; the time prefix is the clock's).
      expect(b.ids).not.toEqual(a.ids)
      expect(a.summary.bestScore!).toBeGreaterThan(0.2184)
    }), 60_000)
})
