/**
 * The Python contracts on the warm worker pool (`PythonPool`).
 *
 * - `openevolve`: the evaluator module defines `evaluate(program_path)` returning a dict of
 *   metrics or an object with `.metrics` and `.artifacts` (OpenEvolve's `EvaluationResult`; a
 *   stand-in is provided when OpenEvolve is not installed). With `cascade` on and an
 *   `evaluate_stage1` defined, stages 1..3 run in order; stage k+1 runs only when the score
 *   after stage k (combined_score, else the primary metric, else the mean of the numeric
 *   metrics) reaches `cascadeThresholds[k-1]`. Metrics are those of the completed stages merged,
 *   later stages winning; where and why the cascade stopped goes to the feedback.
 * - `shinka`: `evaluate.py` runs as `__main__` with `--program_path P --results_dir D`, then
 *   `D/metrics.json` (`combined_score`, numeric `public` entries as metrics; `private` is
 *   not shown to the LLM; `text_feedback`) and `D/correct.json` (`correct`, `error`) decide.
 *
 * Every candidate gets its own temp dir (removed afterwards unless `keepArtifacts`), a forked
 * process in its own process group under RLIMIT_AS / RLIMIT_CPU, a scrubbed environment and
 * the wall-clock timeout. Metrics go through `MetricsReport` like every other contract.
 *
 * With the warm pool (the default) each worker imports the evaluator module once: edits to the
 * evaluator file during a run are not picked up (set `warm: false` for a fresh import per
 * candidate, at the cost of the interpreter's start-up). The forked child starts with the
 * worker's address space (the evaluator's imports: numpy and scipy are about 300 MB of virtual
 * memory), so `memoryMb` (RLIMIT_AS) must leave room above that.
 */
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Clock, Effect, Layer, Schema } from "effect"
import { ConfigError } from "../domain/Errors.js"
import type { EvaluationOutcome, FailureKind } from "../domain/Program.js"
import * as Bubblewrap from "./Bubblewrap.js"
import { type EvaluationRequest, Evaluator, type PythonEvaluatorOptions } from "./Evaluator.js"
import * as EvaluatorEnv from "./EvaluatorEnv.js"
import * as Feedback from "./Feedback.js"
import * as FindExecutable from "./FindExecutable.js"
import * as MetricsReport from "./MetricsReport.js"
import * as PidNamespace from "./PidNamespace.js"
import * as ProcessTree from "./ProcessTree.js"
import * as PythonPool from "./PythonPool.js"
import type * as PythonWorker from "./PythonWorker.js"
import { pythonWorkerEntry, pythonWorkerFiles } from "./PythonWorkerFiles.js"
import type * as PythonWorkerProtocol from "./PythonWorkerProtocol.js"
import * as ResourceLimits from "./ResourceLimits.js"

type Verdict =
  | Omit<Extract<EvaluationOutcome, { _tag: "Scored" }>, "durationMs">
  | Omit<Extract<EvaluationOutcome, { _tag: "Failed" }>, "durationMs">

const failed = (kind: FailureKind, message: string, feedback: string | null = null): Verdict => ({
  _tag: "Failed",
  failure: { kind, message },
  feedback
})

const Raised = Schema.Struct({
  ok: Schema.Literal(false),
  error: Schema.String,
  memory: Schema.optional(Schema.Boolean)
})
const OpenEvolveResult = Schema.Union(
  Schema.Struct({
    ok: Schema.Literal(true),
    metrics_json: Schema.String,
    artifacts: Schema.Record({ key: Schema.String, value: Schema.String }),
    stages: Schema.Number,
    notes: Schema.Array(Schema.String)
  }),
  Raised
)
const ShinkaResult = Schema.Union(Schema.Struct({ ok: Schema.Literal(true), exit: Schema.Number }), Raised)
const decodeOpenEvolve = Schema.decodeUnknownEither(OpenEvolveResult)
const decodeShinka = Schema.decodeUnknownEither(ShinkaResult)

const lastLine = (text: string) => {
  const lines = text.trim().split("\n")
  return lines[lines.length - 1]?.trim() ?? ""
}

const tail = (text: string, max = 2048) => {
  const trimmed = text.trim()
  return trimmed.length > max ? `…${trimmed.slice(-max)}` : trimmed
}

const withTail = (message: string, stderr: string) => {
  const t = tail(stderr)
  return t === "" ? message : `${message}:\n${t}`
}

const endingText = (ending: PythonWorkerProtocol.Ending) =>
  "signal" in ending ? `killed by ${ending.signal}` : `exit code ${ending.code}`

