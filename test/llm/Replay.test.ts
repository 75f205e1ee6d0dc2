import { FileSystem } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Queue, Schema, type Scope } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import * as NodeHttp from "../../src/llm/NodeHttp.js"
import { LlmConfig, RunConfig } from "../../src/domain/RunConfig.js"
import type { RunEvent } from "../../src/domain/RunEvent.js"
import { ProgramId } from "../../src/domain/Ids.js"
import type { RunHandle } from "../../src/engine/RunHandle.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import { EmbeddingClient } from "../../src/llm/Embeddings.js"
import { LlmCache } from "../../src/llm/LlmCache.js"
import { LlmClient, type LlmRequest } from "../../src/llm/LlmClient.js"
import * as LlmClientLive from "../../src/llm/LlmClientLive.js"
import * as Replay from "../../src/llm/Replay.js"
import * as Proposer from "../../src/propose/Proposer.js"
import { type FakeOpenAiServer, fakeOpenAiServer } from "../support/FakeOpenAiServer.js"
import { specWith } from "../support/runFixtures.js"
import { allStores } from "../support/database.js"
import { runDefaults, startLocal } from "../support/engine.js"

const request = (i: number): LlmRequest => ({
  system: "You evolve programs.",
  user: `Attempt ${i % 3}.\n\n\`\`\`python\nx = 1.25\ny = 7\n\`\`\`\n`
})

/** What a recording client needs besides its recorder, and a replaying one besides its log. */
const recording = [NodeHttp.layer, LlmCache.disabled, Replay.ReplayLog.none] as const
const replaying = [NodeHttp.layer, LlmCache.disabled, Replay.LlmRecorder.none] as const

const recordingClient = (server: FakeOpenAiServer, recorder: Layer.Layer<Replay.LlmRecorder>) =>
  LlmClientLive.layer(LlmConfig.make({ provider: "openai-chat", model: "rec-model", base_url: server.url, max_retries: 0 })).pipe(
    Layer.provide([...recording, recorder])
  )

const replayClient = <E>(file: string, log: Layer.Layer<Replay.ReplayLog, E>) =>
  LlmClientLive.layer(LlmConfig.make({ provider: "replay", model: "rec-model", replay_file: file })).pipe(
    Layer.provide([...replaying, log])
  )

const calls = (n: number) =>
  Effect.flatMap(LlmClient, (llm) => Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => Effect.either(llm.complete(request(i)))))

