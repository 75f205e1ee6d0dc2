/**
 * One warm Python worker process as evolve sees it: spawned with its pipes read into events
 * (protocol messages checked against the worker's state, its end, its job's deadline), and closed
 * with everything below it. `PythonPool` gives it jobs.
 */
import { Clock, Data, Deferred, Duration, Effect, Exit, Scope } from "effect"
import * as PipedProcess from "./PipedProcess.js"
import type { ProcessTree } from "./ProcessTree.js"
import { parseLine, type WorkerMessage } from "./PythonWorkerProtocol.js"

export type WorkerEvent =
  | WorkerMessage
  | { readonly type: "eof"; readonly exit: string }
  /** A line on the protocol pipe that is not a message for this worker's current state. */
  | { readonly type: "garbage"; readonly line: string }
  /** The job in flight reached its time limit (from the worker's watchdog). */
  | { readonly type: "deadline" }

/** How workers start: decided once, before the first worker (finding out may take a probe). */
export interface WorkerLaunch {
  /** The worker's argv (interpreter, worker file, config; possibly behind bwrap or a pid namespace). */
  readonly argv: ReadonlyArray<string>
  /** The worker runs in its own pid namespace: the pids it reports are not evolve's. */
  readonly namespaced: boolean
}

export interface WorkerOptions {
  readonly launch: Effect.Effect<WorkerLaunch>
  readonly cwd: string
  readonly env: Record<string, string>
  /** Re-arms the deadline watchdog when the worker is idle. */
  readonly timeoutMs: number
  readonly startTimeoutMs: number
  readonly tree: ProcessTree
}

export class WorkerFailure extends Data.TaggedError("WorkerFailure")<{ readonly message: string }> {}

export interface Worker {
  /** Set once spawned. */
  pid: number
  readonly namespaced: boolean
  readonly scope: Scope.CloseableScope
  /** Writes to the worker's stdin (set once spawned). */
  send: (text: string) => void
  readonly stderr: { text: string }
  /** `NAME=value` in the environment of the worker and everything it forks. */
  readonly marker: string
  /** false once it ended, sent garbage, or was discarded: never given another job. */
  alive: boolean
  /** The job in flight: its id, and its child's pid once "started" arrived. */
  job: WorkerJob | undefined
  /** Who waits for the next event, or the events nobody waited for yet. */
  waiter: ((event: WorkerEvent) => void) | undefined
  readonly backlog: Array<WorkerEvent>
  ended: boolean
}

/** The job in flight on a worker. */
export interface WorkerJob {
  readonly id: string
  pid: number | undefined
  /** Clock time (ms) past which the watchdog reports "deadline". */
  readonly deadline: number
}

const stderrKeep = 4096

export const tailOf = (text: string, max = 2000) => {
  const trimmed = text.trim()
  return trimmed.length > max ? `…${trimmed.slice(-max)}` : trimmed
}

