import * as FileSystem from "@effect/platform/FileSystem"
import * as ProgramFiles from "../config/ProgramFiles.js"
import { Console, Effect, Layer, Option } from "effect"
import { type FlagValue, loadRunConfig } from "../config/ConfigLoader.js"
import * as Overrides from "../config/Overrides.js"
import { resolveRunSpec } from "../config/RunSpecs.js"
import * as ProgramDatabase from "../db/ProgramDatabase.js"
import { isPostgresUrl } from "../domain/DatabaseTarget.js"
import { ConfigError } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import type { StartOptions } from "../engine/RunActor.js"
import * as RunLimits from "../engine/RunLimits.js"
import * as RunServices from "../engine/RunServices.js"
import { startRun } from "../engine/startRun.js"
import * as EvaluatorLive from "../evaluate/EvaluatorLive.js"
import * as Preflight from "../llm/Preflight.js"
import { nextCommands, writeBestProgram } from "./AfterRun.js"
import { CliExit } from "./CliExit.js"
import * as Inspect from "./Inspect.js"
import { follow, startLine, summaryText } from "./Progress.js"

// The command handlers, loaded on demand by Cli.ts so that `evolve --help` stays fast.

export const defaultDatabase = ".evolve/evolve.db"

/** The EVOLVE_* (and OPENAI_BASE_URL) variables that override config keys. */
const env = Overrides.environment

/** Runs (or resumes) with live progress; Ctrl-C stops proposing and drains in-flight evaluations. */
const execute = (start: StartOptions, recordFile?: string, checkLlm = true) =>
  Effect.gen(function*() {
    const spec = start.spec
    yield* EvaluatorLive.preflight(spec.config.evaluator)
    if (checkLlm) yield* Preflight.preflight(spec.config.llm)
    const result = yield* Effect.scoped(Effect.gen(function*() {
      // No metrics: nothing in the CLI reads them (`evolve serve` does), and feeding them from
      // every event cost ~2.6 ms of CPU per candidate (issue 22).
      const handle = yield* startRun(start, { services: RunServices.layer(spec, { recordFile }), metrics: false })
      yield* Console.log(startLine(handle.runId, spec))
      const tty = process.stdout.isTTY === true
      yield* follow(handle, tty, tty ? 200 : 5000)
      const summary = yield* handle.await.pipe(
        Effect.onInterrupt(() =>
          handle.client.Stop({}).pipe(
            Effect.zipRight(handle.await),
            Effect.flatMap((s) => Console.error(`\n${summaryText(s, spec.config.database.path)}`)),
            Effect.ignore
          )
        )
      )
      return { summary, bestFile: yield* writeBestProgram(summary, spec) }
    })).pipe(Effect.provide(Layer.merge(ProgramDatabase.layer(spec.config.database.path), RunLimits.unlimited)))
    const { bestFile, summary } = result
    yield* Console.log(summaryText(summary, spec.config.database.path))
    yield* Console.log(nextCommands(summary, spec.config.database.path, bestFile))
    if (summary.status === "failed") return yield* new CliExit({ code: 1 })
  })

export interface RunArgs {
  readonly program: string
  readonly evaluator: string
  readonly config: Option.Option<string>
  readonly flags: ReadonlyArray<FlagValue>
  /** Skip the LLM preflight (key, server, model checked with one tiny request per model). */
  readonly noPreflight?: boolean | undefined
  /** List every key of an OpenEvolve config that evolve ignores. */
  readonly verbose?: boolean | undefined
  /** `--record FILE` (issue 4): every LLM call appended to FILE. */
  readonly record?: Option.Option<string> | undefined
}

/** What `evolve run` starts: the new run's spec and initial program, and its service options. */
export const runSetup = (args: RunArgs) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = Option.isSome(args.config)
      ? args.config.value
      : (yield* fs.exists("evolve.yaml").pipe(Effect.orElseSucceed(() => false)))
      ? "evolve.yaml"
      : undefined
    const loaded = yield* loadRunConfig({ file, env: yield* env, flags: args.flags, evaluator: args.evaluator, verbose: args.verbose })
    const { initialCode, spec } = yield* resolveRunSpec(args.program, args.evaluator, loaded, process.execPath)
    yield* checkDatabasePath(spec.config.database.path)
    const record = Option.getOrUndefined(args.record ?? Option.none())
    if (record !== undefined) {
      yield* fs.writeFileString(record, "", { flag: "a" }).pipe(
        Effect.mapError((e) => new ConfigError({ message: `--record ${record}: cannot write: ${e.message}` }))
      )
    }
    return { start: { _tag: "New", spec, initialCode } as const, services: { recordFile: record } }
  })

/** Runs here; with a Postgres database, submits the run to the cluster and follows it (loaded only then). */
export const run = (args: RunArgs) =>
  Effect.flatMap(runSetup(args), ({ services, start }) =>
    isPostgresUrl(start.spec.config.database.path)
      ? Effect.flatMap(
        Effect.promise(() => import("./ClusterRun.js")),
        (cluster) => cluster.submitAndFollow(start.spec.config.database.path, start.spec, start.initialCode)
      )
      : execute(start, services.recordFile, args.noPreflight !== true))

