/**
 * The warm Python worker pool behind the Python contracts: one long-lived worker process per
 * slot (see `PythonWorkerSource`), each running one job at a time.
 *
 * - A job is one line to the worker; the worker forks a child and answers "started" (the child's
 *   pid, which leads its own process group) and then "done".
 * - evolve owns the clock: past the job's timeout it sends SIGTERM to the child's group and
 *   tree, waits the grace period, then freezes and SIGKILLs the tree. A worker that still does
 *   not answer is killed with everything below it and replaced on the next job.
 * - A worker that dies (or fails to import the evaluator) costs at most the job in flight; the
 *   next job on its slot starts a new one. A job whose worker died before forking is retried once.
 * - With `reuse: false` every job gets a fresh worker (cold start), which picks up evaluator edits.
 */
import { Command, CommandExecutor } from "@effect/platform"
import { Data, Duration, Effect, Exit, type Option, Queue, Schema, Scope, Stream } from "effect"
import type { ProcessTree } from "./Sandbox.js"

const Ending = Schema.Union(Schema.Struct({ code: Schema.Number }), Schema.Struct({ signal: Schema.String }))
export type Ending = typeof Ending.Type

const Ready = Schema.Struct({ type: Schema.Literal("ready"), pid: Schema.Number, python: Schema.String })
const LoadError = Schema.Struct({ type: Schema.Literal("load_error"), error: Schema.String })
const Started = Schema.Struct({ type: Schema.Literal("started"), id: Schema.String, pid: Schema.Number })
export const Done = Schema.Struct({
  type: Schema.Literal("done"),
  id: Schema.String,
  exit: Ending,
  /** What the child reported over its pipe (contract-specific), null when it reported nothing. */
  result: Schema.Unknown,
  result_error: Schema.NullOr(Schema.String),
  stdout: Schema.String,
  stderr: Schema.String,
  overflow: Schema.NullOr(Schema.Literal("stdout", "stderr", "result")),
  /** Processes still alive below the worker after the child ended (killed by the worker). */
  leftover: Schema.Number,
  /** The job's `collect` files from its results dir: text, null when missing, or too big. */
  files: Schema.Record({
    key: Schema.String,
    value: Schema.Union(Schema.String, Schema.Null, Schema.Struct({ too_big: Schema.Number }))
  })
})
export type Done = typeof Done.Type

const SetupError = Schema.Struct({ type: Schema.Literal("setup_error"), id: Schema.String, error: Schema.String })
const WorkerMessage = Schema.Union(Ready, LoadError, Started, Done, SetupError)
type WorkerMessage = typeof WorkerMessage.Type
const decodeMessage = Schema.decodeUnknownEither(Schema.parseJson(WorkerMessage))

type WorkerEvent = WorkerMessage | { readonly type: "eof"; readonly exit: string }

export interface PoolJob {
  readonly id: string
  /**
   * The candidate's temp dir (must not exist yet): the worker creates it with `results/`,
   * writes `code` to `program`, runs the child there, and removes it afterwards if `cleanup`.
   */
  readonly dir: string
  readonly program: string
  readonly code: string
  /** Files of `dir/results` whose text comes back in `done.files`. */
  readonly collect: ReadonlyArray<string>
  readonly cleanup: boolean
}

export type PoolOutcome =
  /** The child ran (`timedOut`: evolve killed it at the time limit). */
  | { readonly _tag: "Done"; readonly done: Done; readonly timedOut: boolean }
  /** Timed out, and the worker had to be killed too. */
  | { readonly _tag: "TimedOut"; readonly message: string }
  /** No worker could run the job: spawn failure, import error, or the worker died. */
  | { readonly _tag: "WorkerError"; readonly message: string }

export interface PoolOptions {
  /** The worker's argv (interpreter, worker file, config; possibly behind bwrap). */
  readonly argv: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Record<string, string>
  readonly slots: number
  /** false: a fresh worker per job. */
  readonly reuse: boolean
  readonly timeoutMs: number
  readonly killGraceMs: number
  readonly startTimeoutMs: number
  readonly tree: ProcessTree
}

export interface PythonPool {
  readonly run: (job: PoolJob) => Effect.Effect<PoolOutcome>
  /** Starts every slot's worker now (otherwise each starts with its first job). */
  readonly warm: Effect.Effect<void>
}

class WorkerFailure extends Data.TaggedError("WorkerFailure")<{ readonly message: string }> {}

interface Worker {
  readonly pid: number
  readonly scope: Scope.CloseableScope
  readonly input: Queue.Queue<Uint8Array | null>
  readonly messages: Queue.Queue<WorkerEvent>
  readonly stderr: { text: string }
  alive: boolean
}

