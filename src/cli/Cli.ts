import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Config, Console, Effect, Layer, Option } from "effect"
import { loadRunConfig, type FlagValue } from "../config/ConfigLoader.js"
import { resolveRunSpec } from "../config/RunSpecs.js"
import * as ProgramDatabase from "../db/ProgramDatabase.js"
import { ConfigError } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import type { RunSpec } from "../domain/RunConfig.js"
import * as EvolutionRun from "../engine/EvolutionRun.js"
import * as RunEnvironment from "../engine/RunEnvironment.js"
import { CliExit } from "./CliExit.js"
import * as Inspect from "./Inspect.js"
import { follow, summaryText } from "./Progress.js"

const defaultDatabase = ".evolve/evolve.db"

// ---- options shared by run and resume ----------------------------------------------------

const intFlag = (name: string, description: string) =>
  Options.integer(name).pipe(Options.withDescription(description), Options.optional)
const numFlag = (name: string, description: string) =>
  Options.float(name).pipe(Options.withDescription(description), Options.optional)
const textFlag = (name: string, description: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.optional)

const overrides = {
  iterations: intFlag("iterations", "stop after this many evaluations (max_evaluations)").pipe(Options.withAlias("n")),
  parallel: intFlag("parallel", "proposals and evaluations in flight (sets both)"),
  llmConcurrency: intFlag("llm-concurrency", "LLM calls in flight (concurrency.proposals)"),
  evalConcurrency: intFlag("eval-concurrency", "evaluations in flight (concurrency.evaluations)"),
  provider: textFlag("provider", "LLM provider: offline or openai-chat"),
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

const dbFlag = textFlag("db", `SQLite database file (default: database.path from the config, else ${defaultDatabase})`)
const configFlag = textFlag("config", "evolve.yaml with the run's settings (default: ./evolve.yaml when present)").pipe(
  Options.withAlias("c")
)

const env = Effect.sync(() => process.env as Record<string, string | undefined>)

const apiKeyFor = (spec: RunSpec) =>
  Config.option(Config.redacted(spec.config.llm.api_key_env)).pipe(
    Effect.mapError(() => new ConfigError({ message: `environment variable ${spec.config.llm.api_key_env} is invalid` }))
  )

/** Runs (or resumes) with live progress; Ctrl-C stops proposing and drains in-flight evaluations. */
const execute = (start: EvolutionRun.StartOptions) =>
  Effect.gen(function*() {
    const spec = start.spec
    const apiKey = yield* apiKeyFor(spec)
    const services = RunEnvironment.layer(spec, apiKey)
    const summary = yield* Effect.scoped(Effect.gen(function*() {
      const handle = yield* EvolutionRun.start(start)
      yield* Console.log(`run ${handle.runId}: evolving ${spec.programPath} with ${spec.config.llm.provider}${
        spec.config.llm.provider === "offline" ? "" : ` (${spec.config.llm.model} at ${spec.config.llm.base_url})`
      }, P=${spec.config.concurrency.proposals} W=${spec.config.concurrency.evaluations}`)
      const tty = process.stdout.isTTY === true
      yield* follow(handle, tty, tty ? 200 : 5000)
      return yield* handle.await.pipe(
        Effect.onInterrupt(() =>
          handle.stop("interrupted").pipe(
            Effect.zipRight(handle.await),
            Effect.flatMap((s) => Console.error(`\n${summaryText(s, spec.config.database.path)}`)),
            Effect.ignore
          )
        )
      )
    })).pipe(Effect.provide(Layer.merge(services, ProgramDatabase.layer(spec.config.database.path))))
    yield* Console.log(summaryText(summary, spec.config.database.path))
    if (summary.status === "failed") return yield* new CliExit({ code: 1 })
  })

const run = Command.make(
  "run",
  {
    program: Args.text({ name: "program" }).pipe(Args.withDescription("the initial program to evolve")),
    evaluator: Args.text({ name: "evaluator" }).pipe(
      Args.withDescription("evaluator: prints a JSON object of metrics as its last stdout line")
    ),
    config: configFlag,
    db: dbFlag,
    ...overrides
  },
  ({ program, evaluator, config, db, ...values }) =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const file = Option.isSome(config)
        ? config.value
        : (yield* fs.exists("evolve.yaml").pipe(Effect.orElseSucceed(() => false)))
        ? "evolve.yaml"
        : undefined
      const flags = [...toFlagValues(values), ...Option.toArray(db).map((value) => ({ flag: "db", path: ["database", "path"], value }))]
      const loaded = yield* loadRunConfig({ file, env: yield* env, flags })
      const { initialCode, spec } = yield* resolveRunSpec(program, evaluator, loaded, process.execPath)
      yield* execute({ _tag: "New", spec, initialCode })
    })
).pipe(Command.withDescription("start a new evolution run"))

const databasePath = (db: Option.Option<string>) =>
  Effect.map(env, (e) => Option.getOrElse(db, () => e["EVOLVE_DB"] ?? defaultDatabase))

const resume = Command.make(
  "resume",
  {
    runId: Args.text({ name: "run-id" }).pipe(Args.withDescription("run to resume (default: the latest unfinished run)"), Args.optional),
    db: dbFlag,
    iterations: overrides.iterations
  },
  ({ db, iterations, runId }) =>
    Effect.gen(function*() {
      const path = yield* databasePath(db)
      const { id, spec } = yield* Inspect.findResumable(runId).pipe(Effect.provide(ProgramDatabase.layer(path)))
      const extended: RunSpec = Option.match(iterations, {
        onNone: () => spec,
        onSome: (n) => ({ ...spec, config: { ...spec.config, max_evaluations: n } })
      })
      if (Option.isSome(iterations) && iterations.value < 1) {
        return yield* new ConfigError({ message: `flag --iterations: expected an integer ≥ 1, got ${iterations.value}` })
      }
      yield* execute({ _tag: "Resume", runId: id as RunId, spec: { ...extended, config: { ...extended.config, database: { path } } } })
    })
).pipe(Command.withDescription("continue an interrupted run: re-queues pending candidates, never re-evaluates committed ones"))

const ls = Command.make("ls", { db: dbFlag }, ({ db }) =>
  Effect.flatMap(databasePath(db), (path) => Inspect.listRuns.pipe(Effect.provide(ProgramDatabase.layer(path))))
).pipe(Command.withDescription("list runs with their status, counts, best score, tokens and cost"))

const best = Command.make(
  "best",
  {
    runId: Args.text({ name: "run-id" }).pipe(Args.withDescription("run (default: the latest)"), Args.optional),
    db: dbFlag,
    out: textFlag("out", "write the best program to this file instead of printing it").pipe(Options.withAlias("o"))
  },
  ({ db, out, runId }) =>
    Effect.flatMap(databasePath(db), (path) => Inspect.best(runId, out).pipe(Effect.provide(ProgramDatabase.layer(path))))
).pipe(Command.withDescription("print (or write) the best program of a run"))

const show = Command.make(
  "show",
  { id: Args.text({ name: "id" }).pipe(Args.withDescription("a program id or a run id")), db: dbFlag },
  ({ db, id }) => Effect.flatMap(databasePath(db), (path) => Inspect.show(id).pipe(Effect.provide(ProgramDatabase.layer(path))))
).pipe(Command.withDescription("show a program (metrics, error, patch, code) or a run (usage per model)"))

export const evolve = Command.make("evolve").pipe(
  Command.withDescription("asynchronous LLM-driven program evolution"),
  Command.withSubcommands([run, resume, ls, best, show])
)

export const cli = Command.run(evolve, { name: "evolve", version: "0.1.0" })
