import * as Command from "@effect/platform/Command"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Clock, Deferred, Duration, Effect, Layer, Stream } from "effect"
import { tmpdir } from "node:os"
import { ConfigError } from "../domain/Errors.js"
import type { EvaluationOutcome } from "../domain/Program.js"
import * as ProgramTree from "../domain/ProgramTree.js"
import * as Bubblewrap from "./Bubblewrap.js"
import * as CandidateTempDirs from "./CandidateTempDirs.js"
import { runToEnd } from "./CommandProcess.js"
import { failed, pythonContractHint, readResultFile, setupFailure, tail, verdict } from "./CommandVerdict.js"
import { type CommandEvaluatorOptions, type EvaluationRequest, Evaluator } from "./Evaluator.js"
import * as ConfiguredEnv from "./ConfiguredEnv.js"
import * as EvaluatorEnv from "./EvaluatorEnv.js"
import * as FindExecutable from "./FindExecutable.js"
import * as PidNamespace from "./PidNamespace.js"
import * as ProcessTree from "./ProcessTree.js"
import * as ResourceLimits from "./ResourceLimits.js"
import * as TreeMaterializer from "./TreeMaterializer.js"
import * as Traced from "../domain/Traced.js"

/** The only parent environment variables an evaluator sees (plus EVOLVE_PROGRAM and EVOLVE_RESULTS_DIR). */
export const passedEnv: ReadonlyArray<string> = EvaluatorEnv.passedEnv

/**
 * The `command` contract: runs `options.command <candidate path>` in its own process group and
 * temp dir, with a scrubbed environment, a wall-clock timeout (SIGTERM, then SIGKILL to the
 * group), and an output cap; metrics come from `$EVOLVE_RESULTS_DIR/metrics.json` or the last
 * stdout line (see `MetricsReport.parse`).
 *
 * Without bubblewrap, each evaluation runs in a private pid namespace (`PidNamespace.namespacePrefix`)
 * when the probe at start-up finds that it works: nothing the candidate starts outlives its
 * evaluation or evolve, and it cannot see or signal evolve. Otherwise (with a one-time warning)
 * escaped processes are hunted through the process tree and a /proc environment sweep.
 */
/** Numbers the blob caches of the command evaluators of this process. */
let blobCaches = 0

