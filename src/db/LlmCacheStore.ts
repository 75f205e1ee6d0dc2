/**
 * The SQL store of the temperature-0 LLM cache: table `llm_cache` (migration 0003_llm_cache),
 * one row per key, the first answer kept. A store problem never fails a call: reads and
 * writes that hit a database error are logged and treated as misses. The store is a plain
 * object of the shape of the `LlmCache` service (src/llm/LlmCache.ts), which provides it:
 * `Layer.effect(LlmCache, LlmCacheStore.make())`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Effect, Option, Schema } from "effect"
import { CachedReply } from "../domain/CachedReply.js"

export interface LlmCacheStore {
  readonly get: (key: string) => Effect.Effect<Option.Option<CachedReply>>
  readonly put: (key: string, model: string, reply: CachedReply) => Effect.Effect<void>
}

const decodeReply = Schema.decodeUnknownOption(Schema.parseJson(CachedReply))
const encodeReply = Schema.encodeSync(Schema.parseJson(CachedReply))

/** The store over the `SqlClient` of the program database (its migrations made the table). */
export const make = (): Effect.Effect<LlmCacheStore, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const miss = (what: string) => (e: unknown) =>
      Effect.as(Effect.logWarning(`LLM cache ${what} failed: ${e instanceof Error ? e.message : String(e)}`), Option.none())
    return {
      get: (key) =>
        sql<{ reply: string }>`SELECT reply FROM llm_cache WHERE key = ${key}`.pipe(
          Effect.map((rows) => rows.length === 0 ? Option.none() : decodeReply(rows[0]!.reply)),
          Effect.catchAll(miss("read")),
          Effect.withSpan("LlmCache.get")
        ),
      put: (key, model, reply) =>
        Effect.gen(function*() {
          const at = yield* Clock.currentTimeMillis
          yield* sql`INSERT INTO llm_cache ${
            sql.insert({ key, model, reply: encodeReply(reply), created_at: at })
          } ON CONFLICT (key) DO NOTHING`
        }).pipe(Effect.catchAll(miss("write")), Effect.asVoid, Effect.withSpan("LlmCache.put"))
    }
  })
