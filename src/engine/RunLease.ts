/**
 * One process drives a run at a time. The process that starts or resumes a run takes the run's
 * lease in the database (compare-and-set) and renews it with a heartbeat; a second process — a
 * CLI resume while a server hosts the run, a second server recovering the same runs — gets
 * `RunBusy` instead of evaluating the same candidates twice.
 *
 * A lease is free when nobody holds it, when its heartbeat is older than `staleAfterMs` (the
 * holder died on another host, or hung), or at once when the holder ran on this host and its pid
 * no longer exists (killed -9: resume needs no wait).
 */
import { Clock, Data, Duration, Effect, Random, Schedule } from "effect"
import { hostname } from "node:os"
import { LeaseStore } from "../db/LeaseStore.js"
import { type DatabaseError, RunBusy } from "../domain/Errors.js"
import type { RunId } from "../domain/Ids.js"
import { isAlive } from "../evaluate/ProcessTree.js"

export const heartbeatEvery = Duration.seconds(5)
export const staleAfterMs = 30_000

interface Holder {
  readonly host: string
  readonly pid: number
}

/** "host/pid/nonce": host and pid tell liveness, the nonce tells two runs of one process apart. */
const parseOwner = (owner: string): Holder | undefined => {
  const m = /^(.*)\/(\d+)\/[^/]+$/.exec(owner)
  return m === null ? undefined : { host: m[1]!, pid: Number(m[2]) }
}

const describe = (owner: string) => {
  const holder = parseOwner(owner)
  return holder === undefined ? owner : `pid ${holder.pid} on host ${holder.host}`
}

export interface Lease {
  readonly owner: string
  /** A heartbeat; false when the lease was taken over (this process was presumed dead). */
  readonly renew: Effect.Effect<boolean, DatabaseError>
  readonly release: Effect.Effect<void, DatabaseError>
}

/** A compare-and-set lost to another taker: the next read sees the winner. */
class LostRace extends Data.TaggedError("LostRace") {}

/** Takes the run's lease, or fails with RunBusy naming the live holder. */
export const acquire = (runId: RunId): Effect.Effect<Lease, RunBusy | DatabaseError, LeaseStore> =>
  Effect.gen(function*() {
    const leases = yield* LeaseStore
    const host = yield* Effect.sync(() => hostname())
    const nonce = (yield* Random.nextIntBetween(0, 2 ** 31)).toString(36)
    const owner = `${host}/${process.pid}/${nonce}`
    const attempt = Effect.gen(function*() {
      const current = yield* leases.readLease(runId)
      const at = yield* Clock.currentTimeMillis
      if (current !== null) {
        const holder = parseOwner(current.owner)
        const ago = at - current.heartbeatAt
        const deadHere = holder !== undefined && holder.host === host && !(yield* Effect.sync(() => isAlive(holder.pid)))
        if (!deadHere && ago < staleAfterMs) {
          return yield* new RunBusy({ runId, holder: describe(current.owner), heartbeatAgoMs: ago, staleAfterMs })
        }
      }
      if (!(yield* leases.takeLease(runId, owner, current?.owner ?? null, at))) return yield* new LostRace()
      return {
        owner,
        renew: Effect.flatMap(Clock.currentTimeMillis, (now) => leases.renewLease(runId, owner, now)),
        release: leases.releaseLease(runId, owner)
      } satisfies Lease
    })
    return yield* attempt.pipe(
      Effect.retry({ schedule: Schedule.recurs(2), while: (e) => e._tag === "LostRace" }),
      Effect.catchTag("LostRace", () =>
        Effect.gen(function*() {
          const current = yield* leases.readLease(runId)
          // Three lost compare-and-sets and nobody holds it: the update matched no row.
          if (current === null) return yield* Effect.dieMessage(`run ${runId} does not exist`)
          return yield* new RunBusy({ runId, holder: describe(current.owner), heartbeatAgoMs: 0, staleAfterMs })
        }))
    )
  })

/** Renews the lease every `heartbeatEvery` until it is lost (then runs `onLost`) or interrupted. */
export const keepAlive = (lease: Lease, onLost: Effect.Effect<void>) =>
  // A database hiccup is not a lost lease: the next beat tries again.
  Effect.orElseSucceed(lease.renew, () => true).pipe(
    Effect.repeat({ schedule: Schedule.spaced(heartbeatEvery), while: (held) => held }),
    Effect.zipRight(onLost)
  )
