import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { FlagValue } from "../config/ConfigLoader.js"
import { generate } from "./GenerateCommand.js"
import { serve } from "./ServeCommand.js"

// Command definitions only: each handler module is imported when its command runs, so that
// `evolve --help` loads neither the engine, SQLite nor the HTTP client.
const handlers = Effect.promise(() => import("./Handlers.js"))

// ---- options shared by run and resume ----------------------------------------------------

// @effect/cli's own message ("'many' is not a integer") does not name the flag: parse here.
const parsed = (name: string, expected: string, parse: (text: string) => number | undefined) =>
  Options.text(name).pipe(
    Options.mapEffect((text) => {
      const value = parse(text.trim())
      return value === undefined
        ? Effect.fail(ValidationError.invalidValue(HelpDoc.p(`flag --${name}: expected ${expected}, got ${JSON.stringify(text)}`)))
        : Effect.succeed(value)
    })
  )
const intFlag = (name: string, description: string) =>
  parsed(name, "an integer", (t) => (/^-?\d+$/.test(t) ? Number(t) : undefined)).pipe(
    Options.withDescription(description),
    Options.optional
  )
const numFlag = (name: string, description: string) =>
  parsed(name, "a number", (t) => (t !== "" && Number.isFinite(Number(t)) ? Number(t) : undefined)).pipe(
    Options.withDescription(description),
    Options.optional
  )
const textFlag = (name: string, description: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.optional)

const overrides = {
  iterations: intFlag("iterations", "stop after this many evaluations (max_evaluations)").pipe(Options.withAlias("n")),
  parallel: intFlag("parallel", "proposals and evaluations in flight (sets both)"),
  llmConcurrency: intFlag("llm-concurrency", "LLM calls in flight (concurrency.proposals)"),
  evalConcurrency: intFlag("eval-concurrency", "evaluations in flight (concurrency.evaluations)"),
  provider: textFlag("provider", "LLM provider: offline, openai-chat, openai-responses or replay"),
  model: textFlag("model", "model name for the LLM provider"),
  baseUrl: textFlag("base-url", "OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1"),
  seed: intFlag("seed", "seed for every random choice"),
  targetScore: numFlag("target-score", "stop when a program reaches this score"),
  maxSeconds: numFlag("max-seconds", "wall-clock limit in seconds"),
  timeout: numFlag("timeout", "evaluator timeout in seconds"),
  goal: textFlag("goal", "what the evolution should achieve")
}

const flagPaths: Record<keyof typeof overrides, { flag: string; paths: ReadonlyArray<ReadonlyArray<string>> }> = {
  iterations: { flag: "iterations", paths: [["max_evaluations"]] },
  parallel: { flag: "parallel", paths: [["concurrency", "proposals"], ["concurrency", "evaluations"]] },
  llmConcurrency: { flag: "llm-concurrency", paths: [["concurrency", "proposals"]] },
  evalConcurrency: { flag: "eval-concurrency", paths: [["concurrency", "evaluations"]] },
  provider: { flag: "provider", paths: [["llm", "provider"]] },
  model: { flag: "model", paths: [["llm", "model"]] },
  baseUrl: { flag: "base-url", paths: [["llm", "base_url"]] },
  seed: { flag: "seed", paths: [["seed"]] },
  targetScore: { flag: "target-score", paths: [["target_score"]] },
  maxSeconds: { flag: "max-seconds", paths: [["max_wall_seconds"]] },
  timeout: { flag: "timeout", paths: [["evaluator", "timeout_seconds"]] },
  goal: { flag: "goal", paths: [["goal"]] }
}

type OverrideValues = { readonly [K in keyof typeof overrides]: Option.Option<unknown> }

const toFlagValues = (values: OverrideValues): ReadonlyArray<FlagValue> =>
  Object.entries(values).flatMap(([key, value]) => {
    if (Option.isNone(value)) return []
    const { flag, paths } = flagPaths[key as keyof typeof overrides]
    return paths.map((path) => ({ flag, path, value: value.value }))
  })

const dbFlag = textFlag("db", "SQLite database file (default: database.path from the config, else .evolve/evolve.db)")
const configFlag = textFlag("config", "evolve.yaml with the run's settings (default: ./evolve.yaml when present)").pipe(
  Options.withAlias("c")
)

const run = Command.make(
  "run",
  {
    program: Args.text({ name: "program" }).pipe(Args.withDescription("the initial program to evolve")),
    evaluator: Args.text({ name: "evaluator" }).pipe(
      Args.withDescription("evaluator: prints a JSON object of metrics as its last stdout line")
    ),
    config: configFlag,
    db: dbFlag,
    // issue 4: record every LLM call for `llm.provider: replay`
    record: textFlag("record", "append every LLM call (request and reply) to this JSONL file; replay it with llm.provider: replay"),
    ...overrides
  },
  ({ config, db, evaluator, program, record, ...values }) =>
    Effect.flatMap(handlers, (h) =>
      h.run({
        program,
        evaluator,
        config,
        record,
        flags: [...toFlagValues(values), ...Option.toArray(db).map((value) => ({ flag: "db", path: ["database", "path"], value }))]
      }))
).pipe(Command.withDescription("start a new evolution run"))

const resume = Command.make(
  "resume",
  {
    runId: Args.text({ name: "run-id" }).pipe(Args.withDescription("run to resume (default: the latest unfinished run)"), Args.optional),
    db: dbFlag,
    iterations: overrides.iterations
  },
  ({ db, iterations, runId }) => Effect.flatMap(handlers, (h) => h.resume({ runId, db, iterations }))
).pipe(Command.withDescription("continue an interrupted run: re-queues pending candidates, never re-evaluates committed ones"))

const ls = Command.make("ls", { db: dbFlag }, ({ db }) => Effect.flatMap(handlers, (h) => h.ls(db))).pipe(Command.withDescription("list runs with their status, counts, best score, tokens and cost"))

const best = Command.make(
  "best",
  {
    runId: Args.text({ name: "run-id" }).pipe(Args.withDescription("run (default: the latest)"), Args.optional),
    db: dbFlag,
    out: textFlag("out", "write the best program to this file instead of printing it").pipe(Options.withAlias("o")),
    pareto: Options.boolean("pareto").pipe(
      Options.withDescription("list the Pareto front over the run's population.objectives instead")
    )
  },
  ({ db, out, pareto, runId }) => Effect.flatMap(handlers, (h) => h.best(db, runId, out, pareto))
).pipe(Command.withDescription("print (or write) the best program of a run, or its Pareto front"))

const show = Command.make(
  "show",
  { id: Args.text({ name: "id" }).pipe(Args.withDescription("a program id or a run id")), db: dbFlag },
  ({ db, id }) => Effect.flatMap(handlers, (h) => h.show(db, id))
).pipe(Command.withDescription("show a program (metrics, error, patch, code) or a run (usage per model)"))

// `--debug` is handled in main.ts (taken out of argv before parsing); declared here for --help.
const debugFlag = Options.boolean("debug").pipe(
  Options.withDescription("print spans and timings to stderr (OTEL_EXPORTER_OTLP_ENDPOINT exports them over OTLP)")
)

export const evolve = Command.make("evolve", { debug: debugFlag }).pipe(
  Command.withDescription("asynchronous LLM-driven program evolution"),
  Command.withSubcommands([run, resume, ls, best, show, serve, generate])
)

export const cli = Command.run(evolve, { name: "evolve", version: "0.1.0" })
