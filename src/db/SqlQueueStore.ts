/**
 * The store behind the cluster's evaluation work queue: `@effect/sql`'s SqlPersistedQueue 0.52
 * (node_modules/@effect/sql/src/SqlPersistedQueue.ts, MIT), copied with three changes: a queue whose
 * polls come back empty polls less and less often (`pollInterval`, doubled per empty poll up to
 * `maxPollInterval`), and again at `pollInterval` once one finds work; on Postgres an element's
 * completion is written by the next poll (one statement for both); the locks of the elements a
 * store holds are renewed (the library never renewed them: it forgot to note them). Only the dialects evolve
 * runs on are kept (Postgres, and SQLite for tests); the library's MySQL and SQL Server
 * statements are left out.
 *
 * Why: each process polls its queue while one of its slots waits for work. With several workers
 * and fewer candidates than free slots (the run's supply is the limit), the library's fixed
 * 20 ms poll cost a worker ~8.5 ms of CPU and Postgres ~3 ms per candidate on 2 cores
 * (`npm run bench:cluster`, 4 workers: 20 → 12 ms of worker CPU per candidate with 200 ms polls).
 * A worker whose slots are all busy does not poll at all (as in the library), so a freed slot of a
 * busy worker is served within `pollInterval`. The table, its rows and their semantics are the
 * library's: processes of either store share a queue.
 */
import * as PersistedQueue from "@effect/experimental/PersistedQueue"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as MutableRef from "effect/MutableRef"
import * as Option from "effect/Option"
import * as RcMap from "effect/RcMap"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"

export interface Options {
  readonly tableName?: string | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
  /** The longest wait between two empty polls (default: `pollInterval`, no back-off). */
  readonly maxPollInterval?: Duration.DurationInput | undefined
  readonly lockRefreshInterval?: Duration.DurationInput | undefined
  readonly lockExpiration?: Duration.DurationInput | undefined
}

export const make: (options?: Options | undefined) => Effect.Effect<
  PersistedQueue.PersistedQueueStore["Type"],
  SqlError,
  SqlClient.SqlClient | Scope.Scope
