import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Cause, Effect, Exit, Fiber, Layer, Queue, Ref, type Scope, TestClock } from "effect"
import { CandidateStore } from "../../src/db/CandidateStore.js"
import * as Db from "../../src/db/ProgramDatabase.js"
import { DatabaseError } from "../../src/domain/Errors.js"
import type { RunConfig } from "../../src/domain/RunConfig.js"
import * as EvaluationDispatch from "../../src/engine/EvaluationDispatch.js"
import * as RunActor from "../../src/engine/RunActor.js"
import { makeFairPool, RunLimits } from "../../src/engine/RunLimits.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import { fromComplete, LlmClient } from "../../src/llm/LlmClient.js"
import { Proposer } from "../../src/propose/Proposer.js"
import { specWith } from "../support/runFixtures.js"
import { allStores } from "../support/database.js"
import { runDefaults, startLocal } from "../support/engine.js"

interface Probe {
  readonly llmInFlight: number
  readonly llmMax: number
  readonly evalInFlight: number
  readonly evalMax: number
  readonly proposals: number
  readonly evaluations: ReadonlyArray<string>
}

const makeProbe = Ref.make<Probe>({ llmInFlight: 0, llmMax: 0, evalInFlight: 0, evalMax: 0, proposals: 0, evaluations: [] })

/** A proposer whose "LLM" takes `llmMs` and writes `score = N` programs with growing N. */
const testProposer = (probe: Ref.Ref<Probe>, llmMs: number, options: { failEvery?: number } = {}) =>
  Layer.succeed(Proposer, {
    propose: (input) =>
      Effect.gen(function*() {
        const n = yield* Ref.modify(probe, (p) => {
          const inFlight = p.llmInFlight + 1
          return [p.proposals + 1, { ...p, proposals: p.proposals + 1, llmInFlight: inFlight, llmMax: Math.max(p.llmMax, inFlight) }]
        })
        yield* Effect.sleep(llmMs)
        yield* Ref.update(probe, (p) => ({ ...p, llmInFlight: p.llmInFlight - 1 }))
        const llm = { text: "", model: "test-model", inputTokens: 100, outputTokens: 20, usd: 0.001, latencyMs: llmMs, attempts: 1, finishReason: "stop" }
        const exchanges = [{ model: "test-model", system: "sys", user: `improve ${input.parent.id}`, response: `answer ${n}` }]
        if (options.failEvery && n % options.failEvery === 0) {
          return { _tag: "Failed", kind: "patch", message: "no_match: SEARCH not found", llm, response: "junk", attempts: 1, exchanges } as const
        }
        const parentScore = Number(/score = (\d+)/.exec(input.parent.code)?.[1] ?? 0)
        return { _tag: "Proposed", code: `score = ${parentScore + n}\n# ${n}`, patch: "diff", llm, exchanges } as const
      })
  })

/** An evaluator taking `evalMs`; programs containing "crash" fail, others score their `score = N`. */
const testEvaluator = (probe: Ref.Ref<Probe>, evalMs: number, failWhen: (code: string) => boolean = () => false) =>
  Layer.succeed(Evaluator, {
    evaluate: (request) =>
      Effect.gen(function*() {
        yield* Ref.update(probe, (p) => ({ ...p, evalInFlight: p.evalInFlight + 1, evalMax: Math.max(p.evalMax, p.evalInFlight + 1) }))
        yield* Effect.sleep(evalMs)
        yield* Ref.update(probe, (p) => ({ ...p, evalInFlight: p.evalInFlight - 1, evaluations: [...p.evaluations, request.programId] }))
        if (failWhen(request.code)) {
          return { _tag: "Failed", failure: { kind: "evaluator_error", message: "exit code 1: boom" }, feedback: "boom", durationMs: evalMs } as const
        }
        const score = Number(/score = (\d+)/.exec(request.code)?.[1] ?? 0)
        return { _tag: "Scored", metrics: { score }, score, feedback: null, durationMs: evalMs } as const
      })
  })

