import { Context, Effect, Either, Layer, Option, Random } from "effect"
import { isPacked } from "../domain/ProgramTree.js"
import { applyTreeResponse } from "./TreeEdits.js"
import type { TreePromptOptions } from "./TreePrompt.js"
import type { Program } from "../domain/Program.js"
import type { RunConfig } from "../domain/RunConfig.js"
import { extensionOfLanguage } from "../domain/Languages.js"
import * as AgentWorkspace from "../llm/agent/AgentWorkspace.js"
import { EmbeddingClient } from "../llm/Embeddings.js"
import type { LlmErrorReason } from "../domain/Errors.js"
import { sumUsage } from "../domain/LlmUsage.js"
import { failureAccounting, LlmClient, type LlmReply, type LlmRetryInfo } from "../llm/LlmClient.js"
import { applyResponse, missingSymbols } from "./Edits.js"
import { judgeSystem, judgeUser, makeNoveltyCheck, type Neighbour, type NoveltySettings, type NoveltyVerdict, parseJudgement } from "./Novelty.js"
import { buildPrompt, defaultInstructions, type PromptLimits, type PromptMode } from "./Prompt.js"
import { type AdaptiveInput, wantsRewrite } from "./SearchStatus.js"
import * as Traced from "../domain/Traced.js"

/** Per-run proposal settings (from the run config's `prompt:` and `search:` sections). */
export interface ProposalSettings {
  /** Further LLM calls after an answer that does not apply or fails validation (each gets the reason). */
  readonly maxPatchRetries: number
  /** Names that must stay defined (checked when the parent defines them). */
  readonly requiredSymbols: ReadonlyArray<string>
  /** Instruction variants; one is drawn per proposal when `varyInstructions`. */
  readonly instructions: ReadonlyArray<string>
  readonly varyInstructions: boolean
  readonly limits: Partial<PromptLimits>
  /** Template text; a file that was not inlined when the run was created is refused. */
  readonly systemTemplate?: { readonly text: string } | { readonly file: string } | undefined
  readonly userTemplate?: { readonly text: string } | { readonly file: string } | undefined
  readonly objectives: ReadonlyArray<{ readonly metric: string; readonly direction: "maximize" | "minimize" }>
  /** Multi-file programs: which files may change, new files and deletions, context shown (`files` in config). */
  readonly tree?: TreePromptOptions | undefined
}

export const defaultSettings: ProposalSettings = {
  maxPatchRetries: 0,
  requiredSymbols: [],
  instructions: defaultInstructions,
  varyInstructions: false,
  limits: {},
  objectives: []
}

export interface ProposalInput {
  readonly parent: Program
  readonly inspirations: ReadonlyArray<Program>
  readonly recentFailures: ReadonlyArray<{ readonly kind: string; readonly message: string }>
  /** How the parent was picked; "fix": the parent failed and the prompt asks to fix it. */
  readonly mode?: PromptMode | undefined
  /** Per inspiration (same order), how it was chosen ("top", "migrant from island 2", …). */
  readonly inspirationLabels?: ReadonlyArray<string | undefined> | undefined
  /** Overrides of the layer's settings for this proposal (the engine passes the run's). */
  readonly settings?: Partial<ProposalSettings> | undefined
  /** A person's guidance for the run, shown under the goal ("" or undefined: none). */
  readonly guidance?: string | undefined
  /** Adaptive search (issue 17): exploration level, paradigm shift, meta-note; exploring asks for a full rewrite. */
  readonly adaptive?: AdaptiveInput | undefined
  /** Override of the model's temperature for this proposal (an exploring island runs hotter). */
  readonly temperature?: number | undefined
}

/** One exchange of a proposal with the LLM: the prompt sent and the answer (null when the call failed). */
export interface Exchange {
  readonly model: string
  readonly system: string
  readonly user: string
  readonly response: string | null
}

export type ProposalResult =
  | {
    readonly _tag: "Proposed"
    readonly code: string
    readonly patch: string
    /** Accounting summed over every LLM call of the proposal (retries included). */
    readonly llm: LlmReply
    /** LLM calls made (1 + retries after unusable answers). */
    readonly tries?: number | undefined
    /** What was sent and answered, call by call (absent from proposers that do not report it). */
    readonly exchanges?: ReadonlyArray<Exchange> | undefined
  }
  | {
    readonly _tag: "Failed"
    readonly kind: "llm" | "patch" | "invalid"
    /** For kind "llm": the LLM error's reason, and the server's retry hint if any. */
    readonly reason?: LlmErrorReason | undefined
    readonly retryAfterMs?: number | undefined
    readonly message: string
    /** Accounting of the LLM calls made, failed ones included; null when no call was made. */
    readonly llm: LlmReply | null
    /** The model's answer when it could not be applied, kept for inspection. */
    readonly response: string | null
    readonly attempts: number
    readonly exchanges?: ReadonlyArray<Exchange> | undefined
  }