const databasePath = (db: Option.Option<string>) =>
  Effect.map(env, (e) => Option.getOrElse(db, () => e["EVOLVE_DB"] ?? defaultDatabase))

const sqliteHeader = "SQLite format 3\0"

/**
 * A database path that cannot be an evolve database is bad input (exit 2), not a database
 * failure: a directory, a file under a non-directory, or a file that is not SQLite. A missing
 * or empty file is fine (a new database).
 */
export const checkDatabasePath = (path: string) =>
  Effect.gen(function*() {
    if (path === ":memory:") return
    // A Postgres URL: reachable, the password right, the schema not newer than ours (one line, no password).
    if (isPostgresUrl(path)) return yield* ProgramDatabase.check(path)
    const fs = yield* FileSystem.FileSystem
    const bad = (why: string) => new ConfigError({ path: "database.path", message: `database ${path}: ${why}` })
    const info = yield* fs.stat(path).pipe(Effect.option)
    if (Option.isNone(info)) {
      const parent = path.replace(/\/+[^/]*$/, "")
      if (parent !== "" && parent !== path) {
        const dir = yield* fs.stat(parent).pipe(Effect.option)
        if (Option.isSome(dir) && dir.value.type !== "Directory") return yield* bad(`${parent} is not a directory`)
      }
      return
    }
    if (info.value.type === "Directory") return yield* bad("is a directory, expected an SQLite file")
    if (info.value.type !== "File") return yield* bad("is not a regular file")
    if (info.value.size === BigInt(0)) return
    const header = yield* Effect.scoped(Effect.gen(function*() {
      const file = yield* fs.open(path, { flag: "r" })
      const buffer = new Uint8Array(16)
      const n = yield* file.read(buffer)
      return new TextDecoder("latin1").decode(buffer.subarray(0, Number(n)))
    })).pipe(Effect.mapError((e) => bad(`cannot read it (${e.message})`)))
    if (header !== sqliteHeader) return yield* bad("not an SQLite database (is this the right file?)")
  })

/** A database that must already exist: reading never creates one. */
const checkExistingDatabase = (path: string) =>
  Effect.gen(function*() {
    if (path === ":memory:") return
    // A Postgres URL is checked as such (reachable, the password right), never as a file.
    if (isPostgresUrl(path)) return yield* checkDatabasePath(path)
    const fs = yield* FileSystem.FileSystem
    if (!(yield* fs.exists(path).pipe(Effect.orElseSucceed(() => false)))) {
      return yield* new ConfigError({
        path: "database.path",
        message: `database ${path}: no such file (evolve run creates it; --db or EVOLVE_DB names another)`
      })
    }
    yield* checkDatabasePath(path)
  })

/** Read-only commands: the database must exist. */
const withDatabase = <A, E, R>(db: Option.Option<string>, effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(databasePath(db), (path) =>
    Effect.zipRight(checkExistingDatabase(path), Effect.provide(effect, ProgramDatabase.layer(path))))

export const resume = (args: {
  readonly runId: Option.Option<string>
  readonly db: Option.Option<string>
  readonly iterations: Option.Option<number>
}) =>
  Effect.gen(function*() {
    const path = yield* Effect.map(databasePath(args.db), (p) => resolvePath(p))
    if (Option.isSome(args.iterations) && args.iterations.value < 1) {
      return yield* new ConfigError({ message: `flag --iterations: expected an integer ≥ 1, got ${args.iterations.value}` })
    }
    yield* checkExistingDatabase(path)
    const { id, spec } = yield* Inspect.findResumable(args.runId).pipe(Effect.provide(ProgramDatabase.layer(path)))
    const config = {
      ...spec.config,
      max_evaluations: Option.getOrElse(args.iterations, () => spec.config.max_evaluations),
      database: { path }
    }
    // A run killed between its creation and the insert of its initial program starts from the file again.
    const fs = yield* FileSystem.FileSystem
    const isDir = yield* fs.stat(spec.programPath).pipe(Effect.map((info) => info.type === "Directory"), Effect.orElseSucceed(() => false))
    const initialCode = Option.getOrUndefined(
      isDir
        ? yield* Effect.option(ProgramFiles.readPacked(spec.programPath, spec.config.files))
        : yield* Effect.option(fs.readFileString(spec.programPath))
    )
    yield* execute({ _tag: "Resume", runId: id as RunId, spec: { ...spec, config }, initialCode })
  })

const resolvePath = (path: string) => (path.startsWith("/") || isPostgresUrl(path) ? path : `${process.cwd()}/${path}`)

export const ls = (db: Option.Option<string>) => withDatabase(db, Inspect.listRuns)

export const best = (db: Option.Option<string>, runId: Option.Option<string>, out: Option.Option<string>, pareto = false) =>
  withDatabase(db, Inspect.best(runId, out, pareto))

export const show = (db: Option.Option<string>, id: string) => withDatabase(db, Inspect.show(id))

export const diff = (db: Option.Option<string>, from: string, to: string) => withDatabase(db, Inspect.diff(from, to))

export const programs = (db: Option.Option<string>, runId: Option.Option<string>, options: Inspect.ProgramsOptions) =>
  withDatabase(db, Inspect.programs(runId, options))
