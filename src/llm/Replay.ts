/**
 * Recording and replaying LLM calls.
 *
 * `evolve run --record FILE` appends one JSON line per finished call (of any provider) to FILE:
 * the model name, the request, a key = sha256(model name, system, user), and either the reply
 * (text, tokens, USD, latency, attempts, finish reason) or the final error. The `replay`
 * provider answers from such a file: the n-th call with a given key gets the n-th recorded
 * entry for that key (the last one again once they run out), replies and failures alike, with
 * the recorded accounting, after the recorded latency (so a replayed run interleaves like the
 * recorded one; a run recorded with P = 1 whose interleaving does not depend on evaluation
 * timing replays exactly). A key recorded under
 * another model name still matches on (system, user). Unknown requests fail with reason
 * "bad_request" (never retried). API keys are never part of a record.
 *
 * A recording also holds the run's steering actions (issue 17), one line each, with the point
 * of the run at which the run's owner took them (`step`: the results it had handled before,
 * see RunActor), so a replayed run takes them again at the same point and a steered run
 * replays as exactly as an unsteered one. Programs an action names (pin, ban) are recorded
 * with their code hash: the replayed run's program ids differ, its programs' code does not.
 * Likewise the step at which the owner applied each result of background work (a meta-note, an
 * LLM call that runs beside the proposals): a replayed run applies it at the same step, so the
 * proposals after it are built as they were.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { createHash } from "node:crypto"
import { Context, Effect, Either, Layer, Option, Schema } from "effect"
import { ConfigError, type LlmError, type LlmErrorReason } from "../domain/Errors.js"
import { LlmUsage, usageOf } from "../domain/LlmUsage.js"
import { SteeringAction } from "../domain/Steering.js"

export const requestKey = (model: string, system: string, user: string): string =>
  createHash("sha256").update(JSON.stringify([model, system, user])).digest("hex")

const promptKey = (system: string, user: string): string =>
  createHash("sha256").update(JSON.stringify(["*", system, user])).digest("hex")

/** A reply with its accounting; the model is the entry's. */
export const RecordedReply = Schema.Struct({
  text: Schema.String,
  ...LlmUsage.omit("model").fields,
  finishReason: Schema.String
})
export type RecordedReply = typeof RecordedReply.Type

export const RecordedError = Schema.Struct({
  reason: Schema.String,
  message: Schema.String,
  status: Schema.optional(Schema.Number),
  attempts: Schema.optional(Schema.Number)
})
export type RecordedError = typeof RecordedError.Type

export const RecordEntry = Schema.Struct({
  v: Schema.Literal(1),
  key: Schema.String,
  model: Schema.String,
  request: Schema.Struct({ system: Schema.String, user: Schema.String }),
  reply: Schema.optional(RecordedReply),
  error: Schema.optional(RecordedError)
})
export type RecordEntry = typeof RecordEntry.Type

/** A steering action as the run's owner took it, and where. */
export const RecordedSteering = Schema.Struct({
  /** Results (proposals, evaluations, background work) the run's owner had handled when it took the action. */
  step: Schema.Int.pipe(Schema.nonNegative()),
  action: SteeringAction,
  /** The code hash of each program the action names (pin, ban), by the recorded run's program id. */
  programs: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
})
export type RecordedSteering = typeof RecordedSteering.Type

export const SteeringEntry = Schema.Struct({ v: Schema.Literal(1), steer: RecordedSteering })
export type SteeringEntry = typeof SteeringEntry.Type

/** The owner applied the result of background work (a meta-note) after `step` results. */
export const AppliedEntry = Schema.Struct({ v: Schema.Literal(1), applied: Schema.Struct({ step: Schema.Int.pipe(Schema.nonNegative()) }) })
export type AppliedEntry = typeof AppliedEntry.Type

/** One line of a recording: an LLM call, a steering action, or where a background result was applied. */
export const RecordLine = Schema.Union(RecordEntry, SteeringEntry, AppliedEntry)
export type RecordLine = typeof RecordLine.Type

const isCall = (line: RecordLine): line is RecordEntry => "key" in line

