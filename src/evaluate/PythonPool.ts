/**
 * The warm Python worker pool behind the Python contracts: one long-lived worker process per
 * slot (see `PythonWorkerSource`), each running one job at a time.
 *
 * - A job is one line to the worker; the worker forks a child and answers "started" (the child's
 *   pid, which leads its own process group) and then "done".
 * - evolve owns the clock: past the job's timeout it sends SIGTERM to the child's group and
 *   tree, waits the grace period, then freezes and SIGKILLs the tree. A worker that still does
 *   not answer is killed with everything below it and replaced on the next job. The first
 *   deadline comes from one timer per worker (a watchdog fiber re-armed lazily), not a race per job.
 * - A worker that dies (or fails to import the evaluator) costs at most the job in flight; the
 *   next job on its slot starts a new one. A job whose worker died before forking is retried once.
 *   Its exit is noticed even when something it left behind holds its stdout open.
 * - A line on the protocol pipe that does not fit (a candidate can write there through
 *   pidfd_getfd) fails the job in flight and retires the worker.
 * - A worker that died, was corrupted or timed out is killed with what escaped its tree: every
 *   process carrying its `EVOLVE_POOL_WORKER` environment marker.
 * - Workers may run in a private pid namespace (`WorkerLaunch.namespaced`): a candidate then
 *   cannot see or signal evolve, and whatever it leaves behind dies with its worker. The child
 *   pids a worker reports are then its namespace's, and are translated before evolve signals them.
 * - With `reuse: false` every job gets a fresh worker (cold start), which picks up evaluator edits.
 */
import * as Command from "@effect/platform/Command"
import * as CommandExecutor from "@effect/platform/CommandExecutor"
import { Clock, Data, Deferred, Duration, Effect, type Either, Exit, Queue, Random, Schema, Scope, Stream } from "effect"
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
  /**
   * The job's `collect` files from its results dir: text, null when missing, too big, or refused
   * (not a regular file: a FIFO, a symlink, a device…; `refused` says which).
   */
  files: Schema.Record({
    key: Schema.String,
    value: Schema.Union(
      Schema.String,
      Schema.Null,
      Schema.Struct({ too_big: Schema.Number }),
      Schema.Struct({ refused: Schema.String })
    )
  })
})
export type Done = typeof Done.Type

const SetupError = Schema.Struct({ type: Schema.Literal("setup_error"), id: Schema.String, error: Schema.String })
const WorkerMessage = Schema.Union(Ready, LoadError, Started, Done, SetupError)
type WorkerMessage = typeof WorkerMessage.Type
/** One decoder per message type: cheaper than trying every member of the union. */
const decoders: Record<string, (input: unknown) => Either.Either<WorkerMessage, unknown>> = {
  ready: Schema.decodeUnknownEither(Ready),
  load_error: Schema.decodeUnknownEither(LoadError),
  started: Schema.decodeUnknownEither(Started),
  done: Schema.decodeUnknownEither(Done),
  setup_error: Schema.decodeUnknownEither(SetupError)
}

type WorkerEvent =
  | WorkerMessage
  | { readonly type: "eof"; readonly exit: string }
  /** A line on the protocol pipe that is not a message for this worker's current state. */
  | { readonly type: "garbage"; readonly line: string }
  /** The job in flight reached its time limit (from the worker's watchdog). */
  | { readonly type: "deadline" }

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

/** How workers start: decided once, before the first worker (finding out may take a probe). */
export interface WorkerLaunch {
  /** The worker's argv (interpreter, worker file, config; possibly behind bwrap or a pid namespace). */
  readonly argv: ReadonlyArray<string>
  /** The worker runs in its own pid namespace: the pids it reports are not evolve's. */
  readonly namespaced: boolean
}

export interface PoolOptions {
  readonly launch: Effect.Effect<WorkerLaunch>
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
  readonly namespaced: boolean
  readonly scope: Scope.CloseableScope
  /** Lines for the worker's stdin; shut down to close it. */
  readonly input: Queue.Queue<Uint8Array>
  readonly stderr: { text: string }
  /** `NAME=value` in the environment of the worker and everything it forks. */
  readonly marker: string
  /** false once it ended, sent garbage, or was discarded: never given another job. */
  alive: boolean
  /** The job in flight: its id, and its child's pid once "started" arrived. */
  job: Job | undefined
  /** Who waits for the next event, or the events nobody waited for yet. */
  waiter: ((event: WorkerEvent) => void) | undefined
  readonly backlog: Array<WorkerEvent>
  ended: boolean
}