const run = (
  config: Partial<typeof RunConfig.Encoded>,
  layers: Layer.Layer<Proposer | Evaluator>,
  during: (handle: RunActor.RunHandle) => Effect.Effect<void, never, Scope.Scope> = () => Effect.void,
  limits: Layer.Layer<RunLimits> = runDefaults
) =>
  Effect.gen(function*() {
    const handle = yield* startLocal({ _tag: "New", spec: specWith(config), initialCode: "score = 0\n" })
    const summaryFiber = yield* Effect.fork(handle.await)
    yield* during(handle)
    yield* TestClock.adjust("1 hour")
    const summary = yield* Fiber.join(summaryFiber)
    return summary
  }).pipe(Effect.provide(Layer.mergeAll(runDefaults, limits, layers, Db.layer(":memory:"))))

describe("EvolutionRun", () => {
  it.scoped("applies a result its evaluator committed already (a cluster worker) without committing it again", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      let commits = 0
      // A dispatch that evaluates and commits itself, as a remote worker does.
      const remote = Layer.effect(
        EvaluationDispatch.EvaluationDispatch,
        Effect.gen(function*() {
          const candidates = yield* CandidateStore
          const evaluator = yield* Evaluator
          return {
            evaluate: (program, extension, started) =>
              Effect.gen(function*() {
                yield* started
                const outcome = yield* evaluator.evaluate({ programId: program.id, code: program.code, extension })
                if (yield* candidates.commitEvaluation(program.id, outcome, 1)) commits++
                return { outcome, committed: true }
              })
          }
        })
      )
      const summary = yield* Effect.gen(function*() {
        const handle = yield* RunActor.start({ _tag: "New", spec: specWith({ max_evaluations: 12 }), initialCode: "score = 0\n" }).pipe(
          Effect.provide(remote)
        )
        const fiber = yield* Effect.fork(handle.await)
        yield* TestClock.adjust("1 hour")
        return yield* Fiber.join(fiber)
      }).pipe(Effect.provide(Layer.mergeAll(runDefaults, testProposer(probe, 100), testEvaluator(probe, 50), Db.layer(":memory:"))))
      expect(summary).toMatchObject({ evaluations: 12, scored: 12, stopReason: "max_evaluations" })
      expect(commits).toBe(12)
      expect(summary.bestScore).toBeGreaterThan(0)
    }))

  it.scoped("counts work as in flight only once it holds its shared permit", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const limits = RunLimits.of({ llm: yield* makeFairPool(2), evaluations: yield* makeFairPool(1) })
      const seen = { proposals: 0, evaluations: 0 }
      const summary = yield* run(
        { max_evaluations: 20, concurrency: { proposals: 5, evaluations: 4, queue: 4 } },
        Layer.merge(testProposer(probe, 1000), testEvaluator(probe, 300)),
        (handle) =>
          Effect.gen(function*() {
            for (let i = 0; i < 60; i++) {
              yield* TestClock.adjust("100 millis")
              const stats = yield* handle.stats
              seen.proposals = Math.max(seen.proposals, stats.inFlightProposals)
              seen.evaluations = Math.max(seen.evaluations, stats.inFlightEvaluations)
            }
          })
      , Layer.succeed(RunLimits, limits))
      expect(summary.evaluations).toBe(20)
      expect(seen).toEqual({ proposals: 2, evaluations: 1 })
    }))

  it.scoped("keeps at most P LLM calls and W evaluations in flight and stops at max evaluations", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const summary = yield* run(
        { max_evaluations: 40, concurrency: { proposals: 6, evaluations: 3, queue: 2 } },
        Layer.merge(testProposer(probe, 1000), testEvaluator(probe, 300))
      )
      const p = yield* Ref.get(probe)
      expect(summary.stopReason).toBe("max_evaluations")
      expect(summary.status).toBe("completed")
      expect(summary.evaluations).toBe(40)
      expect(p.llmMax).toBe(6)
      expect(p.evalMax).toBe(3)
      // The initial program plus 39 proposals: no proposal is wasted at the end.
      expect(p.proposals).toBe(39)
      expect(p.evaluations.length).toBe(40)
      expect(new Set(p.evaluations).size).toBe(40)
      expect(summary.bestScore).toBeGreaterThan(0)
      expect(summary.inputTokens).toBe(39 * 100)
    }))

  it.scoped("never lets the queue of proposed candidates grow past its bound", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      let maxQueued = 0
      let maxOutstanding = 0
      const summary = yield* run(
        { max_evaluations: 30, concurrency: { proposals: 8, evaluations: 1, queue: 2 } },
        // Fast LLM, slow evaluator: proposals must wait for room in the queue.
        Layer.merge(testProposer(probe, 10), testEvaluator(probe, 500)),
        (handle) =>
          Effect.gen(function*() {
            for (let i = 0; i < 400; i++) {
              yield* TestClock.adjust("25 millis")
              const s = yield* handle.stats
              const p = yield* Ref.get(probe)
              maxQueued = Math.max(maxQueued, s.queued)
              maxOutstanding = Math.max(maxOutstanding, p.proposals - p.evaluations.length)
            }
          })
      )
      expect(summary.evaluations).toBe(30)
      expect(maxQueued).toBe(2)
      // Proposals run ahead of evaluation by at most P (each holding one candidate) + queue + W.
      expect(maxOutstanding).toBeLessThanOrEqual(8 + 2 + 1)
    }))

  it.scoped("records failing proposals and evaluations without ending the run", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const summary = yield* run(
        { max_evaluations: 20, concurrency: { proposals: 2, evaluations: 2 } },
        Layer.merge(testProposer(probe, 100, { failEvery: 4 }), testEvaluator(probe, 50, (code) => /# \d*3\n?$/.test(code)))
      )
      expect(summary.stopReason).toBe("max_evaluations")
      expect(summary.evaluations).toBe(20)
      expect(summary.failuresByKind["patch"]).toBeGreaterThan(0)
      expect(summary.failuresByKind["evaluator_error"]).toBeGreaterThan(0)
      expect(summary.scored).toBe(20 - summary.failuresByKind["evaluator_error"]!)
    }))

  it.scoped("stops at the target score", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const summary = yield* run(
        { max_evaluations: 1000, target_score: 50, concurrency: { proposals: 2, evaluations: 2 } },
        Layer.merge(testProposer(probe, 100), testEvaluator(probe, 50))
      )
      expect(summary.stopReason).toBe("target_score")
      expect(summary.bestScore).toBeGreaterThanOrEqual(50)
      expect(summary.evaluations).toBeLessThan(1000)
    }))

  it.scoped("stops at the wall-clock limit", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const summary = yield* run(
        { max_evaluations: 100_000, max_wall_seconds: 10, concurrency: { proposals: 2, evaluations: 2 } },
        Layer.merge(testProposer(probe, 1000), testEvaluator(probe, 100))
      )
      expect(summary.stopReason).toBe("wall_clock")
      // About 2 proposals per second for 10 s.
      expect(summary.evaluations).toBeGreaterThan(15)
      expect(summary.evaluations).toBeLessThan(25)
    }))

  it.scoped("stops before any LLM call when the initial program fails, naming the evaluator's error", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const summary = yield* run(
        { max_evaluations: 100, concurrency: { proposals: 4, evaluations: 2 } },
        Layer.merge(testProposer(probe, 100), testEvaluator(probe, 50, () => true))
      )
      expect(summary).toMatchObject({ status: "failed", stopReason: "initial_failed", evaluations: 1 })
      expect(summary.message).toMatch(/initial program failed before any LLM call \(evaluator_error: exit code 1: boom\)[\s\S]*allow_failing_initial[\s\S]*boom/)
      expect((yield* Ref.get(probe)).proposals).toBe(0)
    }))

  it.scoped("bounds LLM proposals by the evaluations left, and duplicates do not end a run as proposal failures", () =>
    Effect.gen(function*() {
      let calls = 0
      // Every answer repeats the initial program: duplicates, never a new candidate.
      const repeating = Layer.succeed(Proposer, {
        propose: () =>
          Effect.as(Effect.sync(() => calls++), {
            _tag: "Proposed",
            code: "score = 0\n",
            patch: "diff",
            llm: { text: "", model: "m", inputTokens: 1, outputTokens: 1, usd: 0, latencyMs: 1, attempts: 1, finishReason: "stop" }
          } as const)
      })
      const probe = yield* makeProbe
      const summary = yield* run(
        { max_evaluations: 3, max_consecutive_proposal_failures: 2, concurrency: { proposals: 2, evaluations: 1 } },
        Layer.merge(repeating, testEvaluator(probe, 50))
      )
      // 2 evaluations left × (1 + proposal_margin 1) + P = 6 proposals, then a clear stop.
      expect(calls).toBe(6)
      expect(summary).toMatchObject({ stopReason: "proposal_limit", status: "completed", evaluations: 1 })
      expect(summary.message).toMatch(/^6 LLM proposals made for 2 evaluations \(proposal_margin 1\)/)
      expect(summary.failuresByKind).toEqual({ duplicate: 6 })
    }))

  it.scoped("stores each proposal's prompts and answers with its program; llm.log_prompts: false stores none", () =>
    Effect.gen(function*() {
      const stored = (logPrompts: boolean, probe: Ref.Ref<Probe>) =>
        Effect.gen(function*() {
          const handle = yield* startLocal({
            _tag: "New",
            spec: specWith({ max_evaluations: 4, concurrency: { proposals: 1, evaluations: 1 }, llm: { ...specWith({}).config.llm, log_prompts: logPrompts } }),
            initialCode: "score = 0\n"
          })
          const done = yield* Effect.fork(handle.await)
          yield* TestClock.adjust("1 hour")
          yield* Fiber.join(done)
          const sql = yield* SqlClient.SqlClient
          const programs = yield* sql<{ id: string; parent_id: string }>`SELECT id, parent_id FROM programs WHERE parent_id IS NOT NULL`
          const rows = yield* sql<{ program_id: string; user_prompt: string; response: string }>`
            SELECT program_id, user_prompt, response FROM program_transcripts ORDER BY created_at, program_id`
          return { programs, rows }
        }).pipe(Effect.provide(Layer.mergeAll(
          runDefaults,
          Layer.merge(testProposer(probe, 100, { failEvery: 3 }), testEvaluator(probe, 50)),
          Db.layer(":memory:")
        )))
      const on = yield* stored(true, yield* makeProbe)
      // One row per proposal, failed ones included, each naming the parent its prompt showed.
      expect(on.programs.length).toBeGreaterThan(3)
      expect(on.rows.length).toBe(on.programs.length)
      for (const p of on.programs) {
        expect(on.rows.find((r) => r.program_id === p.id)).toMatchObject({ user_prompt: `improve ${p.parent_id}`, response: expect.stringMatching(/^answer \d+$/) })
      }
      const off = yield* stored(false, yield* makeProbe)
      expect(off.programs.length).toBeGreaterThan(3)
      expect(off.rows).toEqual([])
    }))

  it.scoped("stops after too many consecutive proposal failures", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const summary = yield* run(
        { max_evaluations: 100, max_consecutive_proposal_failures: 5, concurrency: { proposals: 1, evaluations: 1 } },
        Layer.merge(testProposer(probe, 100, { failEvery: 1 }), testEvaluator(probe, 50))
      )
      expect(summary.stopReason).toBe("proposal_failures")
      expect(summary.status).toBe("failed")
      expect(summary.message).toMatch(/5 proposals failed in a row; most frequent: patch \(5×\): no_match/)
    }))

  it.scoped("a graceful stop leaves queued candidates pending and resume finishes them without re-evaluating", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const layers = Layer.merge(testProposer(probe, 100), testEvaluator(probe, 1000))
      const db = Db.layer(":memory:")
      yield* Effect.gen(function*() {
        const spec = specWith({ max_evaluations: 30, shutdown_grace_seconds: 5, concurrency: { proposals: 4, evaluations: 2, queue: 4 } })
        const first = yield* Effect.scoped(Effect.gen(function*() {
          const handle = yield* startLocal({ _tag: "New", spec, initialCode: "score = 0\n" })
          const summaryFiber = yield* Effect.fork(handle.await)
          yield* TestClock.adjust("4500 millis")
          yield* handle.client.Stop({})
          yield* TestClock.adjust("1 hour")
          return yield* Fiber.join(summaryFiber)
        }))
        expect(first.status).toBe("interrupted")
        const database = yield* allStores
        const state = yield* database.loadRun(first.runId)
        expect(state.pending.length).toBeGreaterThan(0)
        expect(state.evaluations).toBe(first.evaluations)
        const evaluatedBefore = new Set((yield* Ref.get(probe)).evaluations)

        const second = yield* Effect.scoped(Effect.gen(function*() {
          const handle = yield* startLocal({ _tag: "Resume", runId: first.runId, spec })
          const summaryFiber = yield* Effect.fork(handle.await)
          yield* TestClock.adjust("1 hour")
          return yield* Fiber.join(summaryFiber)
        }))
        expect(second.status).toBe("completed")
        expect(second.evaluations).toBe(30)
        const all = (yield* Ref.get(probe)).evaluations
        // Every evaluation is unique: nothing committed was evaluated again.
        expect(new Set(all).size).toBe(all.length)
        // In-flight evaluations finished within the grace period, so none was lost or repeated.
        expect(all.length).toBe(30)
        const afterResume = all.slice(evaluatedBefore.size)
        for (const id of state.pending) expect(afterResume).toContain(id.id)
        expect(all.filter((id) => evaluatedBefore.has(id)).length).toBe(evaluatedBefore.size)
        expect((yield* database.loadRun(first.runId)).pending).toEqual([])
      }).pipe(Effect.provide(Layer.mergeAll(runDefaults, layers, db)))
    }))

  it.scoped("publishes events for proposals, evaluations and new bests", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const tags: Array<string> = []
      yield* run(
        { max_evaluations: 5, concurrency: { proposals: 1, evaluations: 1 } },
        Layer.merge(testProposer(probe, 100), testEvaluator(probe, 50)),
        (handle) =>
          Effect.gen(function*() {
            const events = yield* handle.subscribe
            yield* Queue.take(events).pipe(
              Effect.tap((e) => Effect.sync(() => tags.push(e._tag))),
              Effect.forever,
              Effect.forkScoped
            )
          })
      )
      expect(tags).toContain("CandidateProposed")
      expect(tags).toContain("CandidateEvaluated")
      expect(tags).toContain("NewBest")
      expect(tags).toContain("LlmCallDone")
      expect(tags.at(-1)).toBe("RunStatusChanged")
    }))

  it.scoped("stops at budget_usd counting in-flight calls, so the budget is never overshot", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const outcomes: Array<[string, number, number]> = []
      const llm = Layer.succeed(LlmClient, {
        ...fromComplete("test-model", () => Effect.die("unused")),
        estimateCostUsd: () => Effect.succeed(0.001),
        recordOutcome: (model, improvement, usd) => Effect.sync(() => void outcomes.push([model, improvement, usd]))
      })
      const summary = yield* run(
        { max_evaluations: 1000, budget_usd: 0.0105, concurrency: { proposals: 4, evaluations: 2 } },
        Layer.mergeAll(testProposer(probe, 1000), testEvaluator(probe, 50), llm)
      )
      expect(summary.stopReason).toBe("budget_usd")
      // Each call costs $0.001: counting only committed cost, 4 calls in flight would overshoot to $0.014.
      expect(summary.usd).toBeLessThanOrEqual(0.0105 + 1e-12)
      expect(summary.usd).toBeGreaterThanOrEqual(0.0095)
      // Every evaluated candidate fed the model bandit: its improvement over its parent and its cost.
      expect(outcomes.length).toBe((yield* Ref.get(probe)).proposals)
      expect(outcomes.every(([model, , usd]) => model === "test-model" && usd === 0.001)).toBe(true)
      expect(outcomes.some(([, improvement]) => improvement > 0)).toBe(true)
    }))

  it.scoped("waits while every model's circuit breaker is open instead of counting failures", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      let calls = 0
      const flaky = Layer.succeed(Proposer, {
        propose: (input, onRetry) =>
          Effect.suspend(() => {
            calls++
            return calls <= 200
              ? Effect.succeed({
                _tag: "Failed",
                kind: "llm",
                reason: "circuit_open",
                retryAfterMs: 1000,
                message: "circuit_open: every model is cooling down",
                llm: null,
                response: null,
                attempts: 0
              } as const)
              : Layer.build(testProposer(probe, 10)).pipe(
                Effect.flatMap((ctx) => Effect.provide(Effect.flatMap(Proposer, (p) => p.propose(input, onRetry)), ctx)),
                Effect.scoped
              )
          })
      })
      const summary = yield* run(
        { max_evaluations: 5, max_consecutive_proposal_failures: 3, concurrency: { proposals: 2, evaluations: 1 } },
        Layer.merge(flaky, testEvaluator(probe, 10))
      )
      expect(summary.stopReason).toBe("max_evaluations")
      expect(summary.failuresByKind["llm"]).toBeUndefined()
    }))

  it.scoped("makes no LLM call until the initial program has a result, then breeds from it with its metrics", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const inputs: Array<{ status: string; metrics: unknown; at: number }> = []
      const proposer = testProposer(probe, 1000)
      const recording = Layer.effect(
        Proposer,
        Effect.map(Effect.provide(Proposer, proposer), (inner) => ({
          propose: (input, onRetry) =>
            Effect.flatMap(TestClock.currentTimeMillis, (at) => {
              inputs.push({ status: input.parent.status, metrics: input.parent.metrics, at })
              return inner.propose(input, onRetry)
            })
        }))
      )
      const summary = yield* run(
        { max_evaluations: 12, concurrency: { proposals: 4, evaluations: 2 } },
        Layer.merge(recording, testEvaluator(probe, 500))
      )
      expect(summary.evaluations).toBe(12)
      // The first P proposals start when the initial program's evaluation (500 ms) is committed:
      // a failing one would have stopped the run before any LLM call (issue 19).
      expect(inputs.slice(0, 4).map((i) => i.at)).toEqual([500, 500, 500, 500])
      expect(inputs.every((i) => i.status === "evaluated" && i.metrics !== null)).toBe(true)
    }))

  it.scoped("a candidate cut off during evaluation 3 times is committed as failed on resume, not re-run; queued ones are not counted", () =>
    Effect.gen(function*() {
      let proposals = 0
      let killerRuns = 0
      // The first proposal is a "killer": its evaluation never returns (it takes evolve down).
      const proposer = Layer.succeed(Proposer, {
        propose: () =>
          Effect.gen(function*() {
            const n = ++proposals
            yield* Effect.sleep(100)
            const llm = { text: "", model: "test-model", inputTokens: 1, outputTokens: 1, usd: 0, latencyMs: 100, attempts: 1, finishReason: "stop" }
            return { _tag: "Proposed", code: n === 1 ? "killer\n" : `score = ${n}\n`, patch: "diff", llm } as const
          })
      })
      const evaluator = Layer.succeed(Evaluator, {
        evaluate: (request) =>
          request.code.startsWith("killer")
            ? Effect.zipRight(Effect.sync(() => killerRuns++), Effect.never)
            : Effect.zipRight(
              Effect.sleep(1000),
              Effect.succeed({ _tag: "Scored", metrics: { score: 1 }, score: Number(/score = (\d+)/.exec(request.code)?.[1] ?? 0), feedback: null, durationMs: 1000 } as const)
            )
      })
      yield* Effect.gen(function*() {
        const database = yield* allStores
        const spec = specWith({ max_evaluations: 20, shutdown_grace_seconds: 2, concurrency: { proposals: 2, evaluations: 2, queue: 2 } })
        let runId: RunActor.RunHandle["runId"] | undefined
        let killer: string | undefined
        const session = (options: RunActor.StartOptions, stop: "graceful" | "killed") =>
          Effect.scoped(Effect.gen(function*() {
            const handle = yield* startLocal(options)
            runId = handle.runId
            const summaryFiber = yield* Effect.fork(handle.await)
            yield* TestClock.adjust("3 seconds")
            if (stop === "killed") return undefined // the scope closes under the run: like a crash
            yield* handle.client.Stop({})
            yield* TestClock.adjust("1 hour")
            return yield* Fiber.join(summaryFiber)
          }))

        // 1. Graceful stop: the killer's evaluation is cut off after the grace period.
        const first = yield* session({ _tag: "New", spec, initialCode: "score = 0\n" }, "graceful")
        expect(first!.status).toBe("interrupted")
        const afterFirst = yield* database.loadRun(runId!)
        killer = afterFirst.pending.find((p) => p.code.startsWith("killer"))?.id
        expect(killer).toBeDefined()
        expect(afterFirst.evaluationStarts.get(killer as never)).toBe(1)
        // Candidates still queued at the stop never started: not counted.
        const neverStarted = afterFirst.pending.filter((p) => p.id !== killer)
        expect(neverStarted.length).toBeGreaterThan(0)
        for (const p of neverStarted) expect(afterFirst.evaluationStarts.has(p.id)).toBe(false)

        // 2. and 3. Killed (scope closed) with the killer in evaluation again.
        yield* session({ _tag: "Resume", runId: runId!, spec }, "killed")
        expect((yield* database.loadRun(runId!)).evaluationStarts.get(killer as never)).toBe(2)
        yield* session({ _tag: "Resume", runId: runId!, spec }, "killed")
        expect((yield* database.loadRun(runId!)).evaluationStarts.get(killer as never)).toBe(3)
        expect(killerRuns).toBe(3)

        // 4. Resume: the killer is committed as failed instead of being evaluated a 4th time.
        const last = yield* Effect.scoped(Effect.gen(function*() {
          const handle = yield* startLocal({ _tag: "Resume", runId: runId!, spec })
          const summaryFiber = yield* Effect.fork(handle.await)
          yield* TestClock.adjust("1 hour")
          return yield* Fiber.join(summaryFiber)
        }))
        expect(killerRuns).toBe(3)
        expect(last.status).toBe("completed")
        expect(last.evaluations).toBe(20)
        expect(last.failuresByKind["evaluator_error"]).toBe(1)
        const retired = yield* database.getProgram(killer!)
        expect(retired.status).toBe("failed")
        expect(retired.failure).toEqual({
          kind: "evaluator_error",
          message: "evaluation was interrupted 3 times (evolve stopped or was killed during each); not retried"
        })
        expect((yield* database.loadRun(runId!)).pending).toEqual([])
      }).pipe(Effect.provide(Layer.mergeAll(runDefaults, proposer, evaluator, Db.layer(":memory:"))))
    }))
  it.scoped("a statement cut by a lost connection fails the run, or, in a cluster, ends its actor for its entity to resume", () =>
    Effect.gen(function*() {
      const probe = yield* makeProbe
      const cut = (operation: string) =>
        new DatabaseError({ operation, message: `${operation}: Failed to execute statement: terminating connection due to administrator command` })
      // The third candidate's insert (the owner's statement) or its evaluation's start counter (an
      // evaluation worker's) is cut, as by `pg_ctl restart`.
      const flaky = (statement: "insertProgram" | "startEvaluation") => <A, E, R>(effect: Effect.Effect<A, E, R>) => {
        let calls = 0
        return Effect.provideServiceEffect(
          effect,
          CandidateStore,
          Effect.map(CandidateStore, (store) => ({
            ...store,
            [statement]: (...args: Array<never>) => ++calls === 3 ? Effect.fail(cut(statement)) : (store[statement] as (...a: Array<never>) => unknown)(...args)
          }))
        )
      }
      const attempt = (statement: "insertProgram" | "startEvaluation", inCluster: boolean) =>
        Effect.gen(function*() {
          const runs = yield* allStores
          const handle = yield* startLocal({ _tag: "New", spec: specWith({ max_evaluations: 12 }), initialCode: "score = 0\n" }).pipe(
            flaky(statement),
            Effect.locally(RunActor.dieOnLostConnection, inCluster)
          )
          const fiber = yield* Effect.fork(Effect.exit(handle.await))
          yield* TestClock.adjust("1 hour")
          const exit = yield* Fiber.join(fiber)
          return { exit, status: (yield* runs.getRun(handle.runId)).status }
        }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(runDefaults, testProposer(probe, 100), testEvaluator(probe, 50), Db.layer(":memory:"))))
      for (const statement of ["insertProgram", "startEvaluation"] as const) {
        const alone = yield* attempt(statement, false)
        expect([statement, Exit.isSuccess(alone.exit) && alone.exit.value.stopReason]).toEqual([statement, "database_error"])
        expect(alone.status).toBe("failed")
        const clustered = yield* attempt(statement, true)
        expect([statement, Exit.isFailure(clustered.exit) && Cause.isDie(clustered.exit.cause)]).toEqual([statement, true])
        expect(clustered.status).toBe("running")
      }
    }))
})