export const withStderr = (message: string, stderr: string) => {
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
export const nextEvent = (worker: Worker): Effect.Effect<WorkerEvent> =>
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

export const spawn = (options: WorkerOptions, marker: string): Effect.Effect<Worker, WorkerFailure> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const launch = yield* options.launch
    const [bin, ...args] = launch.argv
    if (bin === undefined) return yield* Effect.dieMessage("python pool: empty argv")
    const worker = yield* Effect.gen(function*() {
      const stdoutEnded = yield* Deferred.make<void>()
      // Made before the process: its pipes may speak as soon as it is spawned.
      const self: Worker = {
        pid: 0,
        namespaced: launch.namespaced,
        scope,
        send: () => undefined,
        stderr: { text: "" },
        marker,
        alive: true,
        job: undefined,
        waiter: undefined,
        backlog: [],
        ended: false
      }
      let partial = ""
      const proc = yield* PipedProcess.spawn(
        [bin, ...args],
        { cwd: options.cwd, env: { ...options.env, EVOLVE_POOL_WORKER: marker.slice(marker.indexOf("=") + 1) } },
        {
          stdout: (text) => {
            const joined = partial + text
            let from = 0
            for (let newline = joined.indexOf("\n"); newline >= 0; newline = joined.indexOf("\n", from)) {
              onLine(self, joined.slice(from, newline))
              from = newline + 1
            }
            partial = from === 0 ? joined : joined.slice(from)
          },
          stdoutEnd: () => {
            if (partial.trim() !== "") onLine(self, partial)
            partial = ""
            Deferred.unsafeDone(stdoutEnded, Effect.void)
          },
          stderr: (text) => {
            const joined = self.stderr.text + text
            self.stderr.text = joined.length > stderrKeep ? joined.slice(-stderrKeep) : joined
          }
        }
      ).pipe(
        Effect.mapError((error) => new WorkerFailure({ message: `could not start the Python worker (${bin}): ${error.message}` }))
      )
      self.pid = proc.pid
      self.send = proc.write
      const end = (exit: string) =>
        Effect.sync(() => {
          if (self.ended) return
          self.ended = true
          self.alive = false
          deliver(self, { type: "eof", exit })
        })
      // Runs before the process's own finalizer (registered earlier), which only sends SIGTERM.
      yield* Effect.addFinalizer(() =>
        Effect.suspend(() => {
          self.alive = false
          proc.closeInput()
          return options.tree.kill(proc.pid)
        })
      )
      // The pipe closed: the worker is ending (its exit status, if it comes soon, says how).
      yield* Deferred.await(stdoutEnded).pipe(
        Effect.zipRight(proc.exit.pipe(
          Effect.timeoutTo({ duration: "2 seconds", onSuccess: (s) => s, onTimeout: () => "no exit status" })
        )),
        Effect.flatMap(end),
        Effect.forkScoped
      )
      // The worker exited: its last lines come before the end of its pipe, unless something it
      // left behind holds the pipe open; then the end is declared without waiting for it.
      yield* proc.exit.pipe(
        Effect.tap(() => Effect.timeout(Deferred.await(stdoutEnded), "250 millis").pipe(Effect.ignore)),
        Effect.flatMap(end),
        Effect.forkScoped
      )
      // The time limit: one timer per worker, re-armed lazily (it wakes at the earliest deadline
      // it knows of, or one time limit later when idle), so a job costs no timer or race of its own.
      yield* Effect.gen(function*() {
        const reported = new WeakSet<WorkerJob>()
        while (true) {
          const now = yield* Clock.currentTimeMillis
          const job = self.job
          if (job !== undefined && !reported.has(job) && now >= job.deadline) {
            reported.add(job)
            deliver(self, { type: "deadline" })
          }
          const wait = job !== undefined && !reported.has(job) ? job.deadline - now : options.timeoutMs
          yield* Effect.sleep(Duration.millis(Math.max(1, wait)))
        }
      }).pipe(Effect.forkScoped)
      return self
    }).pipe(
      Scope.extend(scope),
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
      Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : close(worker, true, options.tree))
    )
    switch (first.type) {
      case "ready":
        return worker
      case "load_error":
        yield* close(worker, false, options.tree)
        return yield* new WorkerFailure({
          message: withStderr(`the evaluator could not be imported:\n${tailOf(first.error, 3000)}`, worker.stderr.text)
        })
      case "eof":
        yield* close(worker, true, options.tree)
        return yield* new WorkerFailure({
          message: withStderr(`the Python worker exited at start (${first.exit})`, worker.stderr.text)
        })
      default:
        yield* close(worker, true, options.tree)
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
export const close = (worker: Worker, sweep: boolean, tree: ProcessTree) =>
  Scope.close(worker.scope, Exit.void).pipe(
    Effect.zipRight(sweep ? Effect.asVoid(tree.killByEnvironment(worker.marker)) : Effect.void)
  )
