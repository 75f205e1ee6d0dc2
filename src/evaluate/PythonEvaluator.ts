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
import { Clock, Effect, Layer, Ref } from "effect"
import { ConfigError } from "../domain/Errors.js"
import * as Traced from "../domain/Traced.js"
import type { EvaluationOutcome } from "../domain/Program.js"
import * as ProgramTree from "../domain/ProgramTree.js"
import * as Bubblewrap from "./Bubblewrap.js"
import * as CommandVerdict from "./CommandVerdict.js"
import { type EvaluationRequest, Evaluator, type PythonEvaluatorOptions } from "./Evaluator.js"
import * as ConfiguredEnv from "./ConfiguredEnv.js"
import * as EvaluatorEnv from "./EvaluatorEnv.js"
import * as FindExecutable from "./FindExecutable.js"
import * as PidNamespace from "./PidNamespace.js"
import * as ProcessTree from "./ProcessTree.js"
import * as PythonPool from "./PythonPool.js"
import * as PythonVerdict from "./PythonVerdict.js"
import type * as PythonWorker from "./PythonWorker.js"
import { pythonStandIns } from "./PythonStandIns.js"
import { pythonWorkerEntry, pythonWorkerFiles } from "./PythonWorkerFiles.js"
import * as ResourceLimits from "./ResourceLimits.js"
import * as TreeMaterializer from "./TreeMaterializer.js"

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
    const cwd = path.resolve(options.cwd ?? path.dirname(evaluatorPath))
    const command = options.contract === "command"
    const setupError = (what: string) => (error: { readonly message: string }) =>
      new ConfigError({ message: `python evaluator: ${what}: ${error.message}` })

    const workerDir = yield* fs.makeTempDirectoryScoped({ prefix: "evolve-worker-" }).pipe(
      Effect.mapError(setupError("cannot create a temp dir"))
    )
    const workerFile = path.join(workerDir, pythonWorkerEntry)
    yield* Effect.forEach(pythonWorkerFiles, ([name, text]) => fs.writeFileString(path.join(workerDir, name), text), {
      discard: true
    }).pipe(Effect.mapError(setupError("cannot write the worker")))
    const standIns = path.join(workerDir, "stand_ins")
    yield* Effect.forEach(pythonStandIns, ([parts, text]) => {
      const file = path.join(standIns, ...parts)
      return fs.makeDirectory(path.dirname(file), { recursive: true }).pipe(Effect.zipRight(fs.writeFileString(file, text)))
    }, { discard: true }).pipe(Effect.mapError(setupError("cannot write the stand-in packages")))
    const candidatesRoot = yield* (options.tempRoot === undefined
      ? fs.makeTempDirectory({ prefix: "evolve-candidates-" })
      : fs.makeDirectory(options.tempRoot, { recursive: true }).pipe(
        Effect.zipRight(fs.makeTempDirectory({ directory: options.tempRoot, prefix: "evolve-candidates-" }))
      )).pipe(Effect.map((dir) => path.resolve(dir)), Effect.mapError(setupError("cannot create a temp dir")))
    yield* Effect.addFinalizer(() =>
      options.keepArtifacts ? Effect.void : Effect.ignore(fs.remove(candidatesRoot, { recursive: true }))
    )

    const trees = yield* TreeMaterializer.make(path.join(candidatesRoot, ".blobs")).pipe(
      Effect.mapError(setupError("cannot create a temp dir"))
    )

    const configured = yield* ConfiguredEnv.fromProcess(options.env ?? ConfiguredEnv.none)
    const scrubbedEnv = { ...(yield* EvaluatorEnv.scrubbedEnv), ...ConfiguredEnv.reveal(configured) }
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
      prefork: options.warm ?? true,
      // command: what a cold start of the script would get.
      argv: options.scriptArgv ?? [evaluatorPath],
      cwd,
      // The candidate's temp dir instead of cwd (evolve's behaviour before OpenEvolve's was adopted).
      working_dir: options.workingDir ?? "evaluator",
      stand_ins: standIns
    }
    // A command script must see the interpreter flags and environment of a cold start.
    const env = command ? scrubbedEnv : { ...scrubbedEnv, PYTHONDONTWRITEBYTECODE: "1", PYTHONUNBUFFERED: "1" }
    const warm = options.warm ?? true
    const workerArgv = [options.python ?? "python3", ...(command ? [] : ["-u"]), workerFile, JSON.stringify(config)]
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
            ...Bubblewrap.bwrapPrefix({
              bwrap,
              writable: [candidatesRoot],
              readable: [workerDir, cwd, path.dirname(evaluatorPath)],
              cwd,
              unsharePid: true
            }),
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
    const verdictOf = PythonVerdict.make(options, path.basename(evaluatorPath))

    /** The candidate's temp dir (created and removed by the worker; `candidatesRoot` is private to this pool). */
    const candidateDir = (programId: string, job: number) =>
      path.join(candidatesRoot, `${programId.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 40)}-${job}`)
    const collect = options.contract === "shinka"
      ? ["metrics.json", "correct.json"]
      : command
      ? ["metrics.json"]
      : []
    const commandVerdict = CommandVerdict.fromPool({
      timeoutMs: options.timeoutMs,
      outputCapBytes: options.outputCapBytes,
      primaryMetric: options.primaryMetric,
      limits,
      noMetricsHint: CommandVerdict.pythonContractHint
    })

    // OpenEvolve's fallback (the mean of the metrics when no fitness key is reported) is said once per evaluator.
    const averageWarned = yield* Ref.make(false)
    const warnAverage = (averaged: ReadonlyArray<string>) =>
      Effect.whenEffect(
        Effect.logWarning(
          `${path.basename(evaluatorPath)}: evaluate() reported neither combined_score nor ${options.primaryMetric}; ` +
            `the score is the average of ${averaged.join(", ")}, as OpenEvolve does (return a combined_score to weigh them)`
        ),
        Ref.getAndSet(averageWarned, true).pipe(Effect.map((warned) => !warned))
      )

    const evaluateOnce = (request: EvaluationRequest) =>
      Effect.gen(function*() {
        const job = ++jobs
        const dir = candidateDir(request.programId, job)
        // A multi-file candidate: its tree is made here (hard links into the cache) and moved into its dir by the worker.
        const tree = ProgramTree.isPacked(request.code) ? `${dir}.tree` : undefined
        if (tree !== undefined) {
          const made = yield* Effect.either(trees.materialize(request.code, tree))
          if (made._tag === "Left") {
            yield* Effect.ignore(fs.remove(tree, { recursive: true }))
            return PythonVerdict.failed("evaluator_error", `cannot write the candidate's files: ${made.left.message}`)
          }
        }
        const outcome = yield* pool.run({
          id: `${request.programId}#${job}`,
          dir,
          program: tree !== undefined ? "program" : `program${request.extension}`,
          ...(tree !== undefined ? { tree } : {}),
          code: tree !== undefined ? "" : request.code,
          collect,
          cleanup: !options.keepArtifacts
        })
        // The worker removes the dir after a normal end; not when it died or was replaced.
        if (outcome._tag !== "Done" && !options.keepArtifacts) yield* Effect.ignore(fs.remove(dir, { recursive: true }))
        if (tree !== undefined) yield* Effect.ignore(fs.remove(tree, { recursive: true }))
        if (command) return yield* commandVerdict(outcome)
        const { averaged, ...verdict } = verdictOf(outcome)
        if (averaged !== undefined) yield* warnAverage(averaged)
        return verdict as PythonVerdict.Verdict
      })

    // A plain function with a span, not Effect.fn: that captures a stack trace (new Error()) per call.
    const evaluate = (request: EvaluationRequest): Effect.Effect<EvaluationOutcome> =>
      Effect.flatMap(Clock.currentTimeMillis, (started) =>
        evaluateOnce(request).pipe(
          Effect.catchAllDefect((defect) => Effect.succeed(PythonVerdict.failed("evaluator_error", `internal error: ${String(defect)}`))),
          Effect.flatMap((verdict) =>
            Effect.map(Clock.currentTimeMillis, (now): EvaluationOutcome => ({ ...verdict, durationMs: now - started }))
          )
        )).pipe(Traced.withSpan("Evaluator.evaluate", { attributes: { "evolve.programId": request.programId } }))

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
