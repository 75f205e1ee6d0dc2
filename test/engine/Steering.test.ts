/**
 * Steering a live run (issue 17), through the run's in-process RunProtocol client under
 * TestClock: guidance reaches later proposals, pins and bans change the parent, an injected
 * program is evaluated and joins the population, and all of it survives a stop and a resume.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Queue, Schema, TestClock } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import { SteeringStore } from "../../src/db/SteeringStore.js"
import type { RunId } from "../../src/domain/Ids.js"
import { ProgramId } from "../../src/domain/Ids.js"
import { RunConfig, type RunSpec } from "../../src/domain/RunConfig.js"
import type { RunEvent } from "../../src/domain/RunEvent.js"
import type { RunHandle } from "../../src/engine/RunHandle.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import { type ProposalInput, Proposer } from "../../src/propose/Proposer.js"
import { allStores } from "../support/database.js"
import { runDefaults, startLocal } from "../support/engine.js"

const llm = { text: "", model: "test", inputTokens: 10, outputTokens: 2, usd: 0, latencyMs: 1000, attempts: 1, finishReason: "stop" }

/** What each proposal was given. */
type Seen = { readonly parent: string; readonly guidance: string; readonly n: number }

/**
 * LLM calls and evaluations take 1 s; a child scores its number (so the latest is the best), or
 * minus it while `worse.on` (so the best stays the best).
 */
const services = (seen: Array<Seen>, worse: { on: boolean } = { on: false }) => {
  let n = 0
  return Layer.mergeAll(
    runDefaults,
    Layer.succeed(Proposer, {
      propose: (input: ProposalInput) =>
        Effect.gen(function*() {
          const k = ++n
          seen.push({ parent: input.parent.id, guidance: input.guidance ?? "", n: k })
          yield* Effect.sleep("1 second")
          return { _tag: "Proposed", code: `score = ${worse.on ? -k : k}\n`, patch: "diff", llm } as const
        })
    }),
    Layer.succeed(Evaluator, {
      evaluate: (request) =>
        Effect.gen(function*() {
          yield* Effect.sleep("1 second")
          const score = Number(/score = (-?\d+)/.exec(request.code)?.[1] ?? 0)
          return { _tag: "Scored", metrics: { score }, score, feedback: null, durationMs: 1000 } as const
        })
    }),
    Db.layer(":memory:")
  )
}

const spec = (maxEvaluations: number): RunSpec => ({
  programPath: "/tmp/program.py",
  evaluatorPath: "/tmp/evaluator.py",
  config: Schema.decodeUnknownSync(RunConfig)({
    max_evaluations: maxEvaluations,
    concurrency: { proposals: 1, evaluations: 1 },
    population: { selection: "hill_climb" }
  })
})

const startNew = (maxEvaluations: number) => startLocal({ _tag: "New", spec: spec(maxEvaluations), initialCode: "score = 0\n" })

/** Stops a run and waits for it, letting the clock run through its last evaluation. */
const stop = (handle: RunHandle, payload: { readonly message?: string }) =>
  Effect.gen(function*() {
    yield* handle.client.Stop(payload)
    const done = yield* Effect.fork(handle.await)
    yield* TestClock.adjust("1 minute")
    return yield* Fiber.join(done)
  })

const drain = (events: Queue.Dequeue<RunEvent>) => Effect.map(Queue.takeAll(events), (c) => [...c])

