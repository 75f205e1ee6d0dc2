/**
 * One @effect/ai `LanguageModel` per configured model:
 * - `openai-chat`: our tolerant Chat Completions model (OpenAiChat), for every OpenAI-compatible
 *   server (vLLM, Ollama, llama.cpp, LM Studio, OpenRouter, Together, Groq, gateways);
 * - `openai-responses`: @effect/ai-openai's `OpenAiLanguageModel` (Responses API,
 *   `POST {base_url}/responses`), over an `OpenAiClient` with no retry of its own (ours is the
 *   only retry loop);
 * - `offline`: the deterministic mutator;
 * - `replay`: no LanguageModel (the client answers from the recorded file);
 * - `human`: a person answers on the desk of `evolve serve` (HumanDesk);
 * - `agent`: no LanguageModel (a coding agent edits the program: agent/AgentModel).
 * Per-call temperature / max tokens overrides travel in a FiberRef (`withCallOverrides`).
 */
import type * as LanguageModel from "@effect/ai/LanguageModel"
import type * as HttpClient from "@effect/platform/HttpClient"
import { Effect, Option, type Redacted, type Scope } from "effect"
import type { ModelSpec } from "./Models.js"
import * as HumanDesk from "./HumanDesk.js"
import * as OfflineModel from "./OfflineModel.js"
import * as OpenAiChat from "./OpenAiChat.js"

/**
 * @effect/ai-openai (and the tokenizer it pulls in) costs over a second to import: load it
 * only for runs that use the Responses API.
 */
const responsesApi = Effect.promise(() =>
  Promise.all([import("@effect/ai-openai/OpenAiClient"), import("@effect/ai-openai/OpenAiLanguageModel")])
).pipe(Effect.map(([OpenAiClient, OpenAiLanguageModel]) => ({ OpenAiClient, OpenAiLanguageModel })))

export const openAiChatOptions = (spec: ModelSpec, apiKey: Option.Option<Redacted.Redacted>): OpenAiChat.OpenAiChatOptions => ({
  baseUrl: spec.baseUrl,
  model: spec.model,
  apiKey,
  temperature: spec.temperature,
  maxTokens: spec.maxTokens,
  extraBody: spec.extraBody
})

export const makeLanguageModel = (
  spec: ModelSpec,
  apiKey: Option.Option<Redacted.Redacted>
): Effect.Effect<Option.Option<LanguageModel.Service>, never, HttpClient.HttpClient | Scope.Scope> => {
  switch (spec.provider) {
    case "offline":
      return Effect.map(OfflineModel.make, Option.some)
    case "openai-chat":
      return Effect.map(OpenAiChat.make(openAiChatOptions(spec, apiKey)), Option.some)
    case "openai-responses":
      return Effect.gen(function*() {
        const { OpenAiClient, OpenAiLanguageModel } = yield* responsesApi
        const client = yield* OpenAiClient.make({
          apiKey: Option.getOrUndefined(apiKey),
          apiUrl: spec.baseUrl.replace(/\/+$/, "")
        })
        const model = yield* OpenAiLanguageModel.make({
          model: spec.model,
          config: {
            ...(spec.extraBody as Record<string, never>),
            temperature: spec.temperature,
            max_output_tokens: spec.maxTokens
          }
        }).pipe(Effect.provideService(OpenAiClient.OpenAiClient, client))
        return Option.some(model)
      })
    case "replay":
    case "agent":
      return Effect.succeed(Option.none())
    case "human":
      return Effect.map(HumanDesk.languageModel(spec.name), Option.some)
  }
}

/** Applies per-call overrides for whichever provider `spec` uses. */
export const withOverrides = (
  spec: ModelSpec,
  overrides: OpenAiChat.CallOverrides
) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
  if (overrides.temperature === undefined && overrides.maxTokens === undefined) return effect
  if (spec.provider === "openai-responses") {
    return Effect.flatMap(responsesApi, ({ OpenAiLanguageModel }) =>
      OpenAiLanguageModel.withConfigOverride(effect, {
        ...(overrides.temperature !== undefined ? { temperature: overrides.temperature } : {}),
        ...(overrides.maxTokens !== undefined ? { max_output_tokens: overrides.maxTokens } : {})
      }))
  }
  return OpenAiChat.withCallOverrides(overrides)(effect)
}
