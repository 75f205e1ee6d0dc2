/**
 * Running one evolution to its end from Effect code, over whatever database and run services
 * are provided (`EvolveLive`, or your own layers): starts (or resumes) the run through
 * `startRun` (its run span and metrics), forwards its events, stops it gracefully (a Stop
 * message) when an AbortSignal fires, and returns the best program with its metrics.
 */
import { Effect, Fiber, Layer, Queue } from "effect"
import * as ProgramDatabase from "../db/ProgramDatabase.js"
import { CandidateStore } from "../db/CandidateStore.js"
import { RunStore } from "../db/RunStore.js"
import { SearchStore } from "../db/SearchStore.js"
import { decodeRunConfig } from "../config/ConfigLoader.js"
import { languageOf } from "../domain/Languages.js"
import type { ConfigError, DatabaseError, RunBusy, RunNotFound } from "../domain/Errors.js"
import { RunId } from "../domain/Ids.js"
import type { Failure, Metrics } from "../domain/Program.js"
import type { RunConfigInput, RunSpec } from "../domain/RunConfig.js"
import type { RunEvent } from "../domain/RunEvent.js"
import type { RunSummary } from "../engine/RunActor.js"
import type { RunLimits } from "../engine/RunLimits.js"
import type { RunServices } from "../engine/RunServices.js"
import { startRun } from "../engine/startRun.js"

/** The best program of a run (or the program itself when evolution was switched off). */
export interface EvolveResult {
  /** False when `EVOLVE=0` ran the program unevolved. */
  readonly evolved: boolean
  /** The run, for `resume` and the CLI (`evolve show`); null when not evolved. */
  readonly runId: string | null
  /** The best program's id; null when nothing scored (then `code` is the initial program). */
  readonly programId: string | null
  readonly code: string
  /** A multi-file program: its files by path (`code` is then their packed text). */
  readonly files?: Readonly<Record<string, string>> | undefined
  readonly metrics: Metrics | null
  readonly score: number | null
  /** Why the returned program has no score (the initial program failed and nothing scored). */
  readonly failure: Failure | null
  readonly summary: RunSummary | null
}

const extensionOfLanguage: Record<string, string> = {
  javascript: ".js",
  typescript: ".ts",
  python: ".py",
  rust: ".rs",
  go: ".go",
  c: ".c",
  "c++": ".cpp",
  java: ".java",
  julia: ".jl",
  ruby: ".rb",
  shell: ".sh",
  text: ".txt"
}

/** Extension and language of an inline program: either names the other; JavaScript by default. */
export const programKind = (options: { readonly extension?: string | undefined; readonly language?: string | undefined }) => {
  const ext = options.extension === undefined || options.extension === ""
    ? undefined
    : options.extension.startsWith(".") ? options.extension : `.${options.extension}`
  const language = options.language ?? (ext === undefined ? "javascript" : languageOf(`program${ext}`))
  const extension = ext ?? extensionOfLanguage[language.toLowerCase()] ?? ".txt"
  return { extension, language }
}

/**
 * A run spec for a program held in memory and an in-process evaluator: the paths are labels
 * (`inline:program.js`), the extension tells evaluators and prompts what the code is.
 */
export const inlineSpec = (
  config: RunConfigInput,
  program: { readonly extension?: string | undefined; readonly language?: string | undefined } = {}
): Effect.Effect<RunSpec, ConfigError> =>
  Effect.map(decodeRunConfig(config), (decoded) => {
    const kind = programKind({ extension: program.extension, language: program.language ?? decoded.language })
    return {
      programPath: `inline:program${kind.extension}`,
      evaluatorPath: "inline:evaluate",
      config: { ...decoded, language: kind.language }
    }
  })

export interface RunOptions {
  readonly spec: RunSpec
  /** The program to start from (new runs). */
  readonly initialCode?: string | undefined
  /** Resume this run instead of starting one. */
  readonly runId?: string | undefined
  /** Called with every run event, in order (exceptions thrown by it are ignored). */
  readonly onEvent?: ((event: RunEvent) => void) | undefined
  /** Aborting stops the run gracefully: no new proposals, in-flight evaluations get the grace period. */
  readonly signal?: AbortSignal | undefined
}

/** Runs (or resumes) an evolution to its end and returns its best program. */
export const run = (
  options: RunOptions
): Effect.Effect<EvolveResult, DatabaseError | RunNotFound | RunBusy, ProgramDatabase.ProgramDatabase | RunServices | RunLimits> =>
  Effect.scoped(Effect.gen(function*() {
    const runs = yield* RunStore
    if (options.runId !== undefined) yield* runs.getRun(options.runId)
    const services = Layer.succeedContext(yield* Effect.context<RunServices>())
    const handle = yield* startRun(
      options.runId !== undefined
        ? { _tag: "Resume", runId: RunId.make(options.runId), spec: options.spec }
        : { _tag: "New", spec: options.spec, initialCode: options.initialCode ?? "" },
      { services }
    )
    const onEvent = options.onEvent
    let drain: Effect.Effect<void> = Effect.void
    if (onEvent !== undefined) {
      const events = yield* handle.subscribe
      const deliver = (event: RunEvent) => Effect.ignore(Effect.try(() => onEvent(event)))
      // A taken event is always delivered: only the wait for the next one is interruptible.
      const listener = yield* Effect.forkScoped(Effect.forever(
        Effect.uninterruptibleMask((restore) => Effect.flatMap(restore(Queue.take(events)), deliver))
      ))
      // The run publishes its last event before `await` completes: hand over what is left.
      drain = Fiber.interrupt(listener).pipe(
        Effect.zipRight(Queue.takeAll(events)),
        Effect.flatMap((rest) => Effect.forEach(rest, deliver, { discard: true }))
      )
    }
    const signal = options.signal
    if (signal !== undefined) {
      const aborted = Effect.async<void>((resume) => {
        if (signal.aborted) return resume(Effect.void)
        const onAbort = () => resume(Effect.void)
        signal.addEventListener("abort", onAbort, { once: true })
        return Effect.sync(() => signal.removeEventListener("abort", onAbort))
      })
      yield* Effect.forkScoped(Effect.zipRight(aborted, Effect.ignore(handle.client.Stop({}))))
    }
    const summary = yield* handle.await
    yield* drain
    return yield* bestOf(summary)
  }))

/** The best program of a finished run, or its initial program when nothing scored. */
export const bestOf = (summary: RunSummary) =>
  Effect.gen(function*() {
    const candidates = yield* CandidateStore
    const search = yield* SearchStore
    const lookup = (id: string) => candidates.getProgram(id).pipe(Effect.catchTag("ProgramNotFound", Effect.die))
    if (summary.bestProgramId !== null) {
      const best = yield* lookup(summary.bestProgramId)
      return {
        evolved: true,
        runId: summary.runId,
        programId: best.id,
        code: best.code,
        metrics: best.metrics,
        score: best.score,
        failure: null,
        summary
      } satisfies EvolveResult
    }
    const state = yield* search.loadRun(summary.runId)
    const initial = state.initialProgramId === null ? null : yield* lookup(state.initialProgramId)
    return {
      evolved: true,
      runId: summary.runId,
      programId: null,
      code: initial?.code ?? "",
      metrics: null,
      score: null,
      failure: initial?.failure ?? null,
      summary
    } satisfies EvolveResult
  })
