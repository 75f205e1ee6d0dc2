import * as SqlClient from "@effect/sql/SqlClient"
import { FileSystem } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Db from "../../src/db/ProgramDatabase.js"
import { knownSchema } from "../../src/db/SchemaVersion.js"
import { WorkerStore } from "../../src/db/WorkerStore.js"
import { enabledBackends } from "../support/postgres.js"

const worker = (id: string, at: number) => ({
  id,
  host: "box-1",
  pid: 4242,
  version: "0.1.0",
  slots: 8,
  tags: ["gpu"],
  capabilities: ["python3", "bwrap"],
  startedAt: at,
  heartbeatAt: at
})

describe.each(enabledBackends)("WorkerStore on $name", (backend) => {
  it.effect("registers workers, follows their heartbeats, and forgets stopped or silent ones", () =>
    Effect.gen(function*() {
      const workers = yield* WorkerStore
      yield* workers.registerWorker(worker("w1", 1_000))
      yield* workers.registerWorker(worker("w2", 2_000))
      yield* workers.heartbeat("w1", { busy: 3, done: 17 }, 10_000)
      // w2 went silent at 2 s: alive means a beat in the window.
      expect((yield* workers.aliveWorkers(5_000)).map((w) => [w.id, w.busy, w.done])).toEqual([["w1", 3, 17]])
      expect(yield* workers.aliveWorkers(0)).toMatchObject([
        { id: "w1", host: "box-1", pid: 4242, slots: 8, tags: ["gpu"], capabilities: ["python3", "bwrap"], stoppedAt: null },
        { id: "w2", busy: 0, done: 0 }
      ])
      yield* workers.workerStopped("w1", 11_000)
      expect(yield* workers.aliveWorkers(0)).toMatchObject([{ id: "w2" }])
      expect(yield* workers.pruneWorkers(10_500)).toBe(1) // w2 (silent since 2 s), not w1 (stopped at 11 s)
      expect(yield* workers.pruneWorkers(12_000)).toBe(1)
      expect(yield* workers.aliveWorkers(0)).toEqual([])
    }).pipe(Effect.provide(backend.layer)))

  it.effect("refuses a database migrated past what this evolve knows, naming both versions", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const file = yield* backend.target(yield* fs.makeTempDirectoryScoped())
      yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO effect_sql_migrations (migration_id, name) VALUES (${knownSchema + 1}, 'from_the_future')`
      }).pipe(Effect.provide(Db.layer(file))))
      const opened = yield* Effect.either(Effect.scoped(openDatabase(file)))
      expect(Either.isLeft(opened)).toBe(true)
      if (Either.isLeft(opened)) {
        expect(opened.left.message).toContain(`schema is version ${knownSchema + 1}, newer than this evolve knows (${knownSchema})`)
      }
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))
})

const openDatabase = (file: string) => Effect.asVoid(Effect.provide(WorkerStore, Db.layer(file)))
