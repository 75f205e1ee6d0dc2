/**
 * The warm Python worker pool behind the Python contracts: one long-lived worker process per
 * slot (see `PythonWorkerFiles`), each running one job at a time.
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
import { Clock, Duration, Effect, Random } from "effect"
import type { ProcessTree } from "./ProcessTree.js"
import * as PythonWorker from "./PythonWorker.js"
import type { Done } from "./PythonWorkerProtocol.js"

export interface PoolJob {
  readonly id: string
  /**
   * The candidate's temp dir (must not exist yet): the worker creates it with `results/`,
   * writes `code` to `program`, runs the child there, and removes it afterwards if `cleanup`.
   */
  readonly dir: string
  readonly program: string
  readonly code: string
  /** A multi-file candidate: this directory's files are linked to `dir/program` instead of writing `code`. */
  readonly tree?: string | undefined
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
  readonly launch: Effect.Effect<PythonWorker.WorkerLaunch>
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

interface Slot {
  worker: PythonWorker.Worker | undefined
}

export const make = (options: PoolOptions) =>
  Effect.gen(function*() {
    const slots: Array<Slot> = Array.from({ length: options.slots }, () => ({ worker: undefined }))
    const free = [...slots]
    const permits = yield* Effect.makeSemaphore(options.slots)
    const grace = Duration.millis(Math.max(options.killGraceMs, 50))
    const markerBase = `${process.pid}-${yield* Random.nextIntBetween(0, 2 ** 30)}`
    let spawned = 0
    const spawn = Effect.suspend(() => PythonWorker.spawn(options, `EVOLVE_POOL_WORKER=${markerBase}-${++spawned}`))
    const discard = (slot: Slot, sweep = true) =>
      Effect.suspend(() => {
        const worker = slot.worker
        slot.worker = undefined
        return worker === undefined ? Effect.void : PythonWorker.close(worker, sweep, options.tree)
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
        const state: PythonWorker.WorkerJob = { id: job.id, pid: undefined, deadline: now + options.timeoutMs }
        worker.job = state
        const line = JSON.stringify({
          type: "job",
          id: job.id,
          dir: job.dir,
          program: job.program,
          code: job.code,
          ...(job.tree !== undefined ? { tree: job.tree } : {}),
          collect: job.collect,
          cleanup: job.cleanup
        })
        worker.send(`${line}\n`)

        const finish = (event: PythonWorker.WorkerEvent, timedOut: boolean): Effect.Effect<PoolOutcome> =>
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
                message: PythonWorker.withStderr(`the Python worker died during the evaluation (${exit})`, worker.stderr.text)
              } as const
          })

        const next = PythonWorker.nextEvent(worker).pipe(
          Effect.repeat({ until: (event): event is Exclude<PythonWorker.WorkerEvent, { type: "deadline" }> => event.type !== "deadline" })
        )
        const first = yield* PythonWorker.nextEvent(worker)
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

    // One worker at a time: eight interpreters importing at once took both cores of a small
    // machine from the run's own start (its first LLM requests came 0.3–0.8 s later).
    const warm = Effect.forEach(slots, () => withSlot((slot) => Effect.ignore(ensure(slot))), { discard: true })

    yield* Effect.addFinalizer(() => Effect.forEach(slots, (slot) => discard(slot, false), { discard: true }))

    const pool: PythonPool = { run, warm }
    return pool
  })
