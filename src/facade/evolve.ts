/**
 * The Promise facade: `evolve({ program, evaluate, goal, iterations, parallel, llm, onEvent,
 * signal })` evolves a program held in memory against an async evaluation function, and
 * resolves with the best program, its metrics and the run id. Each call owns one
 * ManagedRuntime (tracing per the environment), disposed when the call settles, so calls may
 * nest (an `evaluate` that itself calls `evolve`) and run from inside Effect code.
 *
 * The environment switches evolution: `EVOLVE=0` evaluates the program once and returns it
 * unevolved; `EVOLVE_ITERATIONS`, `EVOLVE_PARALLEL` and the other `EVOLVE_*` variables of the
 * CLI override the call's values.
 */
import * as ProgramTree from "../domain/ProgramTree.js"
import { Cause, Config, ConfigProvider, Effect, Exit, identity, Layer, ManagedRuntime, Option, type Redacted } from "effect"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { loadRunConfig } from "../config/ConfigLoader.js"
import * as Overrides from "../config/Overrides.js"
import * as ProgramDatabase from "../db/ProgramDatabase.js"
import { RunStore } from "../db/RunStore.js"
import { ConfigError, type DatabaseError, type RunBusy, type RunNotFound } from "../domain/Errors.js"
import type { RunConfig, RunConfigInput, RunSpec } from "../domain/RunConfig.js"
import type { RunEvent } from "../domain/RunEvent.js"
import * as RunLimits from "../engine/RunLimits.js"
import * as RunServices from "../engine/RunServices.js"
import * as FunctionEvaluator from "../evaluate/FunctionEvaluator.js"
import * as Observability from "../observability/Observability.js"
import { type EvolveResult, inlineSpec, programKind, run } from "./Evolution.js"

export interface LlmOptions {
  /** "offline" (default: no network, a deterministic mutator) or "openai-chat" (any OpenAI-compatible server). */
  readonly provider?: RunConfig["llm"]["provider"] | undefined
  readonly model?: string | undefined
  /** e.g. http://127.0.0.1:8000/v1 */
  readonly baseUrl?: string | undefined
  /** The key itself; by default it is read from the variable `apiKeyEnv` names (OPENAI_API_KEY). */
  readonly apiKey?: string | Redacted.Redacted | undefined
  readonly apiKeyEnv?: string | undefined
  readonly temperature?: number | undefined
  readonly maxTokens?: number | undefined
  readonly timeoutSeconds?: number | undefined
  readonly maxRetries?: number | undefined
  /** USD per million tokens, for cost accounting. */
  readonly priceInputPerM?: number | undefined
  readonly priceOutputPerM?: number | undefined
}