export interface ProposerOptions {
  readonly goal: string
  readonly language: string
  /** The program file's extension (".py"), for a coding agent's copy; default: the language's usual one. */
  readonly extension?: string | undefined
  readonly editFormat: "diff" | "full"
  readonly maxCodeBytes: number
  readonly settings?: Partial<ProposalSettings> | undefined
}

/** Turns a parent (plus context) into a new candidate program through the LLM. Never fails. */
export class Proposer extends Context.Tag("evolve/Proposer")<Proposer, {
  readonly propose: (
    input: ProposalInput,
    onRetry?: (info: LlmRetryInfo) => Effect.Effect<void>
  ) => Effect.Effect<ProposalResult>
  /**
   * Optional novelty check of a candidate against programs of its island (embedding cosine
   * similarity, then an optional LLM judge). Proposers without it accept every candidate.
   */
  readonly checkNovelty?: (
    candidate: string,
    neighbours: ReadonlyArray<Neighbour>,
    settings: NoveltySettings
  ) => Effect.Effect<NoveltyVerdict>
}>() {}

/** The proposer settings of a run (prompt templates, instruction variants, patch retries, required symbols). */
export const settingsFromConfig = (config: RunConfig): Partial<ProposalSettings> => {
  const p = config.prompt
  const template = (text: string | undefined, file: string | undefined) =>
    text !== undefined ? { text } : file !== undefined ? { file } : undefined
  return {
    maxPatchRetries: config.search.max_patch_retries,
    requiredSymbols: config.search.required_symbols,
    ...(p.instructions !== undefined ? { instructions: p.instructions } : {}),
    varyInstructions: p.vary_instructions,
    limits: {
      failures: p.max_failures,
      failureChars: p.max_failure_chars,
      feedbackChars: p.max_feedback_chars,
      weaknessChars: p.max_weakness_chars,
      inspirationChars: p.max_inspiration_chars
    },
    systemTemplate: template(p.system_template, p.system_template_file),
    userTemplate: template(p.user_template, p.user_template_file),
    objectives: config.population.objectives ?? [],
    tree: {
      editable: config.files.editable,
      allowNewFiles: config.files.allow_new_files,
      allowDeleteFiles: config.files.allow_delete_files,
      maxTreeBytes: config.files.max_bytes,
      contextChars: config.files.context_chars
    }
  }
}

const metricsOf = (p: Program) => p.metrics ?? null

/** Sums the accounting of several calls; text, model and finish reason of the last one. */
export const combineReplies = (replies: ReadonlyArray<LlmReply>): LlmReply => {
  const last = replies[replies.length - 1]!
  if (replies.length === 1) return last
  return { text: last.text, ...sumUsage(replies), finishReason: last.finishReason }
}

/** A template's text. Files are read when the run is created (config/RunSpecs.ts inlines them). */
const templateText = (source: ProposalSettings["systemTemplate"]): Either.Either<string | undefined, string> =>
  source === undefined
    ? Either.right(undefined)
    : "text" in source
    ? Either.right(source.text)
    : Either.left(`the prompt template file ${source.file} was not loaded: pass its text instead`)