/** metrics.json of the Shinka contract: numeric `public` entries become metrics; `private` stays out. */
const shinkaFields = (fields: Record<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  const pub = fields.public
  if (typeof pub === "object" && pub !== null && !Array.isArray(pub)) {
    for (const [key, value] of Object.entries(pub)) {
      if (typeof value === "number" || typeof value === "boolean") out[key] = value
    }
  }
  for (const [key, value] of Object.entries(fields)) {
    if (key !== "public" && key !== "private") out[key] = value
  }
  return out
}

/**
 * Without bubblewrap, each worker runs in a private pid namespace when the machine allows it
 * (`PidNamespace.namespacePrefix`, probed before the first worker starts): a candidate cannot see or
 * signal evolve (without it, one `os.kill` took evolve, or the whole `evolve serve`, down), and
 * whatever it leaves running dies with its worker. Otherwise a one-time warning, and the process
 * tree and environment marker are all that finds escaped processes.
 */
export const make = (options: PythonEvaluatorOptions, isolation: PidNamespace.Isolation = { pidNamespace: true }) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const tree = yield* ProcessTree.makeProcessTree
    const limits: ResourceLimits.Limits = { memoryMb: options.memoryMb, cpuSeconds: options.cpuSeconds }
    const sandbox = options.sandbox ?? "none"
    const bwrap = sandbox === "bwrap" ? yield* FindExecutable.findExecutable("bwrap") : undefined
    if (sandbox === "bwrap" && bwrap === undefined) {
      return yield* new ConfigError({ path: "evaluator.sandbox", message: Bubblewrap.bwrapMissing })
    }
    const evaluatorPath = path.resolve(options.evaluatorPath)
    const cwd = path.dirname(evaluatorPath)
    const setupError = (what: string) => (error: { readonly message: string }) =>
      new ConfigError({ message: `python evaluator: ${what}: ${error.message}` })

    const workerDir = yield* fs.makeTempDirectoryScoped({ prefix: "evolve-worker-" }).pipe(
      Effect.mapError(setupError("cannot create a temp dir"))
    )
    const workerFile = path.join(workerDir, pythonWorkerEntry)
    yield* Effect.forEach(pythonWorkerFiles, ([name, text]) => fs.writeFileString(path.join(workerDir, name), text), {
      discard: true
    }).pipe(Effect.mapError(setupError("cannot write the worker")))
    const candidatesRoot = yield* (options.tempRoot === undefined
      ? fs.makeTempDirectory({ prefix: "evolve-candidates-" })
      : fs.makeDirectory(options.tempRoot, { recursive: true }).pipe(
        Effect.zipRight(fs.makeTempDirectory({ directory: options.tempRoot, prefix: "evolve-candidates-" }))
      )).pipe(Effect.map((dir) => path.resolve(dir)), Effect.mapError(setupError("cannot create a temp dir")))
    yield* Effect.addFinalizer(() =>
      options.keepArtifacts ? Effect.void : Effect.ignore(fs.remove(candidatesRoot, { recursive: true }))
    )

    const config = {
      contract: options.contract,
      evaluator_path: evaluatorPath,
      primary_metric: options.primaryMetric,
      output_cap_bytes: options.outputCapBytes,
      memory_mb: options.memoryMb ?? null,
      cpu_seconds: options.cpuSeconds ?? null,
      cascade: options.cascade ?? true,
      thresholds: options.cascadeThresholds ?? [],
      // A worker that serves many jobs forks each job's child ahead of time.
      prefork: options.warm ?? true
    }
    const env = { ...(yield* EvaluatorEnv.scrubbedEnv), PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1" }
    const warm = options.warm ?? true
    const workerArgv = [options.python ?? "python3", "-u", workerFile, JSON.stringify(config)]
    const context = yield* Effect.context<CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path>()
    const namespacedLaunch = PidNamespace.probePidNamespace.pipe(
      Effect.flatMap((probe): Effect.Effect<PythonWorker.WorkerLaunch> =>
        probe._tag === "Available"
          ? Effect.succeed({ argv: [...PidNamespace.namespacePrefix(probe.namespace, "inherit"), ...workerArgv], namespaced: true })
          : Effect.as(
            Effect.logWarning(
              `python evaluator: no private pid namespace for the workers (${probe.reason}); a candidate can see and ` +
                "signal evolve, and processes it leaves behind are hunted through the process tree and the environment"
            ),
            { argv: workerArgv, namespaced: false }
          )
      ),
      Effect.provide(context)
    )
    const launch = yield* Effect.cached(
      bwrap !== undefined
        ? Effect.succeed<PythonWorker.WorkerLaunch>({
          argv: [
            ...Bubblewrap.bwrapPrefix({ bwrap, writable: [candidatesRoot], readable: [workerDir, cwd], cwd, unsharePid: true }),
            ...workerArgv
          ],
          namespaced: true
        })
        : isolation.pidNamespace
        ? namespacedLaunch
        : Effect.succeed<PythonWorker.WorkerLaunch>({ argv: workerArgv, namespaced: false })
    )
    const pool = yield* PythonPool.make({
      launch,
      cwd,
      env,
      slots: options.slots,
      reuse: warm,
      timeoutMs: options.timeoutMs,
      killGraceMs: options.killGraceMs,
      startTimeoutMs: options.startTimeoutMs ?? options.timeoutMs + 30_000,
      tree
    })
    if (warm) yield* Effect.forkScoped(pool.warm)

    let jobs = 0
    const evaluatorName = path.basename(evaluatorPath)

    /** The candidate's temp dir (created and removed by the worker; `candidatesRoot` is private to this pool). */
    const candidateDir = (programId: string, job: number) =>
      path.join(candidatesRoot, `${programId.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 40)}-${job}`)
    const collect = options.contract === "shinka" ? ["metrics.json", "correct.json"] : []

    /** A child that ended without reporting: a crash, a signal (memory, CPU), or os._exit. */
    const crashed = (done: PythonWorkerProtocol.Done): Verdict => {
      const signalName = "signal" in done.exit ? done.exit.signal : null
      const hint = ResourceLimits.limitHint(limits, done.stderr, signalName)
      const what = signalName !== null
        ? `the evaluation process was killed by ${signalName}`
        : `the evaluation process ended with exit code ${"code" in done.exit ? done.exit.code : "?"} without a result`
      const message = [what, hint, done.result_error].filter((s) => s !== null && s !== "").join("; ")
      return failed(
        "evaluator_error",
        withTail(message, done.stderr),
        Feedback.compose({ stderr: done.stderr, stdout: done.stdout, exit: endingText(done.exit) })
      )
    }

    const raised = (result: typeof Raised.Type, done: PythonWorkerProtocol.Done, what: string): Verdict => {
      if (result.memory === true) {
        const limit = options.memoryMb === undefined ? "" : ` (memory limit of ${options.memoryMb} MB)`
        return failed(
          "evaluator_error",
          `${what} ran out of memory${limit}: MemoryError`,
          Feedback.compose({ stderr: result.error, stdout: done.stdout })
        )
      }
      return failed(
        "evaluator_error",
        `${what} raised ${lastLine(result.error)}`,
        Feedback.compose({ stderr: done.stderr === "" ? result.error : done.stderr, stdout: done.stdout })
      )
    }

    const openEvolveVerdict = (done: PythonWorkerProtocol.Done): Verdict => {
      const decoded = decodeOpenEvolve(done.result)
      if (decoded._tag === "Left") return failed("evaluator_error", "the Python worker sent a malformed result")
      const result = decoded.right
      if (!result.ok) return raised(result, done, "evaluate()")
      const report = MetricsReport.parse(result.metrics_json, {
        source: "the metrics evaluate() returned",
        primaryMetric: options.primaryMetric
      })
      const feedback = Feedback.compose({
        textFeedback: report.textFeedback,
        notes: result.notes,
        artifacts: result.artifacts,
        stderr: done.stderr
      })
      return report._tag === "Scored"
        ? { _tag: "Scored", metrics: report.metrics, score: report.score, feedback }
        : { _tag: "Failed", failure: report.failure, feedback }
    }

    type Collected = PythonWorkerProtocol.Done["files"][string] | undefined

    /** A collected file that cannot be used: why, or undefined when it is text (or missing). */
    const unusable = (name: string, file: Collected): string | undefined => {
      if (typeof file !== "object" || file === null) return undefined
      if ("too_big" in file) return `${name} is ${file.too_big} bytes, over the ${options.outputCapBytes}-byte cap`
      return `${name} is not a regular file (${file.refused}): refused`
    }

    const shinkaVerdict = (done: PythonWorkerProtocol.Done): Verdict => {
      const decoded = decodeShinka(done.result)
      if (decoded._tag === "Left") return failed("evaluator_error", "the Python worker sent a malformed result")
      const result = decoded.right
      if (!result.ok) return raised(result, done, evaluatorName)
      const logs = { stderr: done.stderr, stdout: done.stdout }
      if (result.exit !== 0) {
        return failed(
          "evaluator_error",
          withTail(`${evaluatorName} exited with code ${result.exit}`, done.stderr),
          Feedback.compose({ ...logs, exit: `exit code ${result.exit}` })
        )
      }
      const metricsFile = done.files["metrics.json"]
      if (metricsFile === undefined || metricsFile === null) {
        return failed("bad_metrics", `${evaluatorName} wrote no metrics.json to its --results_dir`, Feedback.compose(logs))
      }
      const correctFile = done.files["correct.json"]
      const refused = unusable("metrics.json", metricsFile) ?? unusable("correct.json", correctFile)
      if (refused !== undefined || typeof metricsFile !== "string") {
        return failed("bad_metrics", refused ?? "metrics.json is unusable", Feedback.compose(logs))
      }
      const metrics = MetricsReport.decodeObject(metricsFile, "metrics.json")
      if (metrics._tag === "Failed") return { ...metrics, feedback: Feedback.compose(logs) }
      const fields = shinkaFields(metrics.fields)
      if (typeof correctFile === "string") {
        const correct = MetricsReport.decodeObject(correctFile, "correct.json")
        if (correct._tag === "Failed") return { ...correct, feedback: Feedback.compose(logs) }
        if (correct.fields.correct === false) {
          fields.correct = false
          const error = correct.fields.error
          if (typeof error === "string" && error.trim() !== "") fields.error = error
        }
      }
      const report = MetricsReport.fromFields(fields, { source: "metrics.json", primaryMetric: options.primaryMetric })
      const feedback = Feedback.compose({ textFeedback: report.textFeedback, stderr: done.stderr })
      return report._tag === "Scored"
        ? { _tag: "Scored", metrics: report.metrics, score: report.score, feedback }
        : { _tag: "Failed", failure: report.failure, feedback }
    }

    const verdictOf = (outcome: PythonPool.PoolOutcome): Verdict => {
      switch (outcome._tag) {
        case "WorkerError":
          return failed("evaluator_error", outcome.message)
        case "TimedOut":
          return failed("timeout", `evaluation exceeded the ${options.timeoutMs} ms time limit; ${outcome.message}`)
      }
      const done = outcome.done
      if (outcome.timedOut) {
        return failed(
          "timeout",
          `evaluation exceeded the ${options.timeoutMs} ms time limit`,
          Feedback.compose({
            stderr: done.stderr,
            stdout: done.stdout,
            exit: "killed at the time limit (SIGTERM to its process group and tree, then SIGKILL)"
          })
        )
      }
      if (done.overflow !== null) {
        return failed(
          "output_limit",
          done.overflow === "result"
            ? "the evaluation's result was too large"
            : `the evaluation wrote more than ${options.outputCapBytes} bytes to ${done.overflow}`,
          Feedback.compose({ stderr: done.stderr })
        )
      }
      if (done.result === null) return crashed(done)
      return options.contract === "openevolve" ? openEvolveVerdict(done) : shinkaVerdict(done)
    }

    const evaluateOnce = (request: EvaluationRequest) =>
      Effect.gen(function*() {
        const job = ++jobs
        const dir = candidateDir(request.programId, job)
        const outcome = yield* pool.run({
          id: `${request.programId}#${job}`,
          dir,
          program: `program${request.extension}`,
          code: request.code,
          collect,
          cleanup: !options.keepArtifacts
        })
        // The worker removes the dir after a normal end; not when it died or was replaced.
        if (outcome._tag !== "Done" && !options.keepArtifacts) yield* Effect.ignore(fs.remove(dir, { recursive: true }))
        return verdictOf(outcome)
      })

    // A plain function with a span, not Effect.fn: that captures a stack trace (new Error()) per call.
    const evaluate = (request: EvaluationRequest): Effect.Effect<EvaluationOutcome> =>
      Effect.flatMap(Clock.currentTimeMillis, (started) =>
        evaluateOnce(request).pipe(
          Effect.catchAllDefect((defect) => Effect.succeed(failed("evaluator_error", `internal error: ${String(defect)}`))),
          Effect.flatMap((verdict) =>
            Effect.map(Clock.currentTimeMillis, (now): EvaluationOutcome => ({ ...verdict, durationMs: now - started }))
          )
        )).pipe(Effect.withSpan("Evaluator.evaluate", { attributes: { "evolve.programId": request.programId } }))

    return Evaluator.of({ evaluate })
  })

/**
 * The Python contracts as the run's `Evaluator`, over a warm worker pool that lives as long as
 * the layer. Fails with a ConfigError when the sandbox asked for is unavailable.
 */
export const layer = (
  options: PythonEvaluatorOptions,
  isolation?: PidNamespace.Isolation
): Layer.Layer<Evaluator, ConfigError, CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path> =>
  Layer.scoped(Evaluator, make(options, isolation))
