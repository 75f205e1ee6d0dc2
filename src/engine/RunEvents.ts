/**
 * A run's events as stored: numbered from 1 per run (the SSE event id), written in batches as
 * they happen, then handed on (to live subscribers) once stored. Whoever hosts a run — the
 * RunManager of `evolve serve`, or a cluster runner — records them this way.
 */
import { Chunk, Effect, Fiber, Queue, Schema } from "effect"
import { EventStore } from "../db/EventStore.js"
import { retryOnLostConnection } from "../db/LostConnection.js"
import type { StoredEventRow } from "../db/Records.js"
import type { RunId } from "../domain/Ids.js"
import { RunEvent } from "../domain/RunEvent.js"

/** A stored RunEvent; `event` is the decoded event on live events only (replayed ones carry just `data`). */
export interface StoredEvent extends StoredEventRow {
  readonly event?: RunEvent | undefined
}

const encodeEvent = Schema.encodeSync(RunEvent)
export const BATCH = 512

/**
 * Stores the events of `events` until `done` completes, then the ones left; each stored batch is
 * passed to `onStored`. A batch that cannot be stored (after waiting out a lost connection) is
 * logged and still handed on.
 */
export const record = <A, E>(
  runId: RunId,
  events: Queue.Dequeue<RunEvent>,
  done: Effect.Effect<A, E>,
  onStored: (batch: ReadonlyArray<StoredEvent>) => Effect.Effect<void>
) =>
  Effect.gen(function*() {
    const eventStore = yield* EventStore
    let seq = yield* eventStore.lastEventSeq(runId).pipe(Effect.orDie)
    const persist = (batch: Chunk.Chunk<RunEvent>) =>
      Effect.gen(function*() {
        if (Chunk.isEmpty(batch)) return
        const stored: Array<StoredEvent> = Chunk.toReadonlyArray(batch).map((event) => ({
          runId,
          seq: ++seq,
          at: event.at,
          type: event._tag,
          data: JSON.stringify(encodeEvent(event)),
          event
        }))
        yield* eventStore.appendEvents(stored.map(({ event: _event, ...row }) => row)).pipe(
          // Postgres restarting: the batch waits for it (a batch stored before the cut fails again on its keys).
          retryOnLostConnection(),
          Effect.catchAll((e) => Effect.logWarning(`run ${runId}: events not stored: ${e.message}`))
        )
        yield* onStored(stored)
      }).pipe(Effect.uninterruptible)
    // The first event, then all that came with it (takeBetween(1, …) on an empty queue gives one only).
    const next = Effect.flatMap(Queue.take(events), (first) => Effect.map(Queue.takeUpTo(events, BATCH - 1), (rest) => Chunk.prepend(rest, first)))
    const recorder = yield* next.pipe(Effect.flatMap(persist), Effect.forever, Effect.fork)
    const exit = yield* Effect.exit(done)
    yield* Fiber.interrupt(recorder)
    yield* persist(yield* Queue.takeAll(events))
    return exit
  })