interface Job {
  readonly id: string
  pid: number | undefined
  /** Clock time (ms) past which the watchdog reports "deadline". */
  readonly deadline: number
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

const deliver = (worker: Worker, event: WorkerEvent) => {
  const waiter = worker.waiter
  if (waiter === undefined) {
    worker.backlog.push(event)
  } else {
    worker.waiter = undefined
    waiter(event)
  }
}

/** The worker's next event (registered synchronously: an event is never missed). */
const nextEvent = (worker: Worker): Effect.Effect<WorkerEvent> =>
  Effect.suspend(() => {
    const queued = worker.backlog.shift()
    if (queued !== undefined) return Effect.succeed(queued)
    return Effect.async<WorkerEvent>((resume) => {
      worker.waiter = (event) => resume(Effect.succeed(event))
      return Effect.sync(() => {
        worker.waiter = undefined
      })
    })
  })

const parseLine = (line: string): WorkerMessage | undefined => {
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch {
    return undefined
  }
  const type = typeof json === "object" && json !== null ? (json as { type?: unknown }).type : undefined
  const decode = typeof type === "string" && Object.hasOwn(decoders, type) ? decoders[type] : undefined
  const decoded = decode?.(json)
  return decoded?._tag === "Right" ? decoded.right : undefined
}

/**
 * One line from the worker's protocol pipe. A message that does not fit the worker's state (not
 * JSON, an unknown type, another job's id, "ready" twice) means something else wrote to the pipe
 * (a candidate can reach it through pidfd_getfd): the worker is not trusted again.
 */
const onLine = (worker: Worker, line: string) => {
  if (line === "") return
  const message = parseLine(line)
  const job = worker.job
  if (message !== undefined) {
    switch (message.type) {
      case "started":
        if (job !== undefined && message.id === job.id && job.pid === undefined) {
          job.pid = message.pid
          return
        }
        break
      case "done":
      case "setup_error":
        if (job !== undefined && message.id === job.id) return deliver(worker, message)
        break
      case "ready":
      case "load_error":
        if (job === undefined) return deliver(worker, message)
    }
  }
  worker.alive = false
  deliver(worker, { type: "garbage", line: line.length > 300 ? `${line.slice(0, 300)}…` : line })
}

export const make = (options: PoolOptions) =>
  Effect.gen(function*() {
    const executor = yield* CommandExecutor.CommandExecutor
    const encoder = new TextEncoder()
    const slots: Array<Slot> = Array.from({ length: options.slots }, () => ({ worker: undefined }))
    const free = [...slots]
    const permits = yield* Effect.makeSemaphore(options.slots)
    const grace = Duration.millis(Math.max(options.killGraceMs, 50))
    const markerBase = `${process.pid}-${yield* Random.nextIntBetween(0, 2 ** 30)}`
    let spawned = 0

    const spawn: Effect.Effect<Worker, WorkerFailure> = Effect.gen(function*() {
      const scope = yield* Scope.make()
      const marker = `EVOLVE_POOL_WORKER=${markerBase}-${++spawned}`
      const launch = yield* options.launch
      const [bin, ...args] = launch.argv
      if (bin === undefined) return yield* Effect.dieMessage("python pool: empty argv")
      const worker = yield* Effect.gen(function*() {
        const input = yield* Queue.unbounded<Uint8Array>()
        const command = Command.make(bin, ...args).pipe(
          Command.workingDirectory(options.cwd),
          Command.env({ ...options.env, EVOLVE_POOL_WORKER: marker.slice(marker.indexOf("=") + 1) }, {
            extendEnv: false
          }),
          Command.stdin(Stream.fromQueue(input))
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
        const worker: Worker = {
          pid: proc.pid,
          namespaced: launch.namespaced,
          scope,
          input,
          stderr: { text: "" },
          marker,
          alive: true,
          job: undefined,
          waiter: undefined,
          backlog: [],
          ended: false
        }
        const end = (exit: string) =>
          Effect.sync(() => {
            if (worker.ended) return
            worker.ended = true
            worker.alive = false
            deliver(worker, { type: "eof", exit })
          })
        const exitText = proc.exitCode.pipe(
          Effect.map((code) => `exit code ${code}`),
          Effect.catchAll((error) => Effect.succeed(/signal: (\w+)/.exec(error.message)?.[1] ?? "unknown exit"))
        )
        // Runs before the platform's own finalizer (registered earlier), which only sends SIGTERM.
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            worker.alive = false
            return Queue.shutdown(input).pipe(Effect.zipRight(options.tree.kill(proc.pid)))
          })
        )
        yield* proc.stderr.pipe(
          Stream.decodeText(),
          Stream.runForEach((text) =>
            Effect.sync(() => {
              const joined = worker.stderr.text + text
              worker.stderr.text = joined.length > stderrKeep ? joined.slice(-stderrKeep) : joined
            })
          ),
          Effect.ignore,
          Effect.forkScoped
        )
        const stdoutEnded = yield* Deferred.make<void>()
        const decoder = new TextDecoder()
        let partial = ""
        yield* proc.stdout.pipe(
          Stream.runForEachChunk((chunk) =>
            Effect.sync(() => {
              for (const bytes of chunk) {
                const text = partial + decoder.decode(bytes, { stream: true })
                let from = 0
                let newline = text.indexOf("\n")
                while (newline >= 0) {
                  onLine(worker, text.slice(from, newline))
                  from = newline + 1
                  newline = text.indexOf("\n", from)
                }
                partial = from === 0 ? text : text.slice(from)
              }
            })
          ),
          Effect.ignore,
          Effect.zipRight(Effect.suspend(() => {
            if (partial.trim() !== "") onLine(worker, partial)
            partial = ""
            return Deferred.succeed(stdoutEnded, undefined)
          })),
          // The pipe closed: the worker is ending (its exit status, if it comes soon, says how).
          Effect.zipRight(exitText.pipe(
            Effect.timeoutTo({ duration: "2 seconds", onSuccess: (s) => s, onTimeout: () => "no exit status" })
          )),
          Effect.flatMap(end),
          Effect.forkScoped
        )
        // The worker exited: its last lines come before the end of its pipe, unless something it
        // left behind holds the pipe open; then the end is declared without waiting for it.
        yield* exitText.pipe(
          Effect.tap(() => Effect.timeout(Deferred.await(stdoutEnded), "250 millis").pipe(Effect.ignore)),
          Effect.flatMap(end),
          Effect.forkScoped
        )
        // The time limit: one timer per worker, re-armed lazily (it wakes at the earliest deadline
        // it knows of, or one time limit later when idle), so a job costs no timer or race of its own.
        yield* Effect.gen(function*() {
          const reported = new WeakSet<Job>()
          while (true) {
            const now = yield* Clock.currentTimeMillis
            const job = worker.job
            if (job !== undefined && !reported.has(job) && now >= job.deadline) {
              reported.add(job)
              deliver(worker, { type: "deadline" })
            }
            const wait = job !== undefined && !reported.has(job) ? job.deadline - now : options.timeoutMs
            yield* Effect.sleep(Duration.millis(Math.max(1, wait)))
          }
        }).pipe(Effect.forkScoped)
        return worker
      }).pipe(
        Scope.extend(scope),
        Effect.provideService(CommandExecutor.CommandExecutor, executor),
        Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, Exit.void))
      )
      const first = yield* nextEvent(worker).pipe(
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
        Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : close(worker, true))
      )
      switch (first.type) {
        case "ready":
          return worker
        case "load_error":
          yield* close(worker, false)
          return yield* new WorkerFailure({
            message: withStderr(`the evaluator could not be imported:\n${tailOf(first.error, 3000)}`, worker.stderr.text)
          })
        case "eof":
          yield* close(worker, true)
          return yield* new WorkerFailure({
            message: withStderr(`the Python worker exited at start (${first.exit})`, worker.stderr.text)
          })
        default:
          yield* close(worker, true)
          return yield* new WorkerFailure({
            message: `the Python worker sent ${
              first.type === "garbage" ? `"${first.line}"` : `"${first.type}"`
            } before "ready"`
          })
      }
    })

    /**
     * Ends a worker and everything below it; `sweep`: also what escaped its tree (setsid()
     * grandchildren orphaned when the worker died), found by the marker in their environment.
     */
    const close = (worker: Worker, sweep: boolean) =>
      Scope.close(worker.scope, Exit.void).pipe(
        Effect.zipRight(sweep ? Effect.asVoid(options.tree.killByEnvironment(worker.marker)) : Effect.void)
      )

    const discard = (slot: Slot, sweep = true) =>
      Effect.suspend(() => {
        const worker = slot.worker
        slot.worker = undefined
        return worker === undefined ? Effect.void : close(worker, sweep)
      })

    const ensure = (slot: Slot) =>
      Effect.suspend(() => {
        const current = slot.worker
        if (current !== undefined && current.alive) return Effect.succeed(current)
        return discard(slot).pipe(
          Effect.zipRight(spawn),
          Effect.tap((worker) => {
            slot.worker = worker
          })
        )
      })

    const withSlot = <A, E, R>(f: (slot: Slot) => Effect.Effect<A, E, R>) =>
      permits.withPermits(1)(
        Effect.suspend(() => {
          const slot = free.pop()!
          return f(slot).pipe(Effect.ensuring(Effect.sync(() => free.push(slot))))
        })
      )

    const runOn = (slot: Slot, job: PoolJob, attempt: number): Effect.Effect<PoolOutcome> =>
      Effect.gen(function*() {
        const ready = yield* Effect.either(ensure(slot))
        if (ready._tag === "Left") return { _tag: "WorkerError", message: ready.left.message } as const
        const worker = ready.right
        worker.backlog.length = 0
        const now = yield* Clock.currentTimeMillis
        const state: Job = { id: job.id, pid: undefined, deadline: now + options.timeoutMs }
        worker.job = state
        const line = JSON.stringify({
          type: "job",
          id: job.id,
          dir: job.dir,
          program: job.program,
          code: job.code,
          collect: job.collect,
          cleanup: job.cleanup
        })
        worker.input.unsafeOffer(encoder.encode(`${line}\n`))

        const finish = (event: WorkerEvent, timedOut: boolean): Effect.Effect<PoolOutcome> =>
          Effect.gen(function*() {
            worker.job = undefined
            if (event.type === "done") {
              if (!options.reuse) yield* discard(slot, false)
              return { _tag: "Done", done: event, timedOut } as const
            }
            if (event.type === "setup_error") return { _tag: "WorkerError", message: event.error } as const
            yield* discard(slot)
            if (event.type === "garbage") {
              return {
                _tag: "WorkerError",
                message: `the Python worker's protocol pipe was corrupted (it carried ${JSON.stringify(event.line)}), ` +
                  "so the candidate failed and the worker was replaced"
              } as const
            }
            if (event.type === "eof" && state.pid === undefined && attempt === 0 && !timedOut) {
              // The worker died before it forked: the candidate never ran, so give it a fresh worker.
              return yield* runOn(slot, job, attempt + 1)
            }
            const exit = event.type === "eof" ? event.exit : `unexpected "${event.type}"`
            return timedOut
              ? { _tag: "TimedOut", message: `the Python worker died while its child was killed (${exit})` } as const
              : {
                _tag: "WorkerError",
                message: withStderr(`the Python worker died during the evaluation (${exit})`, worker.stderr.text)
              } as const
          })

        const next = nextEvent(worker).pipe(
          Effect.repeat({ until: (event): event is Exclude<WorkerEvent, { type: "deadline" }> => event.type !== "deadline" })
        )
        const first = yield* nextEvent(worker)
        if (first.type !== "deadline") return yield* finish(first, false)

        // Past the time limit: SIGTERM the child's group and tree, then SIGKILL after the grace period.
        const pid = state.pid === undefined || !worker.namespaced
          ? state.pid
          : yield* options.tree.hostPid(worker.pid, state.pid)
        if (pid !== undefined) {
          yield* options.tree.terminate(pid)
          const polite = yield* Effect.option(Effect.timeout(next, grace))
          if (polite._tag === "Some") return yield* finish(polite.value, true)
          yield* options.tree.kill(pid)
          const forced = yield* Effect.option(Effect.timeout(next, Duration.seconds(2)))
          if (forced._tag === "Some") return yield* finish(forced.value, true)
        }
        worker.job = undefined
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

    yield* Effect.addFinalizer(() => Effect.forEach(slots, (slot) => discard(slot, false), { discard: true }))

    const pool: PythonPool = { run, warm }
    return pool
  })