describe("record and replay", () => {
  it.live("replays replies and failures exactly, with their accounting, per key in order", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ seed: 3, faults: { sequence: ["ok", "ok", "400", "ok", "ok", "ok"] } })
      const sink: Array<Replay.RecordEntry> = []
      const recorded = yield* calls(6).pipe(Effect.provide(recordingClient(server, Replay.recorderMemory(sink))))
      expect(sink).toHaveLength(6)
      expect(Either.isLeft(recorded[2]!)).toBe(true)
      // Requests 0 and 3 are identical prompts with different answers: replayed in recorded order.
      expect(sink[0]!.key).toBe(sink[3]!.key)

      const replayed = yield* calls(6).pipe(Effect.provide(replayClient("mem", Replay.replayMemory("mem", sink))))
      const norm = (r: (typeof recorded)[number]) =>
        Either.isRight(r) ? { ok: r.right } : { error: { reason: r.left.reason, message: r.left.message } }
      expect(replayed.map(norm)).toEqual(recorded.map(norm))
      expect(server.requests).toHaveLength(6) // replay sent nothing

      // An unknown request is a bad_request, never retried.
      const unknown = yield* Effect.flatMap(LlmClient, (l) => Effect.either(l.complete({ system: "?", user: "?" }))).pipe(
        Effect.provide(replayClient("mem", Replay.replayMemory("mem", sink)))
      )
      expect(Either.isLeft(unknown) && unknown.left.reason).toBe("bad_request")
    }).pipe(Effect.scoped))

  it.scoped("records to a JSONL file and replays from it (no API key in the file)", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const file = `${dir}/calls.jsonl`
      const server = yield* fakeOpenAiServer({ requireApiKey: "sk-SECRET-recording-key" })
      const recorder = Replay.recorderLayer(file).pipe(Layer.provide(NodeContext.layer))
      const client = LlmClientLive.layerWithKey(
        LlmConfig.make({ provider: "openai-chat", model: "rec-model", base_url: server.url }),
        "sk-SECRET-recording-key"
      ).pipe(Layer.provide([...recording, recorder]))
      // A steering action goes into the same file, between the calls.
      const steering: Replay.RecordedSteering = { step: 2, action: { _tag: "Ban", programId: ProgramId.make("p_1") }, programs: { p_1: "h1" } }
      const recorded = yield* Effect.zipLeft(
        calls(4),
        Effect.flatMap(LlmClient, (llm) => llm.recording.steer(steering))
      ).pipe(Effect.provide(client))
      const text = yield* fs.readFileString(file)
      expect(text.trim().split("\n")).toHaveLength(5)
      expect(text).not.toContain("SECRET")
      const log = Replay.replayLayer([file]).pipe(Layer.provide(NodeContext.layer))
      const [replayed, replayedSteering] = yield* Effect.zip(calls(4), Effect.map(LlmClient, (llm) => llm.recording.replayed.steering)).pipe(
        Effect.provide(replayClient(file, log))
      )
      expect(replayed.map((r) => Either.getOrThrow(r).text)).toEqual(recorded.map((r) => Either.getOrThrow(r).text))
      expect(replayedSteering).toEqual([steering])
    }).pipe(Effect.provide(NodeContext.layer), Effect.timeout("20 seconds")))

  it.live("a recorded evolution run (P = 1) replays to the same programs and scores", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ seed: 5 })
      const sink: Array<Replay.RecordLine> = []
      const recorded = yield* recordedRun(server, sink, { maxEvaluations: 8 })
      const replayed = yield* replayedRun(sink, { maxEvaluations: 8 })
      expect(recorded.evaluated.length).toBeGreaterThanOrEqual(5)
      expect(replayed.evaluated).toEqual(recorded.evaluated)
      expect(replayed.calls).toEqual(recorded.calls)
    }).pipe(Effect.scoped))

  it.live("a run with meta-notes replays exactly: the same programs, scores, notes and stored calls", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ seed: 5 })
      const sink: Array<Replay.RecordLine> = []
      const recorded = yield* recordedRun(server, sink, { maxEvaluations: 14, metaNoteEvery: 4 })
      expect(recorded.notes.length).toBeGreaterThanOrEqual(2)
      expect(recorded.calls.filter((c) => c.startsWith("meta_note ok"))).toHaveLength(recorded.notes.length)
      const replayed = yield* replayedRun(sink, { maxEvaluations: 14, metaNoteEvery: 4 })
      expect(replayed.evaluated).toEqual(recorded.evaluated)
      expect(replayed.notes).toEqual(recorded.notes)
      expect(replayed.calls).toEqual(recorded.calls)

      // A recording without meta-notes (an older evolve, or notes off): each note's call finds no
      // recorded answer, is stored as failed (with a warning) and writes no note; the run replays alike.
      const older: Array<Replay.RecordLine> = []
      const plain = yield* recordedRun(server, older, { maxEvaluations: 14 })
      const withNotes = yield* replayedRun(older, { maxEvaluations: 14, metaNoteEvery: 4 })
      expect(withNotes.evaluated).toEqual(plain.evaluated)
      expect(withNotes.notes).toEqual([])
      expect(withNotes.calls.filter((c) => c.startsWith("meta_note")).every((c) => c.startsWith("meta_note error"))).toBe(true)
      expect(withNotes.calls.filter((c) => c.startsWith("meta_note")).length).toBeGreaterThanOrEqual(2)
    }).pipe(Effect.scoped, Effect.timeout("60 seconds")))

  it.live("a run steered mid-run (hint, pin, inject) replays its steering at the same points, to the same programs and scores", () =>
    Effect.gen(function*() {
      const server = yield* fakeOpenAiServer({ seed: 5 })
      const sink: Array<Replay.RecordLine> = []
      // After the third evaluation a person adds a hint, pins the initial program and injects one.
      const steer = (handle: RunHandle) =>
        Effect.gen(function*() {
          const events = yield* handle.subscribe
          const scored: Array<ProgramId> = []
          while (scored.length < 3) {
            const e = yield* Queue.take(events)
            if (e._tag === "CandidateEvaluated") scored.push(e.programId)
          }
          yield* handle.client.AddHint({ text: "Move x towards 3 in small steps." })
          yield* handle.client.Pin({ programIds: [scored[0]!] })
          yield* handle.client.Inject({ code: "x = 2.5\ny = 7\n", note: "by hand" })
        })
      const recorded = yield* recordedRun(server, sink, { maxEvaluations: 12, steer })
      expect(recorded.steered).toEqual(["AddHint", "Pin", "Inject"])
      // The hint reached the prompts sent after it.
      expect(server.requests.some((r) => JSON.stringify(r.body.messages).includes("Move x towards 3 in small steps."))).toBe(true)
      const steering = sink.flatMap((l) => ("steer" in l ? [l.steer] : []))
      expect(steering.map((s) => s.action._tag)).toEqual(["AddHint", "Pin", "Inject"])
      expect(steering[0]!.step).toBeGreaterThanOrEqual(3)
      expect(Object.values(steering[1]!.programs ?? {})).toHaveLength(1)
      expect(recorded.evaluated).toContain("x = 2.5\ny = 7 => -0.5")

      // Replayed with no person around: the recording's steering is taken again where it was.
      const sent = server.requests.length
      const replayed = yield* replayedRun(sink, { maxEvaluations: 12 })
      expect(replayed.steered).toEqual(["AddHint", "Pin", "Inject"])
      expect(replayed.evaluated).toEqual(recorded.evaluated)
      expect(server.requests.length).toBe(sent) // replay sent nothing

      // The calls alone do not replay the run: its prompts differ once the hint is missing.
      const callsOnly = yield* replayedRun(sink.filter((l) => !("steer" in l)), { maxEvaluations: 12 })
      expect(callsOnly.evaluated).not.toEqual(recorded.evaluated)
    }).pipe(Effect.scoped, Effect.timeout("60 seconds")))
})