export const make = (options: ProposerOptions) =>
  Effect.gen(function*() {
    const llm = yield* LlmClient
    const embedder = yield* EmbeddingClient
    const novelty = makeNoveltyCheck(
      (texts) => Effect.map(embedder.embed(texts), (r) => r.vectors),
      (candidate, other) =>
        llm.complete({ system: judgeSystem, user: judgeUser(candidate, other), maxTokens: 16 }).pipe(
          Effect.map((reply) => ({ novel: parseJudgement(reply.text), llm: reply })),
          Effect.catchAll((e) =>
            Effect.as(Effect.logWarning(`novelty judge failed: ${e.message}`), { novel: null, llm: null })
          )
        )
    )

    return Proposer.of({
      checkNovelty: (candidate, neighbours, settings) => novelty(candidate, neighbours, settings),

      propose: Traced.fn("Proposer.propose")(function*(input, onRetry) {
        const s: ProposalSettings = { ...defaultSettings, ...options.settings, ...input.settings }
        const system = templateText(s.systemTemplate)
        const user = templateText(s.userTemplate)
        if (Either.isLeft(system) || Either.isLeft(user)) {
          const message = Either.isLeft(system) ? system.left : (user as Either.Left<string, string>).left
          return { _tag: "Failed", kind: "invalid", message, llm: null, response: null, attempts: 0, exchanges: [] } as const
        }
        const instructions = s.instructions.length > 0 ? s.instructions : defaultInstructions
        const instruction = s.varyInstructions && instructions.length > 1
          ? instructions[yield* Random.nextIntBetween(0, instructions.length)]!
          : instructions[0]!
        const parent = input.parent
        const labels = input.inspirationLabels ?? []
        const editFormat = wantsRewrite(input.adaptive) ? "full" as const : options.editFormat
        const base = {
          goal: options.goal,
          guidance: input.guidance,
          language: options.language,
          editFormat,
          adaptive: input.adaptive,
          parent: {
            code: parent.code,
            metrics: metricsOf(parent),
            score: parent.score,
            feedback: parent.feedback ?? (parent.failure ? parent.failure.message : null),
            failure: parent.status === "failed" || parent.score === null ? parent.failure : null,
            patch: parent.patch
          },
          inspirations: input.inspirations.map((p, i) => ({
            code: p.code,
            score: p.score ?? 0,
            metrics: p.metrics ?? {},
            label: labels[i]
          })),
          recentFailures: input.recentFailures,
          mode: input.mode,
          instruction,
          objectives: s.objectives,
          requiredSymbols: s.requiredSymbols,
          limits: s.limits,
          templates: { system: system.right, user: user.right },
          tree: s.tree
        }

        const replies: Array<LlmReply> = []
        const exchanges: Array<Exchange> = []
        let retry: { previousAnswer: string; reason: string; attempt: number } | undefined
        for (let attempt = 0;; attempt++) {
          const prompt = buildPrompt({ ...base, retry })
          const request = input.temperature === undefined ? prompt : { ...prompt, temperature: input.temperature }
          // A coding agent (provider: agent) edits a copy of the parent itself.
          const reply = yield* Effect.either(llm.complete(request, onRetry)).pipe(
            Effect.locally(AgentWorkspace.currentProgram, Option.some({
              code: parent.code,
              language: options.language,
              extension: options.extension || extensionOfLanguage(options.language)
            }))
          )
          if (Either.isLeft(reply)) {
            const error = reply.left
            // A failed call still has a model, tokens, USD and latency to account for.
            const failed = failureAccounting(error, llm.model)
            const failedReply: LlmReply = { ...failed, text: "", finishReason: "error" }
            exchanges.push({ model: failed.model, system: prompt.system, user: prompt.user, response: null })
            return {
              _tag: "Failed",
              kind: "llm",
              reason: error.reason,
              retryAfterMs: error.retryAfterMs,
              message: `${error.reason}: ${error.message}`,
              llm: combineReplies([...replies, failedReply]),
              response: null,
              attempts: failed.attempts + replies.reduce((n, r) => n + r.attempts, 0),
              exchanges
            } as const
          }
          replies.push(reply.right)
          exchanges.push({ model: reply.right.model, system: prompt.system, user: prompt.user, response: reply.right.text })
          const editOptions = { format: editFormat, maxCodeBytes: options.maxCodeBytes }
          const applied = isPacked(parent.code)
            ? applyTreeResponse(parent.code, reply.right.text, editOptions, s.tree)
            : applyResponse(parent.code, reply.right.text, editOptions)
          let failure: { kind: "patch" | "invalid"; message: string } | undefined
          if (Either.isLeft(applied)) {
            failure = {
              kind: applied.left.reason === "too_large" ? "invalid" : "patch",
              message: `${applied.left.reason}: ${applied.left.message}`
            }
          } else {
            const missing = missingSymbols(parent.code, applied.right.code, s.requiredSymbols)
            if (missing.length > 0) {
              failure = {
                kind: "invalid",
                message: `missing_symbols: the new program no longer defines ${missing.map((m) => `\`${m}\``).join(", ")}, which must stay defined`
              }
            } else {
              return { _tag: "Proposed", code: applied.right.code, patch: applied.right.patch, llm: combineReplies(replies), tries: attempt + 1, exchanges } as const
            }
          }
          if (attempt >= s.maxPatchRetries) {
            const combined = combineReplies(replies)
            return {
              _tag: "Failed",
              kind: failure.kind,
              message: attempt > 0 ? `${failure.message} (after ${attempt + 1} tries)` : failure.message,
              llm: combined,
              response: reply.right.text,
              attempts: combined.attempts,
              exchanges
            } as const
          }
          retry = { previousAnswer: reply.right.text, reason: failure.message, attempt: attempt + 1 }
        }
      })
    })
  })

/** The proposer over the `LlmClient` and the `EmbeddingClient` of the novelty check (`EmbeddingClient.offline` without `llm.embedding`). */
export const layer = (options: ProposerOptions): Layer.Layer<Proposer, never, LlmClient | EmbeddingClient> =>
  Layer.effect(Proposer, make(options))