> = Effect.fnUntraced(function*(options) {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  const tableName = options?.tableName ?? "effect_queue"
  const tableNameSql = sql(tableName)
  const pollInterval = options?.pollInterval
    ? Duration.decode(options.pollInterval)
    : Duration.millis(1000)
  const maxPollInterval = options?.maxPollInterval
    ? Duration.max(Duration.decode(options.maxPollInterval), pollInterval)
    : pollInterval
  const lockRefreshInterval = options?.lockRefreshInterval
    ? Duration.decode(options.lockRefreshInterval)
    : Duration.seconds(30)
  const lockExpiration = options?.lockExpiration ? Duration.decode(options.lockExpiration) : Duration.minutes(2)
  const lockExpirationSql = sql.literal(Math.ceil(Duration.toSeconds(lockExpiration)).toString())
  const workerId = crypto.randomUUID()

  const sqlNow = sql.onDialectOrElse({
    pg: () => sql.literal("NOW()"),
    // sqlite
    orElse: () => sql.literal("CURRENT_TIMESTAMP")
  })

  const expiresAt = sql.onDialectOrElse({
    pg: () => sql`${sqlNow} - INTERVAL '${lockExpirationSql} seconds'`,
    orElse: () => sql`datetime(${sqlNow}, '-${lockExpirationSql} seconds')`
  })

  yield* sql.onDialectOrElse({
    pg: () =>
      sql`CREATE TABLE IF NOT EXISTS ${tableNameSql} (
        sequence SERIAL PRIMARY KEY,
        id VARCHAR(36) NOT NULL,
        queue_name VARCHAR(100) NOT NULL,
        element TEXT NOT NULL,
        completed BOOLEAN NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_failure TEXT NULL,
        acquired_at TIMESTAMP NULL,
        acquired_by UUID NULL,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL
      )`,
    // sqlite
    orElse: () =>
      sql`CREATE TABLE IF NOT EXISTS ${tableNameSql} (
        sequence INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        queue_name TEXT NOT NULL,
        element TEXT NOT NULL,
        completed BOOLEAN NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_failure TEXT NULL,
        acquired_at DATETIME NULL,
        acquired_by TEXT NULL,
        created_at DATETIME NOT NULL,
        updated_at DATETIME NOT NULL
      )`
  })

  yield* sql.onDialectOrElse({
    orElse: () => sql`CREATE UNIQUE INDEX IF NOT EXISTS ${sql(`idx_${tableName}_id`)} ON ${tableNameSql} (id)`
  })

  yield* sql.onDialectOrElse({
    orElse: () =>
      sql`CREATE INDEX IF NOT EXISTS ${
        sql(`idx_${tableName}_take`)
      } ON ${tableNameSql} (queue_name, completed, attempts, acquired_at)`
  })

  yield* sql.onDialectOrElse({
    orElse: () =>
      sql`CREATE INDEX IF NOT EXISTS ${sql(`idx_${tableName}_update`)} ON ${tableNameSql} (sequence, acquired_by)`
  })

  const offer = sql.onDialectOrElse({
    pg: () => (id: string, name: string, element: string) =>
      sql`
        INSERT INTO ${tableNameSql} (id, queue_name, element, completed, attempts, created_at, updated_at)
        VALUES (${id}, ${name}, ${element}, FALSE, 0, ${sqlNow}, ${sqlNow})
        ON CONFLICT (id) DO NOTHING
      `,
    // sqlite
    orElse: () => (id: string, name: string, element: string) =>
      sql`
        INSERT OR IGNORE INTO ${tableNameSql} (id, queue_name, element, completed, attempts, created_at, updated_at)
        VALUES (${id}, ${name}, ${element}, FALSE, 0, ${sqlNow}, ${sqlNow})
      `
  })

  const wrapString = sql.onDialectOrElse({
    orElse: () => (s: string) => `'${s}'`
  })
  const stringLiteral = (s: string) => sql.literal(wrapString(s))

  const sqlTrue = sql.onDialectOrElse({
    sqlite: () => sql.literal("1"),
    orElse: () => sql.literal("TRUE")
  })

  const workerIdSql = stringLiteral(workerId)
  // The elements this store holds (evolve's fix: the library never added to this set, so its locks were never renewed).
  const elementIds = new Set<number>()
  // Postgres (evolve's change): elements completed but not yet marked so in the table. The next
  // poll marks them in the same statement (one round trip less per element); the lock refresh
  // and the store's close mark those left. Until then the row stays locked by this worker: if it
  // dies first, the element is taken again after the lock expires (its result is committed
  // already, so the taker does nothing with it but complete it).
  const completedSql = (sequences: ReadonlyArray<number>) =>
    sql`UPDATE ${tableNameSql}
      SET acquired_at = NULL, acquired_by = NULL, updated_at = ${sqlNow}, completed = ${sqlTrue}, attempts = attempts + 1
      WHERE sequence IN (${sql.literal(sequences.join(","))}) AND acquired_by = ${workerIdSql}`
  const completed = new Set<number>()
  const takeCompleted = () => {
    const sequences = [...completed]
    completed.clear()
    return sequences
  }
  const restoreCompleted = (sequences: ReadonlyArray<number>) => Effect.sync(() => sequences.forEach((s) => completed.add(s)))
  const flushCompleted: Effect.Effect<void, SqlError> = Effect.suspend(() => {
    const sequences = takeCompleted()
    return sequences.length === 0 ? Effect.void : Effect.onError(completedSql(sequences), () => restoreCompleted(sequences))
  })
  yield* Effect.addFinalizer(() => Effect.ignore(flushCompleted))
  const refreshLocks: Effect.Effect<void, SqlError> = Effect.suspend((): Effect.Effect<void, SqlError> => {
    if (elementIds.size === 0) return flushCompleted
    return Effect.zipRight(
      flushCompleted,
      sql`
      UPDATE ${tableNameSql}
      SET acquired_at = ${sqlNow}
      WHERE acquired_by = ${workerIdSql}
    `
    )
  })
  // As in the library: a release or completion is tried 6 times, then the store dies.
  const persistently = <A>(statement: Effect.Effect<A, SqlError>) =>
    statement.pipe(Effect.retry({ times: 5, schedule: Schedule.exponential(100, 1.5) }), Effect.orDie)
  const complete = (sequence: number, attempts: number) => {
    elementIds.delete(sequence)
    return sql.onDialectOrElse({
      pg: () => Effect.sync(() => void completed.add(sequence)),
      orElse: () =>
        sql`
      UPDATE ${tableNameSql}
      SET acquired_at = NULL, acquired_by = NULL, updated_at = ${sqlNow}, completed = ${sqlTrue}, attempts = ${attempts}
      WHERE sequence = ${sequence}
      AND acquired_by = ${workerIdSql}
    `.pipe(persistently, Effect.asVoid)
    })
  }
  const retry = (sequence: number, attempts: number, cause: Cause.Cause<any>) => {
    elementIds.delete(sequence)
    return sql`
      UPDATE ${tableNameSql}
      SET acquired_at = NULL, acquired_by = NULL, updated_at = ${sqlNow}, attempts = ${attempts}, last_failure = ${
      Cause.pretty(cause, { renderErrorCause: true })
    }
      WHERE sequence = ${sequence}
      AND acquired_by = ${workerIdSql}
    `.pipe(persistently)
  }
  const interrupt = (ids: Array<number>) => {
    for (const id of ids) {
      elementIds.delete(id)
    }
    return sql`
      UPDATE ${tableNameSql}
      SET acquired_at = NULL, acquired_by = NULL
      WHERE sequence IN (${sql.literal(ids.join(","))})
      AND acquired_by = ${workerIdSql}
    `.pipe(persistently)
  }

  yield* refreshLocks.pipe(
    Effect.tapErrorCause(Effect.logWarning),
    Effect.retry(Schedule.spaced(500)),
    Effect.scheduleForked(Schedule.fixed(lockRefreshInterval)),
    Effect.annotateLogs({
      package: "@effect/sql",
      module: "SqlPersistedQueue",
      fiber: "refreshLocks"
    }),
    Effect.interruptible
  )

  type Element = {
    readonly id: string
    sequence: number
    readonly queue_name: string
    element: string
    readonly attempts: number
  }
  const mailboxes = yield* RcMap.make({
    lookup: Effect.fnUntraced(function*({ maxAttempts, name }: QueueKey) {
      const mailbox = yield* Mailbox.make<Element>()
      const takers = MutableRef.make(0)
      const pollLatch = Effect.unsafeMakeLatch()
      const takenLatch = Effect.unsafeMakeLatch()

      yield* Effect.addFinalizer(() =>
        Effect.flatMap(mailbox.clear, (elements) => {
          if (elements.length === 0) return Effect.void
          return interrupt(Array.from(elements, (e) => e.sequence))
        })
      )

      const poll = sql.onDialectOrElse({
        pg: () => (size: number, done: ReadonlyArray<number>) =>
          sql<Element>`
            WITH ${done.length === 0 ? sql`` : sql`done AS (${completedSql(done)}),`} cte AS (
              UPDATE ${tableNameSql}
              SET acquired_at = ${sqlNow}, acquired_by = ${workerIdSql}
              WHERE sequence IN (
                SELECT sequence FROM ${tableNameSql}
                WHERE queue_name = ${name}
                AND completed = FALSE${done.length === 0 ? sql`` : sql` AND sequence NOT IN (${sql.literal(done.join(","))})`}
                AND attempts < ${maxAttempts}
                AND (acquired_at IS NULL OR acquired_at < ${expiresAt})
                ORDER BY updated_at ASC, sequence ASC
                FOR UPDATE SKIP LOCKED
                LIMIT ${sql.literal(size.toString())}
              )
              RETURNING sequence, id, queue_name, element, attempts, updated_at
            )
            SELECT sequence, id, queue_name, element, attempts FROM cte
            ORDER BY updated_at ASC, sequence ASC
          `,
        // sqlite
        orElse: () => (size: number, _done: ReadonlyArray<number>) =>
          sql<Element>`
            UPDATE ${tableNameSql}
            SET acquired_at = ${sqlNow}, acquired_by = ${workerIdSql}
            WHERE queue_name = ${name}
            AND completed = FALSE
            AND attempts < ${maxAttempts}
            AND (acquired_at IS NULL OR acquired_at < ${expiresAt})
            RETURNING sequence, id, queue_name, element, attempts
            ORDER BY updated_at ASC, sequence ASC
            LIMIT ${sql.literal(size.toString())}
          `
      })

      // The wait after an empty poll: doubled per empty poll up to maxPollInterval (evolve's change).
      let idleWait = pollInterval
      yield* Effect.gen(function*() {
        while (true) {
          yield* pollLatch.await
          yield* Effect.yieldNow()
          if (takers.current === 0) {
            idleWait = pollInterval
            yield* Effect.sleep(pollInterval)
            continue
          }
          const done = takeCompleted()
          const results = yield* Effect.onError(poll(takers.current, done), () => restoreCompleted(done))
          if (results.length === 0) {
            yield* Effect.sleep(idleWait)
            idleWait = Duration.min(Duration.times(idleWait, 2), maxPollInterval)
            continue
          }
          idleWait = pollInterval
          takenLatch.unsafeClose()
          for (let i = 0; i < results.length; i++) {
            const element = results[i]
            element.element = JSON.parse(element.element)
            elementIds.add(element.sequence)
          }
          yield* mailbox.offerAll(results)
          yield* takenLatch.await
          yield* Effect.yieldNow()
        }
      }).pipe(
        Effect.sandbox,
        Effect.retry(Schedule.spaced(500)),
        Effect.forkScoped,
        Effect.interruptible
      )

      return { mailbox, takers, pollLatch, takenLatch } as const
    }),
    idleTimeToLive: Duration.seconds(30)
  })

  return PersistedQueue.PersistedQueueStore.of({
    offer: ({ element, id, name }) =>
      Effect.catchAllCause(Effect.suspend(() => offer(id, name, JSON.stringify(element))), (cause) =>
        Effect.fail(
          new PersistedQueue.PersistedQueueError({
            message: "Failed to offer element to persisted queue",
            cause: Cause.squash(cause)
          })
        )),
    take: ({ maxAttempts, name }) =>
      Effect.uninterruptibleMask((restore) =>
        RcMap.get(mailboxes, new QueueKey({ name, maxAttempts })).pipe(
          Effect.flatMap(({ mailbox, pollLatch, takenLatch, takers }) => {
            takers.current++
            if (takers.current === 1) {
              pollLatch.unsafeOpen()
            }
            return Effect.tap(restore(mailbox.take as Effect.Effect<Element>), () => {
              takers.current--
              if (takers.current === 0) {
                pollLatch.unsafeClose()
                takenLatch.unsafeOpen()
              } else if (Option.getOrUndefined(mailbox.unsafeSize()) === 0) {
                takenLatch.unsafeOpen()
              }
            })
          }),
          Effect.scoped,
          restore,
          Effect.tap((element) =>
            Effect.addFinalizer(Exit.match({
              onFailure: (cause) =>
                Effect.asVoid(
                  Cause.isInterruptedOnly(cause)
                    ? interrupt([element.sequence])
                    : retry(element.sequence, element.attempts + 1, cause)
                ),
              onSuccess: () => complete(element.sequence, element.attempts + 1)
            }))
          )
        )
      )
  })
})

class QueueKey extends Data.Class<{
  readonly name: string
  readonly maxAttempts: number
}> {}

export const layerStore = (options?: Options): Layer.Layer<PersistedQueue.PersistedQueueStore, SqlError, SqlClient.SqlClient> =>
  Layer.scoped(PersistedQueue.PersistedQueueStore, make(options))
