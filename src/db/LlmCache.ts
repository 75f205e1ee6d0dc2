/**
 * The LLM response cache: answers to temperature-0 requests, keyed by a hash of
 * model + messages + params (computed by the LLM client). Table `llm_cache` (migration
 * 0003_llm_cache). A cache problem never fails a call: reads and writes that hit a database
 * error are logged and treated as misses.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Context, Effect, Layer, Option, Schema } from "effect"
import { migrations } from "./migrations.js"

export const CachedReply = Schema.Struct({
  text: Schema.String,
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  finishReason: Schema.String
})
export type CachedReply = typeof CachedReply.Type

const decodeReply = Schema.decodeUnknownOption(Schema.parseJson(CachedReply))
const encodeReply = Schema.encodeSync(Schema.parseJson(CachedReply))

export class LlmCache extends Context.Tag("evolve/LlmCache")<LlmCache, {
  readonly get: (key: string) => Effect.Effect<Option.Option<CachedReply>>
  readonly put: (key: string, model: string, reply: CachedReply) => Effect.Effect<void>
}>() {}

/** Over the `SqlClient` in context, whose migrations (0003_llm_cache) have run. */
export const make = (options: { readonly ensureTable?: boolean } = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    // Created lazily on first use when asked to: by then the program database has migrated.
    const ensure = options.ensureTable
      ? yield* Effect.cached(migrations["0003_llm_cache"].pipe(Effect.provideService(SqlClient.SqlClient, sql)))
      : Effect.void
    const miss = (what: string) => (e: unknown) =>
      Effect.as(Effect.logWarning(`LLM cache ${what} failed: ${e instanceof Error ? e.message : String(e)}`), Option.none())
    return LlmCache.of({
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
    })
  })

/** The cache over the `SqlClient` in context (migrations already applied). */
export const layer: Layer.Layer<LlmCache, never, SqlClient.SqlClient> = Layer.effect(LlmCache, make())

/**
 * The cache in the SQLite file `filename` over its own connection (the run's database file is
 * fine: WAL). The table is created on first use if the program database has not done it yet.
 */
export const layerSqlite = (filename: string): Layer.Layer<LlmCache> =>
  // The SQLite driver is loaded only when a cache is actually opened (llmBatch users never pay for it).
  Layer.unwrapEffect(
    Effect.map(
      Effect.promise(() => import("@effect/sql-sqlite-node")),
      ({ SqliteClient }) => Layer.effect(LlmCache, make({ ensureTable: true })).pipe(Layer.provide(SqliteClient.layer({ filename })))
    )
  ).pipe(
    Layer.catchAll((e) =>
      Layer.effect(
        LlmCache,
        Effect.as(Effect.logWarning(`LLM cache disabled: cannot open ${filename}: ${e.message}`), disabled)
      )
    )
  )

const disabled = LlmCache.of({ get: () => Effect.succeedNone, put: () => Effect.void })

/** A cache that never hits. */
export const layerDisabled: Layer.Layer<LlmCache> = Layer.succeed(LlmCache, disabled)

/** An in-process cache (tests, llmBatch). */
export const layerMemory: Layer.Layer<LlmCache> = Layer.sync(LlmCache, () => {
  const entries = new Map<string, CachedReply>()
  return LlmCache.of({
    get: (key) => Effect.sync(() => Option.fromNullable(entries.get(key))),
    put: (key, _model, reply) =>
      Effect.sync(() => {
        if (!entries.has(key)) entries.set(key, reply)
      })
  })
})