const encodeLine = Schema.encodeSync(Schema.parseJson(RecordLine))
const decodeLine = Schema.decodeUnknownEither(Schema.parseJson(RecordLine))

// -----------------------------------------------------------------------------
// Recorder
// -----------------------------------------------------------------------------

/** A finished call: its reply with the accounting, or its final error with the accounting. */
export type CallResult = Either.Either<
  LlmUsage & { readonly text: string; readonly finishReason: string },
  LlmUsage & LlmError
>

export interface RecordedRequest {
  readonly system: string
  readonly user: string
}

/** Where finished calls and steering actions are recorded (`evolve run --record FILE`). */
export class LlmRecorder extends Context.Tag("evolve/LlmRecorder")<LlmRecorder, {
  readonly record: (request: RecordedRequest, result: CallResult) => Effect.Effect<void>
  readonly steer: (steering: RecordedSteering) => Effect.Effect<void>
  readonly applied: (step: number) => Effect.Effect<void>
}>() {
  /** Records nothing. */
  static readonly none: Layer.Layer<LlmRecorder> = Layer.succeed(LlmRecorder, {
    record: () => Effect.void,
    steer: () => Effect.void,
    applied: () => Effect.void
  })
}

/** The record of a finished call. */
export const recordEntryOf = (request: RecordedRequest, result: CallResult): RecordEntry => {
  const model = Either.isRight(result) ? result.right.model : result.left.model
  return {
    v: 1,
    key: requestKey(model, request.system, request.user),
    model,
    request: { system: request.system, user: request.user },
    ...Either.match(result, {
      onRight: (reply) => {
        const { model: _, ...usage } = usageOf(reply)
        return { reply: { text: reply.text, ...usage, finishReason: reply.finishReason } }
      },
      onLeft: (error) => ({
        error: {
          reason: error.reason,
          message: error.message,
          ...(error.status !== undefined ? { status: error.status } : {}),
          attempts: error.attempts
        }
      })
    })
  }
}

/** Appends to `file` (created when missing); one line per call, written in call-finish order. */
export const recorderLayer = (file: string): Layer.Layer<LlmRecorder, ConfigError, FileSystem.FileSystem> =>
  Layer.effect(
    LlmRecorder,
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(file, "", { flag: "a" }).pipe(
        Effect.mapError((e) => new ConfigError({ message: `--record ${file}: cannot write: ${e.message}` }))
      )
      const lock = yield* Effect.makeSemaphore(1)
      const append = (line: RecordLine, what: string) =>
        lock.withPermits(1)(fs.writeFileString(file, `${encodeLine(line)}\n`, { flag: "a" })).pipe(
          Effect.catchAll((e) => Effect.logWarning(`could not record ${what} to ${file}: ${e.message}`))
        )
      return {
        record: (request, result) => append(recordEntryOf(request, result), "an LLM call"),
        steer: (steer) => append({ v: 1, steer }, "a steering action"),
        applied: (step) => append({ v: 1, applied: { step } }, "a background result")
      }
    })
  )

/** An in-memory recorder (tests): lines go to `sink`. */
export const recorderMemory = (sink: Array<RecordLine>): Layer.Layer<LlmRecorder> =>
  Layer.succeed(LlmRecorder, {
    record: (request, result) => Effect.sync(() => void sink.push(recordEntryOf(request, result))),
    steer: (steer) => Effect.sync(() => void sink.push({ v: 1, steer })),
    applied: (step) => Effect.sync(() => void sink.push({ v: 1, applied: { step } }))
  })

// -----------------------------------------------------------------------------
// Replay
// -----------------------------------------------------------------------------

export type ReplayAnswer =
  | { readonly _tag: "Reply"; readonly reply: RecordedReply }
  | { readonly _tag: "Error"; readonly error: RecordedError & { readonly reason: LlmErrorReason } }

export interface ReplayIndex {
  readonly file: string
  /** Recorded LLM calls. */
  readonly size: number
  readonly lookup: (model: string, system: string, user: string) => ReplayAnswer | undefined
  /** Recorded steering actions, in the order they were taken. */
  readonly steering: ReadonlyArray<RecordedSteering>
  /** The steps at which background results were applied, in order. */
  readonly applied: ReadonlyArray<number>
}

