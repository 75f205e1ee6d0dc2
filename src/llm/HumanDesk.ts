/**
 * The `human` provider (issue 17, OpenEvolve's manual mode): a prompt to a model of provider
 * `human` waits on a desk until a person answers it with code (the web UI, `evolve prompts` /
 * `evolve answer`). The desk lives in the process that hosts runs (`evolve serve`); the runs it
 * starts carry it, and their own id, in fiber refs, so a proposal's prompt is queued under its
 * run. Without a desk a human model fails its call at once (the breaker then leaves the other
 * models of an ensemble to answer).
 */
import * as AiError from "@effect/ai/AiError"
import * as LanguageModel from "@effect/ai/LanguageModel"
import type * as Prompt from "@effect/ai/Prompt"
import type * as Response from "@effect/ai/Response"
import { Clock, Deferred, Effect, FiberRef, Option, Random, Schema, Stream } from "effect"

/** A prompt waiting on a desk (also a message of the run's entity and an answer of the HTTP API). */
export const HumanPrompt = Schema.Struct({
  id: Schema.String,
  runId: Schema.NullOr(Schema.String),
  model: Schema.String,
  system: Schema.String,
  user: Schema.String,
  at: Schema.Number
})
export type HumanPrompt = typeof HumanPrompt.Type

export interface HumanDesk {
  /** Prompts waiting for an answer, oldest first (of one run, when given). */
  readonly pending: (runId?: string) => Effect.Effect<ReadonlyArray<HumanPrompt>>
  /** Answers a waiting prompt; false when no prompt has that id (answered already, or gone). */
  readonly answer: (id: string, text: string) => Effect.Effect<boolean>
  /** Queues a prompt and waits for its answer (interrupting the wait takes it off the desk). */
  readonly ask: (prompt: Omit<HumanPrompt, "id" | "at">) => Effect.Effect<string>
}

/** An in-memory desk. */
export const make: Effect.Effect<HumanDesk> = Effect.sync(() => {
  const waiting = new Map<string, { readonly prompt: HumanPrompt; readonly reply: Deferred.Deferred<string> }>()
  // Numbered, since runs with the same seed draw the same random suffixes.
  let asked = 0
  return {
    pending: (runId) =>
      Effect.sync(() => [...waiting.values()].map((w) => w.prompt).filter((p) => runId === undefined || p.runId === runId)),
    answer: (id, text) =>
      Effect.suspend(() => {
        const entry = waiting.get(id)
        if (entry === undefined) return Effect.succeed(false)
        waiting.delete(id)
        return Deferred.succeed(entry.reply, text)
      }),
    ask: (fields) =>
      Effect.gen(function*() {
        let suffix = ""
        for (let i = 0; i < 8; i++) suffix += "0123456789abcdefghijklmnopqrstuvwxyz"[yield* Random.nextIntBetween(0, 36)]
        const prompt: HumanPrompt = { ...fields, id: `q_${++asked}${suffix}`, at: yield* Clock.currentTimeMillis }
        const reply = yield* Deferred.make<string>()
        waiting.set(prompt.id, { prompt, reply })
        return yield* Deferred.await(reply).pipe(Effect.ensuring(Effect.sync(() => waiting.delete(prompt.id))))
      })
  }
})

/** The desk of the process hosting the current run (none outside `evolve serve`). */
export const currentDesk: FiberRef.FiberRef<Option.Option<HumanDesk>> = FiberRef.unsafeMake(Option.none())
/** The run the current fiber works for (set by the run's actor). */
export const currentRun: FiberRef.FiberRef<string | null> = FiberRef.unsafeMake<string | null>(null)

const text = (message: Prompt.Message): string =>
  typeof message.content === "string" ? message.content : message.content.map((p) => (p.type === "text" ? p.text : "")).join("\n")

const answer = (model: string, options: LanguageModel.ProviderOptions) =>
  Effect.gen(function*() {
    const desk = yield* FiberRef.get(currentDesk)
    if (Option.isNone(desk)) {
      return yield* new AiError.UnknownError({
        module: "HumanDesk",
        method: "generateText",
        description: "provider human: nobody to ask — run it under `evolve serve`, whose web UI and `evolve prompts` / `evolve answer` answer the prompts"
      })
    }
    const messages = options.prompt.content
    return yield* desk.value.ask({
      runId: yield* FiberRef.get(currentRun),
      model,
      system: messages.filter((m) => m.role === "system").map(text).join("\n"),
      user: messages.filter((m) => m.role === "user").map(text).at(-1) ?? ""
    })
  })

/** A person's answer costs no tokens. */
const noUsage = { inputTokens: 0, outputTokens: 0, totalTokens: 0 }

/** The `LanguageModel` of a `human` model: each prompt waits on the desk for a person's answer. */
export const languageModel = (model: string): Effect.Effect<LanguageModel.Service> =>
  LanguageModel.make({
    generateText: (options) =>
      Effect.map(answer(model, options), (reply): Array<Response.PartEncoded> => [
        { type: "text", text: reply },
        { type: "finish", reason: "stop", usage: noUsage }
      ]),
    streamText: (options) =>
      Stream.unwrap(Effect.map(answer(model, options), (reply) =>
        Stream.fromIterable<Response.StreamPartEncoded>([
          { type: "text-start", id: "human" },
          { type: "text-delta", id: "human", delta: reply },
          { type: "text-end", id: "human" },
          { type: "finish", reason: "stop", usage: noUsage }
        ])))
  })
