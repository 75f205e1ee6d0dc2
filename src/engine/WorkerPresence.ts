/**
 * An evaluation worker's presence in the cluster: registered when it starts (host, slots, tags,
 * what the machine can run), a heartbeat with its busy slots and evaluations done, and a stop
 * record when it ends — what runs and `evolve ls` read to know who is alive.
 */
import { Clock, Effect, Ref, Schedule } from "effect"
import { HEARTBEAT_MILLIS, type WorkerRecord, WorkerStore } from "../db/WorkerStore.js"
import * as FindExecutable from "../evaluate/FindExecutable.js"
import type { WorkerCounters } from "./EvaluationWorker.js"

/** Who a worker is and what it offers, as it registers. */
export type WorkerIdentity = Pick<WorkerRecord, "id" | "host" | "pid" | "version" | "slots" | "tags" | "capabilities">

/** The interpreters and tools on this machine's PATH that evaluators may need. */
export const capabilities = Effect.gen(function*() {
  const found: Array<string> = []
  for (const tool of ["python3", "node", "bwrap", "setpriv", "unshare"]) {
    if ((yield* FindExecutable.findExecutable(tool)) !== undefined) found.push(tool)
  }
  return found
})

/** Registers the worker for the scope: heartbeats every few seconds, the stop recorded when the scope closes. */
export const register = (identity: WorkerIdentity, counters: Ref.Ref<WorkerCounters>) =>
  Effect.gen(function*() {
    const workers = yield* WorkerStore
    const startedAt = yield* Clock.currentTimeMillis
    yield* workers.registerWorker({ ...identity, startedAt, heartbeatAt: startedAt })
    const beat = Effect.gen(function*() {
      const figures = yield* Ref.get(counters)
      yield* workers.heartbeat(identity.id, figures, yield* Clock.currentTimeMillis)
    }).pipe(Effect.catchAll((e) => Effect.logWarning(`worker heartbeat not recorded: ${e.message}`)))
    yield* Effect.forkScoped(Effect.repeat(beat, Schedule.spaced(HEARTBEAT_MILLIS)))
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => workers.workerStopped(identity.id, at)).pipe(Effect.ignore)
    )
  })
