/**
 * The program database: one SQLite file (WAL, migrations applied) and the stores over its one
 * connection, each shaped by what its consumers need (DESIGN §1):
 * runs (RunStore), candidates (CandidateStore), search state (SearchStore), LLM calls
 * (LlmCallStore), events (EventStore), leases (LeaseStore), read-only views (RunQueries), the
 * web UI's explorer (ExploreQueries) and a cluster's evaluation workers (WorkerStore).
 */
// Deep imports only: a barrel import ("@effect/platform") pulls the whole package, Swagger UI
// included, into the bundle chunk of every command that opens a database.
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Cause, Context, Effect, Layer } from "effect"
import { DatabaseError } from "../domain/Errors.js"
import * as CandidateStore from "./CandidateStore.js"
import * as EventStore from "./EventStore.js"
import * as ExploreQueries from "./ExploreQueries.js"
import * as LeaseStore from "./LeaseStore.js"
import * as LlmCallStore from "./LlmCallStore.js"
import { migrations } from "./migrations.js"
import { dbError } from "./Rows.js"
import * as RunQueries from "./RunQueries.js"
import * as RunStore from "./RunStore.js"
import * as SearchStore from "./SearchStore.js"
import { checkSchema } from "./SchemaVersion.js"
import * as WorkerStore from "./WorkerStore.js"

/** Every store of the database. */
export type ProgramDatabase =
  | RunStore.RunStore
  | CandidateStore.CandidateStore
  | SearchStore.SearchStore
  | LlmCallStore.LlmCallStore
  | EventStore.EventStore
  | LeaseStore.LeaseStore
  | RunQueries.RunQueries
  | ExploreQueries.ExploreQueries
  | WorkerStore.WorkerStore

/**
 * The database in context — its stores and its connection (for what shares it, the LLM cache) —
 * and nothing else, to hand it to work that runs elsewhere.
 */
export const context: Effect.Effect<
  Context.Context<ProgramDatabase | SqlClient.SqlClient>,
  never,
  ProgramDatabase | SqlClient.SqlClient
> = Effect.map(
  Effect.context<ProgramDatabase | SqlClient.SqlClient>(),
  Context.pick(
    SqlClient.SqlClient,
    RunStore.RunStore,
    CandidateStore.CandidateStore,
    SearchStore.SearchStore,
    LlmCallStore.LlmCallStore,
    EventStore.EventStore,
    LeaseStore.LeaseStore,
    RunQueries.RunQueries,
    ExploreQueries.ExploreQueries,
    WorkerStore.WorkerStore
  )
)

/** The stores over the `SqlClient` in context (migrated and configured). */
export const stores: Layer.Layer<ProgramDatabase, never, SqlClient.SqlClient> = Layer.mergeAll(
  RunStore.layer,
  CandidateStore.layer,
  SearchStore.layer,
  LlmCallStore.layer,
  EventStore.layer,
  LeaseStore.layer,
  RunQueries.layer,
  ExploreQueries.layer,
  WorkerStore.layer
)

const configure = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`PRAGMA busy_timeout = 5000`
  yield* sql`PRAGMA synchronous = NORMAL`
  yield* sql`PRAGMA foreign_keys = ON`
}).pipe(Effect.mapError(dbError("configure database")))

/**
 * Every message of the failure and of its causes, whole: a native-module load failure lists the
 * paths it tried on the lines after "Tried:", and those are what the user needs.
 */
const wholeMessage = (cause: Cause.Cause<unknown>): string => {
  const parts: Array<string> = []
  let error: unknown = Cause.squash(cause)
  for (let depth = 0; depth < 5 && error !== undefined && error !== null; depth++) {
    const message = typeof error === "object" && "message" in error ? String(error.message) : String(error)
    if (message !== "" && !parts.some((part) => part.includes(message))) parts.push(message)
    error = typeof error === "object" && "cause" in error ? error.cause : undefined
  }
  return parts.join(": ")
}

/**
 * The SQLite file at `filename` (its directory created), WAL, migrations applied: every store,
 * and the `SqlClient` itself for what shares the connection (the LLM cache).
 */
export const layer = (filename: string): Layer.Layer<ProgramDatabase | SqlClient.SqlClient, DatabaseError> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    if (filename !== ":memory:") {
      yield* fs.makeDirectory(path.dirname(path.resolve(filename)), { recursive: true }).pipe(
        Effect.mapError((e) => new DatabaseError({ operation: "open database", message: `cannot create the directory for ${filename}: ${e.message}` }))
      )
    }
    // The generic migrator (same table and steps as SqliteMigrator, whose only addition is a
    // schema dump we do not use and which needs a CommandExecutor).
    const client = SqliteClient.layer({ filename }).pipe(
      Layer.tap((context) => Effect.provide(configure, context)),
      Layer.tap((context) => Effect.provide(Migrator.make({})({ loader: Migrator.fromRecord(migrations) }), context)),
      Layer.tap((context) => Effect.provide(checkSchema, context))
    )
    return Layer.provideMerge(stores, client)
  })).pipe(
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)),
    Layer.catchAllCause((cause) =>
      Layer.fail(new DatabaseError({ operation: "open database", message: `cannot open database ${filename}: ${wholeMessage(cause)}`, cause }))
    )
  )
