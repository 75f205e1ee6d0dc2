/** The cluster's evaluation workers (`evolve worker`, issue 16) as the HTTP API shows them. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { Count, StorageError } from "./ApiCommon.js"

export const WorkerInfo = Schema.Struct({
  id: Schema.String,
  host: Schema.String,
  pid: Count,
  /** evolve's version on the worker. */
  version: Schema.String,
  slots: Count.annotations({ description: "Evaluations the worker runs at once (--slots)" }),
  busy: Count.annotations({ description: "Slots evaluating at its last heartbeat" }),
  done: Count.annotations({ description: "Evaluations it committed" }),
  tags: Schema.Array(Schema.String).annotations({ description: "It takes the runs whose evaluator.requires are exactly these" }),
  capabilities: Schema.Array(Schema.String).annotations({ description: "Interpreters and tools found on its PATH (python3, node, bwrap, …)" }),
  startedAt: Count.annotations({ description: "Unix milliseconds" }),
  heartbeatAt: Count.annotations({ description: "Unix milliseconds of its last heartbeat" })
}).annotations({ identifier: "Worker" })

export const WorkersView = Schema.Struct({
  cluster: Schema.Boolean.annotations({
    description: "false: the server's database is a SQLite file, runs evaluate in its own process and there are no workers"
  }),
  /** When the server read the list (Unix milliseconds), to show "seconds ago" against. */
  now: Count,
  /** A worker silent for this long is no longer listed. */
  aliveWindowMs: Count,
  workers: Schema.Array(WorkerInfo)
}).annotations({ identifier: "Workers" })

export class WorkersGroup extends HttpApiGroup.make("workers")
  .add(
    HttpApiEndpoint.get("listWorkers", "/workers")
      .addSuccess(WorkersView)
      .annotate(OpenApi.Description, "The cluster's live evaluation workers: host, slots, busy slots, last heartbeat, evaluations done, tags")
  )
  .addError(StorageError)
  .prefix("/api")
{}
