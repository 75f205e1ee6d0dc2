/**
 * The SQL store of the temperature-0 LLM cache: table `llm_cache` (migration 0003_llm_cache),
 * one row per key, the first answer kept. A store problem never fails a call: reads and
 * writes that hit a database error are logged and treated as misses. The store is a plain
 * object of the shape of the `LlmCache` service (src/llm/LlmCache.ts), which provides it:
 * `Layer.effect(LlmCache, LlmCacheStore.make())`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Effect, Layer, Option, Schema, type Scope } from "effect"
import { CachedReply } from "../domain/CachedReply.js"
import { migrations } from "./migrations.js"

export interface LlmCacheStore {
  readonly get: (key: string) => Effect.Effect<Option.Option<CachedReply>>
  readonly put: (key: string, model: string, reply: CachedReply) => Effect.Effect<void>
}

const decodeReply = Schema.decodeUnknownOption(Schema.parseJson(CachedReply))
const encodeReply = Schema.encodeSync(Schema.parseJson(CachedReply))

/**
 * The store over the `SqlClient` in context. With `ensureTable`, the table is created on first
 * use (a connection of its own, opened before the program database has migrated).
 */
export const make = (options: { readonly ensureTable?: boolean } = {}): Effect.Effect<LlmCacheStore, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const ensure = options.ensureTable
      ? yield* Effect.cached(migrations["0003_llm_cache"].pipe(Effect.provideService(SqlClient.SqlClient, sql)))
      : Effect.void
    const miss = (what: string) => (e: unknown) =>
      Effect.as(Effect.logWarning(`LLM cache ${what} failed: ${e instanceof Error ? e.message : String(e)}`), Option.none())
    return {
      get: (key) =>
        ensure.pipe(
          Effect.zipRight(sql<{ reply: string }>`SELECT reply FROM llm_cache WHERE key = ${key}`),
          Effect.map((rows) => rows.length === 0 ? Option.none() : decodeReply(rows[0]!.reply)),
          Effect.catchAll(miss("read")),
          Effect.withSpan("LlmCache.get")
        ),
      put: (key, model, reply) =>
        Effect.gen(function*() {
          yield* ensure
          const at = yield* Clock.currentTimeMillis
          yield* sql`INSERT INTO llm_cache ${
            sql.insert({ key, model, reply: encodeReply(reply), created_at: at })
          } ON CONFLICT (key) DO NOTHING`
        }).pipe(Effect.catchAll(miss("write")), Effect.asVoid, Effect.withSpan("LlmCache.put"))
    }
  })

const none: LlmCacheStore = { get: () => Effect.succeedNone, put: () => Effect.void }

/**
 * The store in the SQLite file `filename` over a connection of its own (WAL makes sharing the
 * run's database file fine), closed with the scope. A file that cannot be opened gives a store
 * that never hits, with a warning. The SQLite driver is loaded only when a store is opened.
 */
export const openFile = (filename: string): Effect.Effect<LlmCacheStore, never, Scope.Scope> =>
  Effect.promise(() => import("@effect/sql-sqlite-node")).pipe(
    Effect.flatMap(({ SqliteClient }) => Layer.build(SqliteClient.layer({ filename }))),
    Effect.flatMap((connection) => Effect.provide(make({ ensureTable: true }), connection)),
    Effect.catchAll((e) => Effect.as(Effect.logWarning(`LLM cache disabled: cannot open ${filename}: ${e.message}`), none))
  )
