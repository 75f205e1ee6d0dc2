/**
 * Before a run spends anything: every model it will call has its API key (a remote server
 * needs one), its server answers, and the model exists there, checked with one tiny request
 * per model. Failures are one line naming the model, the server and what to fix.
 * A server that is up but busy, slow or flaky (429, 5xx after a few tries, no answer within
 * 30 s, a malformed or empty answer) only gets a warning: the run's own retries deal with that.
 */
import * as LanguageModel from "@effect/ai/LanguageModel"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttp from "./NodeHttp.js"
import { Config, Console, Effect, Option, Schedule } from "effect"
import { ConfigError, type LlmError } from "../domain/Errors.js"
import type { LlmConfig } from "../domain/RunConfig.js"
import * as AgentCommand from "./agent/AgentCommand.js"
import { type ModelSpec, resolveModels } from "./Models.js"
import { withCallOverrides } from "./OpenAiChat.js"
import { makeLanguageModel } from "./Providers.js"
import { isRetryable, timeoutError, toLlmError } from "./RetryPolicy.js"

/** Servers on this machine or a private network may run without a key (vLLM, Ollama, llama.cpp). */
const isLocal = (baseUrl: string): boolean => {
  try {
    const host = new URL(baseUrl).hostname.replace(/^\[|\]$/g, "")
    return host === "localhost" || host === "::1" || /^127\./.test(host) || /^10\./.test(host) ||
      /^192\.168\./.test(host) || /^172\.(1[6-9]|2\d|3[01])\./.test(host) || host.endsWith(".local") || !host.includes(".")
  } catch {
    return false
  }
}

const maxWaitMs = 30_000

/** Outcomes of a server that is there but busy, slow or flaky: the run's retries handle them. */
const warnOnly: ReadonlySet<LlmError["reason"]> = new Set(["rate_limited", "server", "timeout", "malformed", "empty"])

/** What to tell the user about a failed probe, by reason. */
const advice = (error: LlmError, spec: ModelSpec): string => {
  if (error.status === 401 || error.status === 403) {
    return `the server refused the API key from ${spec.apiKeyEnv} (${error.message})`
  }
  switch (error.reason) {
    case "connection":
      return `cannot reach the server (${error.message}); is it running, and is the base URL right?`
    case "timeout":
      return `no answer within ${Math.min(spec.timeoutMs, maxWaitMs) / 1000} s`
    default:
      return error.status === 404
        ? `model or endpoint not found (${error.message}); check the model name and that the base URL ends in /v1`
        : error.message
  }
}

const probe = (spec: ModelSpec) =>
  Effect.gen(function*() {
    const where = `model ${spec.model} at ${spec.baseUrl}`
    const key = yield* Config.option(Config.redacted(spec.apiKeyEnv)).pipe(Effect.orElseSucceed(() => Option.none()))
    if (Option.isNone(key) && !isLocal(spec.baseUrl)) {
      return yield* new ConfigError({
        path: "llm.api_key_env",
        message: `LLM preflight: ${where}: no API key: set the environment variable ${spec.apiKeyEnv} (named by llm.api_key_env)`
      })
    }
    const waitMs = Math.min(spec.timeoutMs, maxWaitMs)
    const answer = Effect.scoped(Effect.gen(function*() {
      const model = yield* makeLanguageModel(spec, key)
      if (Option.isNone(model)) return
      yield* LanguageModel.generateText({ prompt: "Reply with the word OK." }).pipe(
        Effect.provideService(LanguageModel.LanguageModel, model.value),
        withCallOverrides({ maxTokens: 16 }),
        Effect.catchAll(toLlmError)
      )
    })).pipe(
      Effect.timeoutFail({ duration: waitMs, onTimeout: () => timeoutError(waitMs) }),
      Effect.retry({ schedule: Schedule.exponential("500 millis"), times: 2, while: (e) => isRetryable(e) && e.reason !== "timeout" })
    )
    yield* answer.pipe(
      Effect.catchAll((error) =>
        warnOnly.has(error.reason)
          ? Console.error(`evolve: LLM preflight: ${where}: ${advice(error, spec)}; starting anyway (calls are retried)`)
          : new ConfigError({ path: "llm", message: `LLM preflight: ${where}: ${advice(error, spec)}` })
      )
    )
  })

/** A coding agent (provider agent) needs its command installed; its own keys are its business. */
const agentCheck = (spec: ModelSpec) =>
  Effect.gen(function*() {
    const bin = spec.agent?.command[0]
    if (bin === undefined) {
      return yield* new ConfigError({ path: "llm.agent", message: `LLM preflight: model ${spec.name} uses provider agent but llm.agent.command is not set` })
    }
    if ((yield* AgentCommand.locate(bin)) === undefined) {
      return yield* new ConfigError({
        path: "llm.agent.command",
        message: `LLM preflight: model ${spec.name}: the agent command \`${bin}\` is not ${
          bin.includes("/") ? "a file" : "on PATH"
        }${AgentCommand.installHint(bin)}; install it or set llm.agent.command`
      })
    }
  }).pipe(Effect.provide(NodeContext.layer))

/** Probes every distinct remote model of `config` (offline and replay models need nothing), and finds every agent's command. */
export const preflight = (config: LlmConfig) => {
  const seen = new Set<string>()
  const models = resolveModels(config)
  const specs = models.filter((spec) => {
    const id = `${spec.provider} ${spec.baseUrl} ${spec.model} ${spec.apiKeyEnv}`
    if (spec.provider === "offline" || spec.provider === "replay" || spec.provider === "agent" || seen.has(id)) return false
    seen.add(id)
    return true
  })
  return Effect.forEach(models.filter((spec) => spec.provider === "agent"), agentCheck, { discard: true }).pipe(
    Effect.zipRight(Effect.forEach(specs, probe, { concurrency: "unbounded", discard: true })),
    Effect.provide(NodeHttp.layer)
  )
}
