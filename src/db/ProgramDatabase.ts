/**
 * The program database: one SQLite file (WAL) or a PostgreSQL database (DESIGN §8), migrations
 * applied, and the stores over its connection, each shaped by what its consumers need (DESIGN §1):
 * runs (RunStore), candidates (CandidateStore), search state (SearchStore), LLM calls
 * (LlmCallStore), events (EventStore), leases (LeaseStore), steering actions (SteeringStore), read-only views (RunQueries), the
 * web UI's explorer (ExploreQueries), a cluster's evaluation workers (WorkerStore) and the
 * evaluator files shipped with cluster runs (EvaluatorFileStore).
 */
// Deep imports only: a barrel import ("@effect/platform") pulls the whole package, Swagger UI
// included, into the bundle chunk of every command that opens a database.
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "./SqliteClient.js"
import { Cause, Context, Duration, Effect, Layer, Schedule } from "effect"
import { isPostgresUrl, redactDatabaseTarget, scrubPassword, urlProblem } from "../domain/DatabaseTarget.js"
import { ConfigError, DatabaseError } from "../domain/Errors.js"
import * as CandidateStore from "./CandidateStore.js"
import * as EvaluatorFileStore from "./EvaluatorFileStore.js"
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
import * as SteeringStore from "./SteeringStore.js"
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
  | SteeringStore.SteeringStore
  | EvaluatorFileStore.EvaluatorFileStore

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
    WorkerStore.WorkerStore,
    SteeringStore.SteeringStore,
    EvaluatorFileStore.EvaluatorFileStore
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
  WorkerStore.layer,
  SteeringStore.layer,
  EvaluatorFileStore.layer
)

const configureSqlite = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`PRAGMA busy_timeout = 5000`
  yield* sql`PRAGMA synchronous = NORMAL`
  yield* sql`PRAGMA foreign_keys = ON`
}).pipe(Effect.mapError(dbError("configure database")))

// The generic migrator on both databases (the same table and steps as SqliteMigrator and
// PgMigrator, whose only addition is a schema dump we do not use and which needs a CommandExecutor).
// Processes opening a new Postgres database together race to create the migrations table (the
// migrator locks that table only once it exists): the loser tries again and finds it.
const migrate = Migrator.make({})({ loader: Migrator.fromRecord(migrations) }).pipe(
  Effect.retry({ times: 3, schedule: Schedule.spaced("200 millis") })
)

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

/** The SQLite file at `filename` (its directory created), WAL, configured. */
const sqliteClient = (filename: string) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    if (filename !== ":memory:") {
      yield* fs.makeDirectory(path.dirname(path.resolve(filename)), { recursive: true }).pipe(
        Effect.mapError((e) => new DatabaseError({ operation: "open database", message: `cannot create the directory for ${filename}: ${e.message}` }))
      )
    }
    return SqliteClient.layer(filename).pipe(Layer.tap((context) => Effect.provide(configureSqlite, context)))
  })).pipe(
    Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)),
    Layer.catchAllCause((cause) =>
      Layer.fail(new DatabaseError({ operation: "open database", message: `cannot open database ${filename}: ${wholeMessage(cause)}`, cause }))
    )
  )

/** The Postgres database at `url`; a bad URL or a failed connection is one line without the password. */
const postgresClient = (url: string) => {
  const problem = urlProblem(url)
  if (problem !== undefined) {
    return Layer.fail(new DatabaseError({ operation: "open database", message: `database ${redactDatabaseTarget(url)}: ${problem}` }))
  }
  // The driver loads only for a Postgres database (SQLite commands never pay for it).
  return Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./PostgresClient.js")), (PostgresClient) =>
    PostgresClient.layer(url).pipe(
      Layer.catchAllCause((cause) =>
        Layer.fail(new DatabaseError({ operation: "open database", message: PostgresClient.describeFailure(url, cause) }))
      )
    )))
}

/**
 * The program database at `target` — a SQLite file (the default) or a PostgreSQL URL
 * (`postgres://…`) — with its migrations applied: every store, and the `SqlClient` itself for
 * what shares the connection (the LLM cache, the cluster's storage).
 */
export const layer = (
  target: string,
  options: {
    /**
     * A check run on the connection before any migration (a worker of another evolve version
     * must be refused before it reshapes the cluster's schema).
     */
    readonly beforeMigrate?: Effect.Effect<void, DatabaseError, SqlClient.SqlClient>
  } = {}
): Layer.Layer<ProgramDatabase | SqlClient.SqlClient, DatabaseError> => {
  const connected = isPostgresUrl(target) ? postgresClient(target) : sqliteClient(target)
  const beforeMigrate = options.beforeMigrate
  const client = beforeMigrate === undefined ? connected : connected.pipe(Layer.tap((context) => Effect.provide(beforeMigrate, context)))
  const migrated = client.pipe(
    Layer.tap((context) =>
      Effect.provide(migrate, context).pipe(
        Effect.catchAllCause((cause) =>
          new DatabaseError({
            operation: "migrate database",
            message: `cannot migrate database ${redactDatabaseTarget(target)}: ${scrubPassword(target, wholeMessage(cause))}`,
            cause
          })
        )
      )
    ),
    // An older evolve (a worker not yet upgraded) must not write to a schema a newer one reshaped.
    Layer.tap((context) => Effect.provide(checkSchema, context))
  )
  return Layer.provideMerge(stores, migrated)
}

/**
 * Checks that the database at `target` can be opened and used by this build, as a user would
 * want to be told before anything starts: a bad Postgres URL, a wrong password, Postgres down
 * (at most a few seconds, never a hang), a database migrated by a newer evolve. Fails with a
 * one-line `ConfigError` that never contains the password.
 */
export const check = (target: string): Effect.Effect<void, ConfigError> =>
  Effect.scoped(Layer.build(layer(target))).pipe(
    Effect.timeoutFail({
      // Connecting gives up after 5 s (PostgresClient.connectTimeout); migrations get the rest.
      duration: Duration.seconds(15),
      onTimeout: () => new DatabaseError({ operation: "check database", message: `database ${redactDatabaseTarget(target)}: no answer in time` })
    }),
    Effect.mapError((e) => new ConfigError({ path: "database.path", message: e.message.split("\n")[0]! }))
  )