export const makeReplayIndex = (file: string, lines: ReadonlyArray<RecordLine>): ReplayIndex => {
  const entries = lines.filter(isCall)
  const steering = lines.flatMap((l) => ("steer" in l ? [l.steer] : []))
  const applied = lines.flatMap((l) => ("applied" in l ? [l.applied.step] : []))
  const byKey = new Map<string, Array<RecordEntry>>()
  const byPrompt = new Map<string, Array<RecordEntry>>()
  const push = (map: Map<string, Array<RecordEntry>>, key: string, e: RecordEntry) => {
    const list = map.get(key)
    if (list === undefined) map.set(key, [e])
    else list.push(e)
  }
  for (const e of entries) {
    push(byKey, e.key, e)
    push(byPrompt, promptKey(e.request.system, e.request.user), e)
  }
  const cursors = new Map<string, number>()
  const take = (key: string, list: Array<RecordEntry>): RecordEntry => {
    const i = cursors.get(key) ?? 0
    cursors.set(key, i + 1)
    return list[Math.min(i, list.length - 1)]!
  }
  return {
    file,
    size: entries.length,
    steering,
    applied,
    lookup: (model, system, user) => {
      const key = requestKey(model, system, user)
      const exact = byKey.get(key)
      const pk = promptKey(system, user)
      const entry = exact !== undefined ? take(key, exact) : byPrompt.has(pk) ? take(`*${pk}`, byPrompt.get(pk)!) : undefined
      if (entry === undefined) return undefined
      if (entry.reply !== undefined) return { _tag: "Reply", reply: entry.reply }
      const error = entry.error ?? { reason: "malformed", message: "recorded entry has neither reply nor error" }
      return { _tag: "Error", error: { ...error, reason: error.reason as LlmErrorReason } }
    }
  }
}

/** Recorded files, loaded once, for the replay provider. */
export class ReplayLog extends Context.Tag("evolve/ReplayLog")<ReplayLog, {
  readonly index: (file: string) => Option.Option<ReplayIndex>
}>() {
  /** No recording: a `provider: replay` model fails every call with "no recording loaded". */
  static readonly none: Layer.Layer<ReplayLog> = Layer.succeed(ReplayLog, { index: () => Option.none() })
}

export const parseRecording = (file: string, text: string): Effect.Effect<Array<RecordLine>, ConfigError> =>
  Effect.gen(function*() {
    const out: Array<RecordLine> = []
    const lines = text.split("\n")
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim()
      if (line === "") continue
      const decoded = decodeLine(line)
      if (decoded._tag === "Left") {
        // A torn last line (the recording process was killed mid-write) is skipped.
        if (i >= lines.length - 2) continue
        return yield* new ConfigError({ message: `${file}:${i + 1}: not a recorded LLM call, steering action or background result`, file })
      }
      out.push(decoded.right)
    }
    return out
  })

/** Loads each file once. */
export const replayLayer = (files: ReadonlyArray<string>): Layer.Layer<ReplayLog, ConfigError, FileSystem.FileSystem> =>
  Layer.effect(
    ReplayLog,
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const indexes = new Map<string, ReplayIndex>()
      for (const file of new Set(files)) {
        const text = yield* fs.readFileString(file).pipe(
          Effect.mapError((e) => new ConfigError({ message: `replay file ${file}: ${e.message}`, file }))
        )
        indexes.set(file, makeReplayIndex(file, yield* parseRecording(file, text)))
      }
      return { index: (file) => Option.fromNullable(indexes.get(file)) }
    })
  )

/** Replay from entries in memory (tests). */
export const replayMemory = (file: string, entries: ReadonlyArray<RecordLine>): Layer.Layer<ReplayLog> =>
  Layer.sync(ReplayLog, () => {
    const index = makeReplayIndex(file, entries)
    return { index: (f) => (f === file ? Option.some(index) : Option.none()) }
  })
