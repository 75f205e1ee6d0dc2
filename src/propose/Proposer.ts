import { Context, Effect, Either, Layer } from "effect"
import type { Program } from "../domain/Program.js"
import { LlmClient, type LlmReply, type LlmRetryInfo } from "../llm/LlmClient.js"
import { applyResponse } from "./Edits.js"
import { buildPrompt } from "./Prompt.js"

export interface ProposalInput {
  readonly parent: Program
  readonly inspirations: ReadonlyArray<Program>
  readonly recentFailures: ReadonlyArray<{ readonly kind: string; readonly message: string }>
}

export type ProposalResult =
  | { readonly _tag: "Proposed"; readonly code: string; readonly patch: string; readonly llm: LlmReply }
  | {
    readonly _tag: "Failed"
    readonly kind: "llm" | "patch"
    readonly message: string
    readonly llm: LlmReply | null
    /** The model's answer when it could not be applied, kept for inspection. */
    readonly response: string | null
    readonly attempts: number
  }

export interface ProposerOptions {
  readonly goal: string
  readonly language: string
  readonly editFormat: "diff" | "full"
  readonly maxCodeBytes: number
}

/** Turns a parent (plus context) into a new candidate program through the LLM. Never fails. */
export class Proposer extends Context.Tag("evolve/Proposer")<Proposer, {
  readonly propose: (
    input: ProposalInput,
    onRetry?: (info: LlmRetryInfo) => Effect.Effect<void>
  ) => Effect.Effect<ProposalResult>
}>() {}

const metricsOf = (p: Program) => p.metrics ?? null

export const make = (options: ProposerOptions) =>
  Effect.gen(function*() {
    const llm = yield* LlmClient
    return Proposer.of({
      propose: Effect.fn("Proposer.propose")(function*(input, onRetry) {
        const prompt = buildPrompt({
          goal: options.goal,
          language: options.language,
          editFormat: options.editFormat,
          parent: {
            code: input.parent.code,
            metrics: metricsOf(input.parent),
            score: input.parent.score,
            feedback: input.parent.feedback ?? (input.parent.failure ? input.parent.failure.message : null)
          },
          inspirations: input.inspirations.map((p) => ({ code: p.code, score: p.score ?? 0, metrics: p.metrics ?? {} })),
          recentFailures: input.recentFailures
        })
        const reply = yield* Effect.either(llm.complete(prompt, onRetry))
        if (Either.isLeft(reply)) {
          const error = reply.left
          return {
            _tag: "Failed",
            kind: "llm",
            message: `${error.reason}: ${error.message}`,
            llm: null,
            response: null,
            attempts: error.attempts ?? 1
          } as const
        }
        const applied = applyResponse(input.parent.code, reply.right.text, {
          format: options.editFormat,
          maxCodeBytes: options.maxCodeBytes
        })
        if (Either.isLeft(applied)) {
          return {
            _tag: "Failed",
            kind: "patch",
            message: `${applied.left.reason}: ${applied.left.message}`,
            llm: reply.right,
            response: reply.right.text,
            attempts: reply.right.attempts
          } as const
        }
        return { _tag: "Proposed", code: applied.right.code, patch: applied.right.patch, llm: reply.right } as const
      })
    })
  })

export const layer = (options: ProposerOptions): Layer.Layer<Proposer, never, LlmClient> =>
  Layer.effect(Proposer, make(options))
