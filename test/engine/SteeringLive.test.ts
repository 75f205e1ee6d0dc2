/**
 * Steering a run hosted by the RunManager (what `evolve serve` and `evolve steer` use), with the
 * real proposer and LLM client against the fake OpenAI server: the hint is in the prompts the
 * server receives after it, the action is a stored event, a run that is not running refuses
 * steering (RunConflict: HTTP 409), and an extended (resumed) run keeps its guidance.
 */
import { describe, expect, it } from "@effect/vitest"
import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { Effect, Exit, Layer, Option, Schema, Scope, Stream } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import { ProgramId } from "../../src/domain/Ids.js"
import { RunConfig, type RunSpec } from "../../src/domain/RunConfig.js"
import * as RunManager from "../../src/engine/RunManager.js"
import * as RunServices from "../../src/engine/RunServices.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import { fakeOpenAiServer, type RecordedRequest } from "../support/FakeOpenAiServer.js"

/** Scores the number the program assigns (the fake server's answers nudge it). */
const evaluator = Layer.succeed(Evaluator, {
  evaluate: (request) =>
    Effect.gen(function*() {
      yield* Effect.sleep("5 millis")
      const score = Number(/x = (-?[\d.]+)/.exec(request.code)?.[1] ?? 0)
      return { _tag: "Scored", metrics: { score }, score, feedback: null, durationMs: 5 } as const
    })
})

const spec = (url: string, maxEvaluations: number): RunSpec => ({
  programPath: "/tmp/program.py",
  evaluatorPath: "/tmp/evaluator.py",
  config: Schema.decodeUnknownSync(RunConfig)({
    max_evaluations: maxEvaluations,
    concurrency: { proposals: 1, evaluations: 1 },
    language: "python",
    llm: { provider: "openai-chat", model: "fake-model", base_url: url, api_key_env: "EVOLVE_STEERING_TEST_NO_KEY", cache: false }
  })
})

const userText = (r: RecordedRequest): string => {
  const messages = r.body.messages as Array<{ role: string; content: string }>
  return messages.filter((m) => m.role === "user").at(-1)?.content ?? ""
}

const until = <A>(check: Effect.Effect<Option.Option<A>, unknown>) =>
  Effect.gen(function*() {
    for (;;) {
      const found = yield* check
      if (Option.isSome(found)) return found.value
      yield* Effect.sleep("10 millis")
    }
  }).pipe(Effect.timeout("20 seconds"))

describe("Steering through the RunManager", () => {
  it.scopedLive("a hint reaches the LLM's next prompts; steering is an event, refused when the run is not running, kept when it runs again", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const server = yield* fakeOpenAiServer({ latency: 20 })
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        RunManager.layer({
          llmConcurrency: 2,
          evaluationConcurrency: 2,
          resumeOnStart: false,
          databasePath: `${dir}/evolve.db`,
          environment: (s) => RunServices.layer(s, { evaluator })
        }).pipe(Layer.provideMerge(Db.layer(`${dir}/evolve.db`))),
        scope
      )
      const manager = Effect.runSync(Effect.provide(RunManager.RunManager, context))
      const id = yield* manager.create(spec(server.url, 100_000), "x = 1\n")
      yield* until(Effect.sync(() => (server.requests.length >= 2 ? Option.some(true) : Option.none())))

      const hint = "Prefer closed-form formulas over loops."
      const steered = yield* manager.steer(id, { _tag: "AddHint", text: hint })
      expect(steered.steering.guidance.map((h) => h.text)).toEqual([hint])
      // The request underway when the hint came was sent before it; every later one carries it.
      const at = server.requests.length
      yield* until(Effect.sync(() => (server.requests.length >= at + 4 ? Option.some(true) : Option.none())))
      expect(server.requests.slice(0, at - 1).some((r) => userText(r).includes(hint))).toBe(false)
      const after = server.requests.slice(at + 1)
      expect(after.length).toBeGreaterThanOrEqual(2)
      for (const r of after) expect(userText(r)).toContain(`# Guidance from the user (follow it)\n- ${hint}`)

      const refused = yield* Effect.flip(manager.steer(id, { _tag: "Ban", programId: ProgramId.make("p_unknown") }))
      expect(refused).toMatchObject({ _tag: "SteeringInvalid" })

      yield* manager.stop(id)
      yield* until(Effect.map(manager.get(id), (i) => (Option.isNone(i.live) ? Option.some(i) : Option.none())))
      expect(yield* Effect.flip(manager.steer(id, { _tag: "AddHint", text: "late" }))).toMatchObject({ _tag: "RunConflict" })
      expect((yield* manager.steering(id)).guidance.map((h) => h.text)).toEqual([hint])

      const events = yield* manager.events(id, 0).pipe(
        Stream.takeUntil((e) => e.type === "RunSteered"),
        Stream.runCollect
      )
      expect(JSON.parse([...events].at(-1)!.data)).toMatchObject({ action: "AddHint", seq: 1, summary: `hint added: ${hint}` })

      // Extend: the stopped run runs again, with its guidance.
      const evaluated = (yield* manager.get(id)).overview.evaluated
      const resumedAt = server.requests.length
      yield* manager.extend(id, evaluated + 6)
      yield* until(Effect.map(manager.get(id), (i) => (i.overview.status === "completed" && Option.isNone(i.live) ? Option.some(i) : Option.none())))
      const resumed = server.requests.slice(resumedAt)
      expect(resumed.length).toBeGreaterThanOrEqual(3)
      for (const r of resumed) expect(userText(r)).toContain(hint)
      yield* Scope.close(scope, Exit.void)
    }).pipe(Effect.provide(NodeContext.layer)))
})