export interface EvolveOptions {
  /** The starting program: its code, or the code with its extension or language. */
  readonly program: string | {
    readonly code: string
    readonly extension?: string | undefined
    readonly language?: string | undefined
  } | {
    /** A program of several files, by relative path; the evaluation function gets them as `context.files`. */
    readonly files: Readonly<Record<string, string>>
    readonly language?: string | undefined
  }
  /** Scores a candidate: returns metrics (`combined_score`, else `score`, is the fitness) or a bare score. */
  readonly evaluate: (
    code: string,
    context: FunctionEvaluator.EvaluateContext
  ) => FunctionEvaluator.MetricsLike | PromiseLike<FunctionEvaluator.MetricsLike>
  /** What the evolution should achieve, in words, for the LLM. */
  readonly goal?: string | undefined
  /** Evaluations in total, the initial program's included (default 100). */
  readonly iterations?: number | undefined
  /** LLM calls and evaluations in flight (default 4 and 2). */
  readonly parallel?: number | undefined
  readonly llm?: LlmOptions | undefined
  /** Called with every run event (new bests, evaluations, LLM calls, status). */
  readonly onEvent?: ((event: RunEvent) => void) | undefined
  /** Aborting stops the run gracefully; the promise then resolves with what was found (status "interrupted"). */
  readonly signal?: AbortSignal | undefined
  /** SQLite file keeping the run (needed to resume it); default in memory. */
  readonly db?: string | undefined
  /** Resume this run (from `db`) instead of starting a new one. */
  readonly runId?: string | undefined
  /** Per-candidate time limit for `evaluate` (default 60 s). */
  readonly timeoutMs?: number | undefined
  readonly language?: string | undefined
  readonly extension?: string | undefined
  readonly seed?: number | undefined
  readonly targetScore?: number | undefined
  /** Any other run setting, as in evolve.yaml (snake_case keys). */
  readonly config?: RunConfigInput | undefined
  /** Variables read for EVOLVE, EVOLVE_* and OTEL_* (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
}

type Raw = Record<string, unknown>

const isRecord = (value: unknown): value is Raw => typeof value === "object" && value !== null && !Array.isArray(value)

const deepMerge = (target: Raw, source: Raw): Raw => {
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue
    const current = target[key]
    target[key] = isRecord(value) && isRecord(current) ? deepMerge({ ...current }, value) : value
  }
  return target
}

/** `EVOLVE=0` (or false/off/no) switches evolution off. */
export const evolutionDisabled = (env: Readonly<Record<string, string | undefined>>): boolean =>
  ["0", "false", "off", "no"].includes((env["EVOLVE"] ?? "").trim().toLowerCase())

/** The run config a call asks for: `base` (a stored run's), then the options, then `EVOLVE_*`. */
export const configFor = (
  base: RunConfigInput,
  options: EvolveOptions,
  env: Readonly<Record<string, string | undefined>>,
  language: string | undefined
) => {
  const raw = deepMerge(structuredClone(base) as Raw, (options.config ?? {}) as Raw)
  const llm = options.llm ?? {}
  deepMerge(raw, {
    goal: options.goal,
    language,
    seed: options.seed,
    target_score: options.targetScore,
    max_evaluations: options.iterations,
    concurrency: options.parallel === undefined ? undefined : { proposals: options.parallel, evaluations: options.parallel },
    evaluator: options.timeoutMs === undefined ? undefined : { timeout_seconds: options.timeoutMs / 1000 },
    llm: {
      provider: llm.provider,
      model: llm.model,
      base_url: llm.baseUrl,
      api_key_env: llm.apiKeyEnv,
      temperature: llm.temperature,
      max_tokens: llm.maxTokens,
      timeout_seconds: llm.timeoutSeconds,
      max_retries: llm.maxRetries,
      price_input_per_m: llm.priceInputPerM,
      price_output_per_m: llm.priceOutputPerM
    }
  })
  return loadRunConfig({ base: raw, env: { ...env } })
}

const evaluatorOptions = (config: RunConfig): FunctionEvaluator.FunctionEvaluatorOptions => ({
  primaryMetric: config.evaluator.primary_metric,
  timeoutMs: config.evaluator.timeout_seconds * 1000
})

/** `EVOLVE=0`: evaluate the program once and return it as it is. */
/** The program option as code (a multi-file program packed, its paths checked), extension and language. */
const programOf = (program: EvolveOptions["program"]) => {
  if (typeof program === "string") return Effect.succeed({ code: program, extension: undefined, language: undefined })
  if (!("files" in program)) return Effect.succeed(program)
  const files = Object.entries(program.files).map(([path, content]) => ({ path, content }))
  const problems = ProgramTree.treeProblems(files)
  if (files.length === 0) problems.push("no files")
  return problems.length > 0
    ? Effect.fail(new ConfigError({ path: "program.files", message: problems.join("; ") }))
    : Effect.succeed({ code: ProgramTree.pack(files), extension: undefined, language: program.language })
}

const unevolved = (code: string, extension: string, options: EvolveOptions, config: RunConfig) =>
  Effect.gen(function*() {
    const evaluator = yield* FunctionEvaluator.make(FunctionEvaluator.fromPromise(options.evaluate), evaluatorOptions(config))
    const outcome = yield* evaluator.evaluate({ programId: "unevolved", code, extension })
    return {
      evolved: false,
      runId: null,
      programId: null,
      code,
      metrics: outcome._tag === "Scored" ? outcome.metrics : null,
      score: outcome._tag === "Scored" ? outcome.score : null,
      failure: outcome._tag === "Failed" ? outcome.failure : null,
      summary: null
    } satisfies EvolveResult
  })

/**
 * The facade as an Effect that needs nothing: usable from Effect code (its spans nest under the
 * caller's), and what `evolve` runs.
 */
export const evolveEffect = (
  options: EvolveOptions
): Effect.Effect<EvolveResult, ConfigError | DatabaseError | RunNotFound | RunBusy> =>
  Effect.gen(function*() {
    // The variables the facade reads (EVOLVE, EVOLVE_*, the API key's), through Effect's Config:
    // from `options.env` when given, else from the environment.
    const env = yield* Overrides.environment
    const disabled = yield* Config.option(Config.string("EVOLVE")).pipe(Effect.orElseSucceed(() => Option.none<string>()))
    const program = yield* programOf(options.program)
    const kind = programKind({
      extension: program.extension ?? options.extension,
      language: program.language ?? options.language
    })
    if (evolutionDisabled({ EVOLVE: Option.getOrUndefined(disabled) })) {
      const config = yield* configFor({}, options, env, kind.language)
      return yield* unevolved(program.code, kind.extension, options, config)
    }
    const envDb = env["EVOLVE_DB"]
    const dbPath = envDb !== undefined && envDb !== "" ? envDb : options.db ?? ":memory:"
    const runId = options.runId
    if (runId !== undefined && dbPath === ":memory:") {
      return yield* new ConfigError({ path: "db", message: "resuming a run needs the database file it was stored in: pass `db`" })
    }
    return yield* Effect.gen(function*() {
      let spec: RunSpec
      if (runId !== undefined) {
        const runStore = yield* RunStore
        const stored = (yield* runStore.getRun(runId)).spec
        const config = yield* configFor(stored.config, options, env, options.language ?? program.language)
        spec = { ...stored, config: { ...config, database: { path: dbPath } } }
      } else {
        const config = yield* configFor({}, options, env, kind.language)
        spec = yield* inlineSpec({ ...config, database: { path: dbPath } }, kind)
      }
      const services = RunServices.layer(spec, {
        apiKey: options.llm?.apiKey,
        evaluator: FunctionEvaluator.layerPromise(options.evaluate, evaluatorOptions(spec.config))
      })
      return yield* run({
        spec,
        initialCode: program.code,
        runId,
        onEvent: options.onEvent,
        signal: options.signal
      }).pipe(Effect.provide(Layer.merge(services, RunLimits.unlimited)))
    }).pipe(Effect.provide(ProgramDatabase.layer(dbPath)))
  }).pipe(
    Effect.map((result) => (ProgramTree.isPacked(result.code) ? { ...result, files: ProgramTree.filesRecord(result.code) } : result)),
    Effect.provide(NodeFileSystem.layer),
    options.env === undefined ? identity : Effect.withConfigProvider(ConfigProvider.fromMap(definedEntries(options.env))),
    Effect.withSpan("evolve")
  )

const definedEntries = (env: Readonly<Record<string, string | undefined>>) =>
  new Map(Object.entries(env).flatMap(([key, value]) => (value === undefined ? [] : [[key, value] as const])))

/**
 * Evolves `options.program` and resolves with the best program found. Rejects with a
 * ConfigError (bad options or environment), DatabaseError, RunNotFound or RunBusy (resume of a
 * run another process drives); a signal already aborted rejects with its reason.
 */
export const evolve = async (options: EvolveOptions): Promise<EvolveResult> => {
  options.signal?.throwIfAborted()
  const runtime = ManagedRuntime.make(Observability.layer({ env: options.env }))
  try {
    const exit = await runtime.runPromiseExit(evolveEffect(options))
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause)
  } finally {
    await runtime.dispose()
  }
}