interface Slot {
  worker: Worker | undefined
}

const stderrKeep = 4096

const tailOf = (text: string, max = 2000) => {
  const trimmed = text.trim()
  return trimmed.length > max ? `…${trimmed.slice(-max)}` : trimmed
}

const withStderr = (message: string, stderr: string) => {
  const tail = tailOf(stderr)
  return tail === "" ? message : `${message}:\n${tail}`
}

export const make = (options: PoolOptions) =>
  Effect.gen(function*() {
    const executor = yield* CommandExecutor.CommandExecutor
    const [bin, ...args] = options.argv
    if (bin === undefined) return yield* Effect.dieMessage("python pool: empty argv")
    const encoder = new TextEncoder()
    const slots: Array<Slot> = Array.from({ length: options.slots }, () => ({ worker: undefined }))
    const free = [...slots]
    const permits = yield* Effect.makeSemaphore(options.slots)
    const grace = Duration.millis(Math.max(options.killGraceMs, 50))

    const spawn: Effect.Effect<Worker, WorkerFailure> = Effect.gen(function*() {
      const scope = yield* Scope.make()
      const worker = yield* Effect.gen(function*() {
        const input = yield* Queue.unbounded<Uint8Array | null>()
        const messages = yield* Queue.unbounded<WorkerEvent>()
        const command = Command.make(bin, ...args).pipe(
          Command.workingDirectory(options.cwd),
          Command.env(options.env, { extendEnv: false }),
          Command.stdin(Stream.fromQueue(input).pipe(Stream.takeWhile((chunk): chunk is Uint8Array => chunk !== null)))
        )
        const proc = yield* Command.start(command).pipe(
          Effect.mapError((error) =>
            new WorkerFailure({
              message: `could not start the Python worker (${bin}): ${
                error._tag === "SystemError" ? error.description ?? error.reason : error.message
              }`
            })
          )
        )
        const stderr = { text: "" }
        const worker: Worker = { pid: proc.pid, scope, input, messages, stderr, alive: true }
        // Runs before the platform's own finalizer (registered earlier), which only sends SIGTERM.
        yield* Effect.addFinalizer(() =>
          Effect.gen(function*() {
            worker.alive = false
            yield* Queue.offer(input, null)
            yield* options.tree.kill(proc.pid)
          })
        )
        yield* proc.stderr.pipe(
          Stream.decodeText(),
          Stream.runForEach((text) =>
            Effect.sync(() => {
              const joined = stderr.text + text
              stderr.text = joined.length > stderrKeep ? joined.slice(-stderrKeep) : joined
            })
          ),
          Effect.ignore,
          Effect.forkScoped
        )
        yield* proc.stdout.pipe(
          Stream.decodeText(),
          Stream.splitLines,
          Stream.runForEach((line) => {
            const decoded = decodeMessage(line)
            if (decoded._tag === "Right") return Queue.offer(messages, decoded.right)
            return Effect.sync(() => {
              stderr.text = `${stderr.text}\n[protocol] ${line.slice(0, 500)}`.slice(-stderrKeep)
            })
          }),
          Effect.ignore,
          Effect.zipRight(Effect.suspend(() => {
            worker.alive = false
            return proc.exitCode.pipe(
              Effect.map((code) => `exit code ${code}`),
              Effect.catchAll((error) => Effect.succeed(/signal: (\w+)/.exec(error.message)?.[1] ?? "unknown exit")),
              Effect.timeoutTo({ duration: "2 seconds", onSuccess: (s) => s, onTimeout: () => "no exit status" }),
              Effect.flatMap((exit) => Queue.offer(messages, { type: "eof", exit }))
            )
          })),
          Effect.forkScoped
        )
        return worker
      }).pipe(
        Scope.extend(scope),
        Effect.provideService(CommandExecutor.CommandExecutor, executor),
        Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, Exit.void))
      )
      const first = yield* Queue.take(worker.messages).pipe(
        Effect.timeoutFail({
          duration: Duration.millis(options.startTimeoutMs),
          onTimeout: () =>
            new WorkerFailure({
              message: withStderr(
                `the Python worker did not import the evaluator within ${options.startTimeoutMs} ms`,
                worker.stderr.text
              )
            })
        }),
        Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, Exit.void))
      )
      switch (first.type) {
        case "ready":
          return worker
        case "load_error":
          yield* Scope.close(scope, Exit.void)
          return yield* new WorkerFailure({
            message: withStderr(`the evaluator could not be imported:\n${tailOf(first.error, 3000)}`, worker.stderr.text)
          })
        case "eof":
          yield* Scope.close(scope, Exit.void)
          return yield* new WorkerFailure({
            message: withStderr(`the Python worker exited at start (${first.exit})`, worker.stderr.text)
          })
        default:
          yield* Scope.close(scope, Exit.void)
          return yield* new WorkerFailure({ message: `the Python worker sent "${first.type}" before "ready"` })
      }
    })

    const discard = (slot: Slot) =>
      Effect.suspend(() => {
        const worker = slot.worker
        slot.worker = undefined
        return worker === undefined ? Effect.void : Scope.close(worker.scope, Exit.void)
      })

    const ensure = (slot: Slot) =>
      Effect.gen(function*() {
        if (slot.worker?.alive) return slot.worker
        yield* discard(slot)
        const worker = yield* spawn
        slot.worker = worker
        return worker
      })

    const withSlot = <A, E, R>(f: (slot: Slot) => Effect.Effect<A, E, R>) =>
      permits.withPermits(1)(
        Effect.suspend(() => {
          const slot = free.pop()!
          return f(slot).pipe(Effect.ensuring(Effect.sync(() => free.push(slot))))
        })
      )

    /** Waits for this job's "done" (recording the child's pid), or the worker's end. */
    const awaitDone = (worker: Worker, id: string, state: { pid: number | undefined }) =>
      Effect.gen(function*() {
        while (true) {
          const event = yield* Queue.take(worker.messages)
          if (event.type === "started" && event.id === id) state.pid = event.pid
          else if ((event.type === "done" || event.type === "setup_error") && event.id === id) return event
          else if (event.type === "eof") return event
        }
      })

    const runOn = (slot: Slot, job: PoolJob, attempt: number): Effect.Effect<PoolOutcome> =>
      Effect.gen(function*() {
        const ready = yield* Effect.either(ensure(slot))
        if (ready._tag === "Left") return { _tag: "WorkerError", message: ready.left.message } as const
        const worker = ready.right
        const state = { pid: undefined as number | undefined }
        const line = JSON.stringify({
          type: "job",
          id: job.id,
          dir: job.dir,
          program: job.program,
          code: job.code,
          collect: job.collect,
          cleanup: job.cleanup
        })
        yield* Queue.offer(worker.input, encoder.encode(`${line}\n`))
        const next = awaitDone(worker, job.id, state)

        const finish = (event: WorkerEvent, timedOut: boolean): Effect.Effect<PoolOutcome> =>
          Effect.gen(function*() {
            if (event.type === "done") {
              if (!options.reuse) yield* discard(slot)
              return { _tag: "Done", done: event, timedOut } as const
            }
            if (event.type === "setup_error") return { _tag: "WorkerError", message: event.error } as const
            yield* discard(slot)
            if (event.type === "eof" && state.pid === undefined && attempt === 0 && !timedOut) {
              // The worker died before it forked: the candidate never ran, so give it a fresh worker.
              return yield* runOn(slot, job, attempt + 1)
            }
            const exit = event.type === "eof" ? event.exit : "unexpected message"
            return timedOut
              ? { _tag: "TimedOut", message: `the Python worker died while its child was killed (${exit})` } as const
              : {
                _tag: "WorkerError",
                message: withStderr(`the Python worker died during the evaluation (${exit})`, worker.stderr.text)
              } as const
          })

        const first: Option.Option<WorkerEvent> = yield* Effect.timeout(next, Duration.millis(options.timeoutMs))
          .pipe(Effect.option)
        if (first._tag === "Some") return yield* finish(first.value, false)

        // Past the time limit: SIGTERM the child's group and tree, then SIGKILL after the grace period.
        if (state.pid !== undefined) {
          const pid = state.pid
          yield* options.tree.terminate(pid)
          const polite = yield* Effect.option(Effect.timeout(next, grace))
          if (polite._tag === "Some") return yield* finish(polite.value, true)
          yield* options.tree.kill(pid)
          const forced = yield* Effect.option(Effect.timeout(next, Duration.seconds(2)))
          if (forced._tag === "Some") return yield* finish(forced.value, true)
        }
        yield* discard(slot)
        return {
          _tag: "TimedOut",
          message: "the Python worker did not answer after its child was killed, so it was replaced"
        } as const
      }).pipe(Effect.onInterrupt(() => discard(slot)))

    const run = (job: PoolJob) => withSlot((slot) => runOn(slot, job, 0))

    const warm = Effect.forEach(slots, () => withSlot((slot) => Effect.ignore(ensure(slot))), {
      concurrency: "unbounded",
      discard: true
    })

    yield* Effect.addFinalizer(() => Effect.forEach(slots, discard, { discard: true }))

    const pool: PythonPool = { run, warm }
    return pool
  })
