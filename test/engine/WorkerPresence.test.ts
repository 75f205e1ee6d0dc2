import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Ref, Scope, TestClock } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import { HEARTBEAT_MILLIS, WorkerStore } from "../../src/db/WorkerStore.js"
import * as WorkerPresence from "../../src/engine/WorkerPresence.js"

const identity = { id: "box-7-1", host: "box", pid: 7, version: "0.1.0", slots: 4, tags: ["gpu"], capabilities: ["python3"] }

describe("WorkerPresence", () => {
  it.effect("registers a worker, beats with its figures, and records its stop when its scope closes", () =>
    Effect.gen(function*() {
      const workers = yield* WorkerStore
      const counters = yield* Ref.make({ busy: 0, done: 0 })
      const scope = yield* Scope.make()
      yield* Scope.extend(WorkerPresence.register(identity, counters), scope)
      expect(yield* workers.aliveWorkers(0)).toMatchObject([{ ...identity, busy: 0, done: 0, stoppedAt: null }])
      yield* Ref.set(counters, { busy: 3, done: 11 })
      yield* TestClock.adjust(HEARTBEAT_MILLIS)
      const [alive] = yield* workers.aliveWorkers(0)
      expect(alive).toMatchObject({ busy: 3, done: 11, heartbeatAt: HEARTBEAT_MILLIS })
      // Silent for longer than the window: no longer counted as alive, though not stopped.
      expect(yield* workers.aliveWorkers(HEARTBEAT_MILLIS + 1)).toEqual([])
      yield* Scope.close(scope, Exit.void)
      expect(yield* workers.aliveWorkers(0)).toEqual([])
    }).pipe(Effect.provide(Db.layer(":memory:"))))
})
