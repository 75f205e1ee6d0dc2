import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type FlagValue, flagValues, type SettingName, settings, type ValueOf } from "../config/Overrides.js"
import { VERSION } from "../domain/Version.js"
import { CliExit } from "./CliExit.js"
import { generate } from "./GenerateCommand.js"
import { helpFor } from "./Help.js"
import { serve, type ServeHandler } from "./ServeCommand.js"
import { worker } from "./WorkerCommand.js"
import { answer, prompts, steer } from "./SteerCommand.js"

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
const textFlag = (name: string, description: string, value = "TEXT") =>
  Options.text(name).pipe(Options.withDescription(description), Options.withPseudoName(value), Options.optional)

/** What --help shows after a flag of the settings table that takes no number. */
const placeholders: Record<string, string> = {
  provider: "NAME",
  model: "NAME",
  "base-url": "URL",
  db: "FILE",
  "max-seconds": "SECONDS",
  timeout: "SECONDS",
  "target-score": "SCORE"
}

/** A flag of the settings table, parsed as its type. */
const settingFlag = <N extends SettingName>(name: N): Options.Options<Option.Option<ValueOf<N>>> => {
  const { description, flag, type } = settings[name]
  const typed: Options.Options<string | number> = type === "int"
    ? parsed(flag, "an integer", (t) => (/^-?\d+$/.test(t) ? Number(t) : undefined))
    : type === "number"
    ? parsed(flag, "a number", (t) => (t !== "" && Number.isFinite(Number(t)) ? Number(t) : undefined))
    : Options.text(flag)
  const value = placeholders[flag] ?? (type === "int" ? "N" : type === "number" ? "NUMBER" : "TEXT")
  return typed.pipe(Options.withDescription(description), Options.withPseudoName(value), Options.optional) as Options.Options<
    Option.Option<ValueOf<N>>
  >
}

// In the order of --help; flags apply in this order (--parallel before --llm-concurrency).
const overrides = {
  iterations: settingFlag("iterations").pipe(Options.withAlias("n")),
  parallel: settingFlag("parallel"),
  llmConcurrency: settingFlag("llmConcurrency"),
  evalConcurrency: settingFlag("evalConcurrency"),
  provider: settingFlag("provider"),
  model: settingFlag("model"),
  baseUrl: settingFlag("baseUrl"),
  seed: settingFlag("seed"),
  targetScore: settingFlag("targetScore"),
  maxSeconds: settingFlag("maxSeconds"),
  timeout: settingFlag("timeout"),
  goal: settingFlag("goal")
}

type OverrideValues = { readonly [K in keyof typeof overrides]: Option.Option<unknown> }

const toFlagValues = (values: OverrideValues): ReadonlyArray<FlagValue> =>
  Object.entries(values).flatMap(([key, value]) =>
    Option.isNone(value) ? [] : flagValues(key as keyof typeof overrides, value.value)
  )

const dbFlag = textFlag(settings.db.flag, settings.db.description, "FILE")
const configFlag = textFlag("config", "evolve.yaml with the run's settings (default: ./evolve.yaml when present)", "FILE").pipe(
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
    record: textFlag("record", "append every LLM call (request and reply) to this JSONL file; replay it with llm.provider: replay", "FILE"),
    verbose: Options.boolean("verbose").pipe(Options.withDescription("list every key of an OpenEvolve config that evolve ignores, and why")),
    noPreflight: Options.boolean("no-preflight").pipe(
      Options.withDescription("start without first checking each model's API key, server and name (one tiny request per model)")
    ),
    ...overrides
  },
  ({ config, db, evaluator, noPreflight, program, record, verbose, ...values }) =>
    Effect.flatMap(handlers, (h) =>
      h.run({
        program,
        evaluator,
        config,
        record,
        verbose,
        noPreflight,
        flags: [...toFlagValues(values), ...Option.toArray(db).flatMap((value) => flagValues("db", value))]
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
    out: textFlag("out", "write the best program to this file (a directory for a multi-file program) instead of printing it", "FILE").pipe(Options.withAlias("o")),
    pareto: Options.boolean("pareto").pipe(
      Options.withDescription("list the Pareto front over the run's population.objectives instead")
    )
  },
  ({ db, out, pareto, runId }) => Effect.flatMap(handlers, (h) => h.best(db, runId, out, pareto))
).pipe(Command.withDescription("print (or write) the best program of a run, or its Pareto front"))

const programs = Command.make(
  "programs",
  {
    runId: Args.text({ name: "run-id" }).pipe(Args.withDescription("run (default: the latest)"), Args.optional),
    db: dbFlag,
    status: Options.choice("status", ["evaluated", "failed", "rejected", "pending"]).pipe(
      Options.withDescription("only programs with this status (failed and pending ones are listed newest first)"),
      Options.optional
    ),
    island: Options.integer("island").pipe(Options.withDescription("only programs of this island"), Options.optional),
    top: Options.integer("top").pipe(Options.withAlias("k"), Options.withDescription("how many to list"), Options.withDefault(20))
  },
  ({ db, island, runId, status, top }) => Effect.flatMap(handlers, (h) => h.programs(db, runId, { status, island, top }))
).pipe(Command.withDescription("list a run's programs, best first: ids for evolve show, failures with their reason"))

const show = Command.make(
  "show",
  { id: Args.text({ name: "id" }).pipe(Args.withDescription("a program id or a run id")), db: dbFlag },
  ({ db, id }) => Effect.flatMap(handlers, (h) => h.show(db, id))
).pipe(Command.withDescription("show a program (metrics, error, patch, code) or a run (usage per model)"))

const diff = Command.make(
  "diff",
  {
    from: Args.text({ name: "from" }).pipe(Args.withDescription("a program id")),
    to: Args.text({ name: "to" }).pipe(Args.withDescription("another program id")),
    db: dbFlag
  },
  ({ db, from, to }) => Effect.flatMap(handlers, (h) => h.diff(db, from, to))
).pipe(Command.withDescription("the diff between two programs, file by file for a multi-file program"))

// `--debug` is handled in main.ts (taken out of argv before parsing); declared here for --help.
const debugFlag = Options.boolean("debug").pipe(
  Options.withDescription("print spans and timings to stderr (OTEL_EXPORTER_OTLP_ENDPOINT exports them over OTLP)")
)

/** The `evolve` command; `serve` runs the server main.ts wires in (the CLI does not import it). */
export const evolve = <E, R>(serveHandler: ServeHandler<E, R>) =>
  Command.make("evolve", { debug: debugFlag }).pipe(
    Command.withDescription("asynchronous LLM-driven program evolution"),
    Command.withSubcommands([run, resume, ls, programs, best, show, diff, serve(serveHandler), worker, steer, prompts, answer, generate])
  )

/** @effect/cli's built-in flags evolve does not offer. */
const refusedBuiltIns = ["--wizard"]

/** Runs the command line `argv` (node and the script first); `--help` is plain text of evolve's own. */
export const cli = <E, R>(serveHandler: ServeHandler<E, R>) => {
  const command = evolve(serveHandler)
  const run = Command.run(command, { name: "evolve", version: VERSION })
  return (argv: ReadonlyArray<string>) => {
    const args = argv.slice(2)
    const refused = args.find((arg) => refusedBuiltIns.includes(arg))
    if (refused !== undefined) {
      return Effect.zipRight(Console.error(`evolve: unknown flag ${refused} (evolve --help lists the flags)`), new CliExit({ code: 2 }))
    }
    const help = helpFor(command, args)
    return help === undefined ? run(argv) : Console.log(help)
  }
}
