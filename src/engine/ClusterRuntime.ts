/**
 * A process's membership of an evolve cluster (DESIGN §8), over the shared Postgres database:
 * - a control process (`evolve serve --db postgres://…`) is a runner: it hosts the runs whose
 *   shards it owns (RunEntity) and serves the RunManager over the whole cluster;
 * - an evaluation worker (`evolve worker`) and a submitting CLI (`evolve run --db postgres://…`)
 *   are clients: they send messages to runs wherever those are hosted.
 * Messages between processes go over @effect/cluster's socket transport; storage (shards, runners,
 * persisted messages) lives in the same database, which one runner's janitor keeps pruned.
 */
import * as RunnerAddress from "@effect/cluster/RunnerAddress"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import { Clock, Effect, Layer, Option } from "effect"
import * as ClusterVersion from "../db/ClusterVersion.js"
import * as ProgramDatabase from "../db/ProgramDatabase.js"
import * as ResultNotices from "../db/ResultNotices.js"
import * as SetupLock from "../db/SetupLock.js"
import { VERSION } from "../domain/Version.js"
import * as ClusterHost from "./ClusterHost.js"
import * as ClusterJanitor from "./ClusterJanitor.js"
import * as ClusterRunManager from "./ClusterRunManager.js"
import * as EvaluationQueue from "./EvaluationQueue.js"
import * as RunEntity from "./RunEntity.js"

export interface RunnerOptions {
  /** The address other processes reach this one at (host and port of its cluster socket). */
  readonly host: string
  readonly port: number
}

/** Cluster timings for evolve: messages are polled often enough for interactive use. */
const shardingConfig = {
  entityMessagePollInterval: "500 millis",
  refreshAssignmentsInterval: "2 seconds"
} as const

/** Records this control process's evolve version in the cluster (a worker of another one is refused). */
const versionRecorded = Layer.effectDiscard(Effect.flatMap(Clock.currentTimeMillis, (now) => ClusterVersion.record(VERSION, now)))

/** The database, the work queue, and this process as a runner hosting runs. */
export const runner = (database: string, options: RunnerOptions) =>
  Layer.mergeAll(
    RunEntity.layer.pipe(Layer.provide(ClusterHost.layer().pipe(Layer.provide(ResultNotices.layer(database))))),
    ClusterJanitor.layer(),
    versionRecorded
  ).pipe(
    Layer.provideMerge(SetupLock.serialized(
      NodeClusterSocket.layer({
        storage: "sql",
        shardingConfig: {
          ...shardingConfig,
          runnerAddress: Option.some(RunnerAddress.make(options.host, options.port)),
          runnerListenAddress: Option.some(RunnerAddress.make("0.0.0.0", options.port))
        }
      }).pipe(Layer.provideMerge(EvaluationQueue.layer()))
    )),
    Layer.provideMerge(ProgramDatabase.layer(database))
  )

/** `evolve serve`'s RunManager over the cluster, with this process as one of its runners. */
export const serve = (database: string, options: RunnerOptions) =>
  ClusterRunManager.layer({ databasePath: database }).pipe(Layer.provideMerge(runner(database, options)))

/**
 * The database, the work queue, and this process as a client of the cluster (it hosts no runs).
 * `checkVersion`: refuse (before migrating anything) a cluster whose control processes run an
 * evolve of another major.minor than this one — what a worker does.
 */
export const client = (database: string, options: { readonly checkVersion?: boolean } = {}) =>
  SetupLock.serialized(
    NodeClusterSocket.layer({ clientOnly: true, storage: "sql", shardingConfig }).pipe(Layer.provideMerge(EvaluationQueue.layer()))
  ).pipe(Layer.provideMerge(ProgramDatabase.layer(database, options.checkVersion === true ? { beforeMigrate: ClusterVersion.check(VERSION) } : {})))