const runConfig = (maxEvaluations: number, metaNoteEvery = 0): typeof RunConfig.Encoded => ({
  max_evaluations: maxEvaluations,
  seed: 9,
  concurrency: { proposals: 1, evaluations: 1 },
  language: "python",
  search: { meta_note_every: metaNoteEvery }
})

// Score: the closer x is to 3, the better.
const xEvaluator = Layer.succeed(Evaluator, {
  evaluate: (r) =>
    Effect.sync(() => {
      const x = Number(/x = ([\d.]+)/.exec(r.code)?.[1] ?? 0)
      const score = -Math.abs(3 - x)
      return { _tag: "Scored", metrics: { score }, score, feedback: null, durationMs: 1 } as const
    })
})

interface RunOptions {
  readonly maxEvaluations: number
  readonly metaNoteEvery?: number
  readonly steer?: (handle: RunHandle) => Effect.Effect<unknown, unknown, Scope.Scope>
}

/**
 * A run to its end: each evaluated program's code and score, the steering actions taken and the
 * meta-notes written, in order, and the LLM calls stored (purpose, tokens, outcome).
 */
const runWith = (llm: Layer.Layer<LlmClient>, { maxEvaluations, metaNoteEvery = 0, steer }: RunOptions) =>
  Effect.gen(function*() {
    const handle = yield* startLocal({ _tag: "New", spec: { ...specWith(), config: Schema.decodeSync(RunConfig)(runConfig(maxEvaluations, metaNoteEvery)) }, initialCode: "x = 1.25\ny = 7\n" })
    const events = yield* handle.subscribe
    if (steer !== undefined) yield* Effect.forkScoped(Effect.orDie(steer(handle)))
    yield* handle.await
    const all = (yield* Queue.takeAll(events)) as Iterable<RunEvent>
    const db = yield* allStores
    const evaluated: Array<string> = []
    const steered: Array<string> = []
    const notes: Array<string> = []
    for (const e of all) {
      if (e._tag === "CandidateEvaluated") evaluated.push(`${(yield* db.getProgram(e.programId)).code.trim()} => ${e.score}`)
      if (e._tag === "RunSteered") steered.push(e.action)
      if (e._tag === "SearchAdapted" && e.kind === "note_written") notes.push(`${e.reason}: ${e.note}`)
    }
    const sql = yield* SqlClient.SqlClient
    const calls = yield* sql<{ purpose: string; input_tokens: number; output_tokens: number; outcome: string }>`
      SELECT purpose, input_tokens, output_tokens, outcome FROM llm_calls`
    // The calls as a multiset: their timestamps (and so their order in time) are not part of a replay.
    return { evaluated, steered, notes, calls: calls.map((c) => `${c.purpose} ${c.outcome} ${c.input_tokens}/${c.output_tokens}`).sort() }
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.mergeAll(
      runDefaults,
      Proposer.layer({ goal: "x near 3", language: "python", editFormat: "diff", maxCodeBytes: 10_000 }).pipe(
        Layer.provide(EmbeddingClient.offline),
        Layer.provideMerge(llm)
      ),
      xEvaluator,
      Db.layer(":memory:")
    ))
  )

const recordedRun = (server: FakeOpenAiServer, sink: Array<Replay.RecordLine>, options: RunOptions) =>
  runWith(
    LlmClientLive.layer(LlmConfig.make({ provider: "openai-chat", model: "m", base_url: server.url })).pipe(
      Layer.provide([...recording, Replay.recorderMemory(sink)])
    ),
    options
  )

const replayedRun = (lines: ReadonlyArray<Replay.RecordLine>, options: RunOptions) =>
  runWith(
    LlmClientLive.layer(LlmConfig.make({ provider: "replay", model: "m", replay_file: "run" })).pipe(
      Layer.provide([...replaying, Replay.replayMemory("run", lines)])
    ),
    options
  )