describe("Steering", () => {
  it.scoped("a hint reaches every later prompt until it is cleared, with its history kept", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      yield* Effect.gen(function*() {
        const handle = yield* startNew(40)
        const events = yield* handle.subscribe
        yield* TestClock.adjust("4500 millis")
        const before = seen.length
        const view = yield* handle.client.AddHint({ text: "Use a lookup table." })
        expect(view.guidance.map((h) => [h.version, h.text, h.clearedAt])).toEqual([[1, "Use a lookup table.", null]])
        yield* TestClock.adjust("6 seconds")
        const during = seen.length
        expect(during).toBeGreaterThan(before + 2)
        // The proposal underway when the hint came was built before it; every later one has it.
        expect(seen.slice(0, before).every((s) => s.guidance === "")).toBe(true)
        expect(seen.slice(before + 1).every((s) => s.guidance === "- Use a lookup table.")).toBe(true)
        yield* handle.client.AddHint({ text: "Keep it short." })
        yield* TestClock.adjust("4 seconds")
        expect(seen.at(-1)!.guidance).toBe("- Use a lookup table.\n- Keep it short.")
        const replaced = yield* handle.client.AddHint({ text: "Think about caching.", replace: true })
        expect(replaced.guidance.filter((h) => h.clearedAt === null).map((h) => h.version)).toEqual([3])
        yield* TestClock.adjust("4 seconds")
        expect(seen.at(-1)!.guidance).toBe("- Think about caching.")
        yield* handle.client.ClearHint({ version: 3 })
        const refused = yield* Effect.flip(handle.client.ClearHint({ version: 3 }))
        expect(refused).toMatchObject({ _tag: "SteeringRefused" })
        yield* TestClock.adjust("4 seconds")
        expect(seen.at(-1)!.guidance).toBe("")
        // Stored in order, and published as events.
        const stored = yield* (yield* SteeringStore).list(handle.runId)
        expect(stored.map((r) => [r.seq, r.action._tag])).toEqual([[1, "AddHint"], [2, "AddHint"], [3, "AddHint"], [4, "ClearHint"]])
        const steered = (yield* drain(events)).filter((e) => e._tag === "RunSteered")
        expect(steered.map((e) => e._tag === "RunSteered" && e.summary)).toEqual([
          "hint added: Use a lookup table.",
          "hint added: Keep it short.",
          "guidance replaced by: Think about caching.",
          "hint 3 cleared"
        ])
        yield* stop(handle, {})
      }).pipe(Effect.provide(services(seen)))
    }))

  it.scoped("pin restricts parents to the pinned programs until unpinned; a banned program is never a parent again", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      const worse = { on: false }
      yield* Effect.gen(function*() {
        const handle = yield* startNew(60)
        yield* TestClock.adjust("6500 millis")
        const stores = yield* allStores
        const scored = (yield* stores.bestPrograms(handle.runId, 100)).map((p) => p.id)
        expect(scored.length).toBeGreaterThanOrEqual(3)
        const low = scored.at(-1)! // the initial program (score 0)
        const middle = scored[1]!
        // hill_climb: without steering, the parent is always the best program.
        expect(seen.at(-1)!.parent).toBe(scored[0])
        const pinned = yield* handle.client.Pin({ programIds: [low, middle] })
        expect(pinned.pinned).toEqual([low, middle])
        const from = seen.length + 1 // the proposal underway was drawn before the pin
        yield* TestClock.adjust("10 seconds")
        const whilePinned = seen.slice(from)
        expect(whilePinned.length).toBeGreaterThanOrEqual(4)
        expect(whilePinned.every((s) => s.parent === low || s.parent === middle)).toBe(true)
        expect(yield* Effect.flip(handle.client.Pin({ programIds: [ProgramId.make("p_nope")] }))).toMatchObject({ _tag: "SteeringRefused" })
        yield* handle.client.Unpin()
        yield* TestClock.adjust("4 seconds")
        expect(seen.at(-1)!.parent).toBe((yield* stores.bestPrograms(handle.runId, 1))[0]!.id)
        // From now on children score worse: once the candidates underway are in, the best stays
        // the best, and hill_climb would take it as every parent.
        worse.on = true
        yield* TestClock.adjust("4 seconds")
        const best = (yield* stores.bestPrograms(handle.runId, 1))[0]!.id
        expect(seen.at(-1)!.parent).toBe(best)
        // Banned, it is never a parent again: hill_climb takes the best of the rest.
        const banned = yield* handle.client.Ban({ programId: best })
        expect(banned.banned).toEqual([best])
        const afterBan = seen.length + 1
        yield* TestClock.adjust("10 seconds")
        expect(seen.slice(afterBan).length).toBeGreaterThanOrEqual(4)
        expect(seen.slice(afterBan).every((s) => s.parent !== best)).toBe(true)
        expect((yield* stores.bestPrograms(handle.runId, 1))[0]!.id).toBe(best)
        expect(yield* Effect.flip(handle.client.Pin({ programIds: [best] }))).toMatchObject({ _tag: "SteeringRefused" })
        yield* stop(handle, {})
      }).pipe(Effect.provide(services(seen, worse)))
    }))

  it.scoped("an injected program is evaluated next, joins the population and is marked human", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      yield* Effect.gen(function*() {
        const handle = yield* startNew(30)
        yield* TestClock.adjust("4500 millis")
        const before = yield* handle.stats
        const injected = yield* handle.client.Inject({ code: "score = 1000\n", note: "a person's idea" })
        expect(injected.steering.injected).toEqual([injected.programId])
        expect(yield* Effect.flip(handle.client.Inject({ code: "score = 1000\n" }))).toMatchObject({ _tag: "SteeringRefused" })
        yield* TestClock.adjust("3 seconds")
        const stores = yield* allStores
        const program = yield* stores.getProgram(injected.programId)
        expect(program).toMatchObject({ status: "evaluated", score: 1000, llm: { model: "human", inputTokens: 0 } })
        expect(program.parentId).toBe(before.bestProgramId)
        const stats = yield* handle.stats
        expect(stats.bestProgramId).toBe(injected.programId)
        // hill_climb: the injected program is now every proposal's parent.
        yield* TestClock.adjust("4 seconds")
        expect(seen.at(-1)!.parent).toBe(injected.programId)
        yield* stop(handle, {})
      }).pipe(Effect.provide(services(seen)))
    }))

  it.scoped("steering survives a stop and a resume from the database; a run that is not running refuses it", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      yield* Effect.gen(function*() {
        const first = yield* startNew(60)
        yield* TestClock.adjust("6500 millis")
        const root = (yield* (yield* allStores).bestPrograms(first.runId, 100)).at(-1)!.id
        yield* first.client.AddHint({ text: "Prefer integer arithmetic." })
        yield* first.client.AddHint({ text: "Old advice." })
        yield* first.client.ClearHint({ version: 2 })
        yield* first.client.Pin({ programIds: [root] })
        yield* first.client.SetModelWeight({ model: "test", weight: 2 })
        expect(yield* Effect.flip(first.client.SetModelWeight({ model: "nope", weight: 1 }))).toMatchObject({ _tag: "SteeringRefused" })
        const live = yield* first.client.GetSteering()
        yield* stop(first, { message: "killed" })
        expect(yield* Effect.flip(first.client.AddHint({ text: "too late" }))).toMatchObject({ _tag: "RunNotActive" })

        const resumed = yield* startLocal({ _tag: "Resume", runId: first.runId as RunId, spec: spec(60) })
        const again = yield* resumed.client.GetSteering()
        expect(again.guidance).toEqual(live.guidance)
        expect(again.pinned).toEqual([root])
        expect(again.modelWeights).toEqual({ test: 2 })
        const from = seen.length
        yield* TestClock.adjust("8 seconds")
        expect(seen.length - from).toBeGreaterThanOrEqual(3)
        expect(seen.slice(from).every((s) => s.parent === root && s.guidance === "- Prefer integer arithmetic.")).toBe(true)
        yield* stop(resumed, {})
      }).pipe(Effect.provide(services(seen)))
    }))

  it.scoped("a finished run refuses steering: RunNotActive", () =>
    Effect.gen(function*() {
      const seen: Array<Seen> = []
      yield* Effect.gen(function*() {
        const handle = yield* startNew(2)
        const done = yield* Effect.fork(handle.await)
        yield* TestClock.adjust("1 hour")
        expect((yield* Fiber.join(done)).stopReason).toBe("max_evaluations")
        expect(yield* Effect.flip(handle.client.Ban({ programId: ProgramId.make("p_x") }))).toMatchObject({ _tag: "RunNotActive" })
      }).pipe(Effect.provide(services(seen)))
    }))
})