export const make = (options: CommandEvaluatorOptions, isolation: PidNamespace.Isolation = { pidNamespace: true }) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const executor = yield* CommandExecutor.CommandExecutor
    const [bin, ...args] = options.command
    if (bin === undefined) return yield* Effect.dieMessage("command evaluator: `command` is empty")
    const configured = yield* ConfiguredEnv.fromProcess(options.env ?? ConfiguredEnv.none)
    const parentEnv = { ...(yield* EvaluatorEnv.scrubbedEnv), ...ConfiguredEnv.reveal(configured) }
    const tree = yield* ProcessTree.makeProcessTree
    const limits: ResourceLimits.Limits = { memoryMb: options.memoryMb, cpuSeconds: options.cpuSeconds }
    const limitArgs = ResourceLimits.limitsPrefix(limits)
    const bwrap = options.sandbox === "bwrap" ? yield* FindExecutable.findExecutable("bwrap") : undefined
    if (options.sandbox === "bwrap" && bwrap === undefined) {
      return yield* new ConfigError({ path: "evaluator.sandbox", message: Bubblewrap.bwrapMissing })
    }
    const cwd = path.resolve(options.cwd)
    // working_dir: candidate runs it in the candidate's temp dir: a relative evaluator path is the evaluator dir's.
    const inCandidateDir = options.workingDir === "candidate"
    const program = bin.includes("/") ? path.resolve(cwd, bin) : bin
    const tempRoot = path.resolve(options.tempRoot ?? tmpdir())
    const namespaceId = yield* PidNamespace.pidNamespaceId
    // Temp dirs of candidates in flight when an earlier evolve was killed -9.
    const swept = yield* CandidateTempDirs.sweepTempDirs(tempRoot, namespaceId)
    if (swept.length > 0) {
      yield* Effect.logInfo(`removed ${swept.length} candidate temp dir(s) left in ${tempRoot} by evolve processes that died`)
    }
    // Multi-file candidates are made of hard links into this cache (TreeMaterializer.ts), created at the first one.
    const blobDir = path.join(tempRoot, `${CandidateTempDirs.tempDirPrefix(namespaceId, "blobs")}${++blobCaches}`)
    yield* Effect.addFinalizer(() => Effect.ignore(fs.remove(blobDir, { recursive: true })))
    const trees = yield* TreeMaterializer.make(blobDir)
    // A missing evaluator is reported by the spawn itself ("could not start"), not by a shell.
    const binFound = bin.includes("/")
      ? yield* fs.exists(path.resolve(cwd, bin)).pipe(Effect.orElseSucceed(() => false))
      : (yield* FindExecutable.findExecutable(bin)) !== undefined
    // The probe runs in the background; evaluations wait on its result (a Deferred, not a join of
    // the probe's fiber, which would also merge that fiber's FiberRefs into every evaluation).
    const probe = yield* Deferred.make<PidNamespace.PidNamespace | undefined>()
    yield* Effect.forkScoped(Effect.flatMap(
      bwrap !== undefined || !isolation.pidNamespace || !binFound
        ? Effect.succeed(undefined)
        : PidNamespace.probePidNamespace.pipe(
          Effect.tap((probe) =>
            probe._tag === "Available" ? Effect.void : Effect.logWarning(
              `command evaluator: no private pid namespace per evaluation (${probe.reason}); escaped processes are ` +
                "hunted through the process tree and the /proc environment instead, and a candidate can see and signal evolve"
            )
          ),
          Effect.map((probe) => probe._tag === "Available" ? probe.namespace : undefined)
        ),
      (namespace) => Deferred.succeed(probe, namespace)
    ))
    const pythonHint = options.command.some((arg) => arg.endsWith(".py")) ? pythonContractHint : ""
    /** The full argv for one candidate: bubblewrap or the pid namespace, then the rlimits, then the evaluator. */
    const argvFor = (
      dir: string,
      programPath: string,
      namespace: PidNamespace.PidNamespace | undefined
    ): ReadonlyArray<string> => [
      ...(bwrap !== undefined
        ? Bubblewrap.bwrapPrefix({ bwrap, writable: [dir], readable: [cwd], cwd: inCandidateDir ? dir : cwd, unsharePid: true })
        : namespace !== undefined
        ? PidNamespace.namespacePrefix(namespace)
        : []),
      ...limitArgs,
      program,
      ...args,
      programPath
    ]
    const runOptions = {
      bwrap: bwrap !== undefined,
      timeout: Duration.millis(options.timeoutMs),
      killGrace: Duration.millis(options.killGraceMs),
      outputCapBytes: options.outputCapBytes,
      tree
    }
    const verdictOptions = {
      timeoutMs: options.timeoutMs,
      outputCapBytes: options.outputCapBytes,
      primaryMetric: options.primaryMetric,
      limits,
      noMetricsHint: pythonHint
    }

    const tempDir = (programId: string) => {
      const prefix = CandidateTempDirs.tempDirPrefix(namespaceId, programId)
      const create = options.tempRoot === undefined
        ? fs.makeTempDirectory({ directory: tempRoot, prefix })
        : fs.makeDirectory(tempRoot, { recursive: true }).pipe(
          Effect.zipRight(fs.makeTempDirectory({ directory: tempRoot, prefix }))
        )
      return Effect.acquireRelease(
        Effect.map(create, (dir) => path.resolve(dir)),
        (dir) => options.keepArtifacts ? Effect.void : Effect.ignore(fs.remove(dir, { recursive: true }))
      )
    }
    const evaluateScoped = (request: EvaluationRequest) =>
      Effect.gen(function*() {
        const dir = yield* tempDir(request.programId)
        // A multi-file candidate is a directory, and its path is what the evaluator gets.
        const isTree = ProgramTree.isPacked(request.code)
        const programPath = path.join(dir, isTree ? "program" : `program${request.extension}`)
        const resultsDir = path.join(dir, "results")
        yield* isTree ? trees.materialize(request.code, programPath) : fs.writeFileString(programPath, request.code)
        yield* fs.makeDirectory(resultsDir)
        const namespace = yield* Deferred.await(probe)
        const [first, ...rest] = argvFor(dir, programPath, namespace)
        const command = Command.make(first!, ...rest).pipe(
          Command.workingDirectory(inCandidateDir ? dir : cwd),
          Command.env({ ...parentEnv, EVOLVE_PROGRAM: programPath, EVOLVE_RESULTS_DIR: resultsDir }, {
            extendEnv: false
          }),
          Command.stdin(namespace === undefined ? Stream.empty : "pipe")
        )
        const { ending, stderr, stdout } = yield* runToEnd(command, {
          ...runOptions,
          marker: `EVOLVE_RESULTS_DIR=${resultsDir}`,
          namespace: namespace !== undefined
        })
        const metricsFile = readResultFile(path.join(resultsDir, "metrics.json"), options.outputCapBytes)
        return yield* verdict(verdictOptions, ending, stdout, tail(stderr), metricsFile)
      }).pipe(Effect.scoped)

    const evaluate = Traced.fn("Evaluator.evaluate")(function*(request: EvaluationRequest) {
      yield* Traced.annotateCurrentSpan({ "evolve.programId": request.programId })
      const started = yield* Clock.currentTimeMillis
      const result = yield* evaluateScoped(request).pipe(
        Effect.catchAll((error) => Effect.succeed(setupFailure(bin)(error))),
        Effect.catchAllDefect((defect) => Effect.succeed(failed("evaluator_error", `internal error: ${String(defect)}`))),
        Effect.provideService(CommandExecutor.CommandExecutor, executor)
      )
      const durationMs = (yield* Clock.currentTimeMillis) - started
      const outcome: EvaluationOutcome = { ...result, durationMs }
      return outcome
    })

    return Evaluator.of({ evaluate })
  })

/**
 * The `command` contract as the run's `Evaluator`; needs the platform (e.g. `NodeContext.layer`).
 * Fails with a ConfigError when `sandbox: "bwrap"` is asked for and bubblewrap is missing.
 */
export const layer = (
  options: CommandEvaluatorOptions,
  isolation?: PidNamespace.Isolation
): Layer.Layer<Evaluator, ConfigError, CommandExecutor.CommandExecutor | FileSystem.FileSystem | Path.Path> =>
  Layer.scoped(Evaluator, make(options, isolation))
