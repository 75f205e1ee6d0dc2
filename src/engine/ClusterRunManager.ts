/**
 * The RunManager of `evolve serve --db postgres://…`: the same service the HTTP API and the web
 * UI use on one machine, over a cluster. Runs are entities (RunEntity) hosted by whichever
 * control process owns their shard, so every message goes through the entity's client; what was
 * stored (runs, programs, events) is read from the shared database, and a run's live figures
 * come from its entity.
 */
import type * as Sharding from "@effect/cluster/Sharding"
import { Chunk, Duration, Effect, Layer, Option, Stream } from "effect"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { CandidateStore } from "../db/CandidateStore.js"
import { EvaluatorFileStore } from "../db/EvaluatorFileStore.js"
import { EventStore } from "../db/EventStore.js"
import type { RunOverview } from "../db/Records.js"
import { RunQueries } from "../db/RunQueries.js"
import { RunStore } from "../db/RunStore.js"
import { SteeringStore } from "../db/SteeringStore.js"
import { replay } from "../domain/Steering.js"
import type { RunSpec } from "../domain/RunConfig.js"
import type { StoredEvent } from "./RunEvents.js"
import * as RunEvents from "./RunEvents.js"
import { RunEntity, submit } from "./RunEntity.js"
import { sendSteering } from "./RunClient.js"
import { RunConflict, type RunInfo, RunManager, steeringError, stopReasons, type StopIntent } from "./RunManager.js"
import type { RunStats } from "./RunProtocol.js"

export interface ClusterRunManagerOptions {
  /** Every run is stored in this database (overrides the spec's database.path). */
  readonly databasePath: string
  /** How often an event stream looks for new events of a run hosted elsewhere. */
  readonly eventPollInterval?: Duration.DurationInput | undefined
}

const intentOf = (stats: RunStats): StopIntent | null => {
  if (stats.stopReason !== "interrupted") return null
  return (Object.keys(stopReasons) as Array<StopIntent>).find((intent) => stopReasons[intent] === stats.stopMessage) ?? null
}

/** Between the run id and the desk's own id in a cluster's prompt ids. */
const promptSeparator = ":"

const active = (overview: RunOverview) => overview.status === "running" || overview.status === "stopping"

export const make = (options: ClusterRunManagerOptions) =>
  Effect.gen(function*() {
    const runs = yield* RunStore
    const eventStore = yield* EventStore
    const queries = yield* RunQueries
    const steeringStore = yield* SteeringStore
    const client = yield* RunEntity.client
    const stores = yield* Effect.context<RunStore | CandidateStore | EvaluatorFileStore | Sharding.Sharding>()

    const conflict = (e: { readonly message: string }) => new RunConflict({ message: e.message })

    /** The live figures of an active run, from its entity (none when it does not answer quickly). */
    const liveOf = (overview: RunOverview) =>
      active(overview)
        ? client(overview.id).GetStats().pipe(Effect.timeout("2 seconds"), Effect.option)
        : Effect.succeed(Option.none<RunStats>())
    const infoOf = (overview: RunOverview) =>
      Effect.map(liveOf(overview), (live): RunInfo => ({
        overview,
        live,
        intent: Option.match(live, { onNone: () => null, onSome: intentOf })
      }))
    const info = (id: string) => Effect.flatMap(queries.runOverview(id), infoOf)

    /** A message to a run's entity; a refusal (not running, already running) is a conflict. */
    const tell = <A, E extends { readonly message: string }>(id: string, message: (runId: string) => Effect.Effect<A, E>) =>
      Effect.gen(function*() {
        const overview = yield* queries.runOverview(id)
        yield* message(overview.id).pipe(Effect.mapError(conflict))
        return yield* info(overview.id)
      })

    return RunManager.of({
      limits: { llm: 0, evaluations: 0 },
      create: (spec: RunSpec, initialCode: string) =>
        submit({ ...spec, config: { ...spec.config, database: { path: options.databasePath } } }, initialCode).pipe(
          Effect.catchTags({ RunRefused: Effect.die, MailboxFull: Effect.die, AlreadyProcessingMessage: Effect.die, PersistenceError: Effect.die }),
          Effect.provide(stores),
          // The evaluator's files are read here, on the machine that received the run.
          Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
        ),
      list: Effect.flatMap(queries.listRuns, (overviews) => Effect.forEach(overviews, infoOf, { concurrency: 8 })),
      get: info,
      pause: (id) => tell(id, (runId) => client(runId).Pause()),
      stop: (id) => tell(id, (runId) => client(runId).Stop({ message: stopReasons.stop })),
      resume: (id, maxEvaluations) => tell(id, (runId) => client(runId).Resume({ max_evaluations: maxEvaluations })),
      extend: (id, maxEvaluations) => tell(id, (runId) => client(runId).Extend({ max_evaluations: maxEvaluations })),
      setConcurrency: (id, change) => tell(id, (runId) => client(runId).SetConcurrency(change)),
      steer: (id, action) =>
        Effect.flatMap(queries.runOverview(id), (overview) => Effect.mapError(sendSteering(client(overview.id), action), steeringError)),
      steering: (id) =>
        Effect.gen(function*() {
          const overview = yield* queries.runOverview(id)
          const live = active(overview) ? yield* client(overview.id).GetSteering().pipe(Effect.timeout("2 seconds"), Effect.option) : Option.none()
          return live._tag === "Some" ? live.value : replay(yield* steeringStore.list(overview.id))
        }),
      // provider: human — a prompt waits on the desk of the runner hosting its run; its id here
      // names the run too (`<run id>:<prompt id>`), so an answer finds the run's entity.
      prompts: (id) =>
        Effect.gen(function*() {
          const overview = yield* queries.runOverview(id)
          if (!active(overview)) return []
          const waiting = yield* client(overview.id).GetPrompts().pipe(Effect.timeout("5 seconds"), Effect.orElseSucceed(() => []))
          return waiting.map((p) => ({ ...p, id: `${overview.id}${promptSeparator}${p.id}` }))
        }),
      answer: (promptId, text) => {
        const at = promptId.indexOf(promptSeparator)
        if (at <= 0) return Effect.succeed(false)
        return Effect.gen(function*() {
          const overview = yield* queries.runOverview(promptId.slice(0, at))
          if (!active(overview)) return false
          return yield* client(overview.id).AnswerPrompt({ promptId: promptId.slice(at + 1), text }).pipe(Effect.timeout("10 seconds"))
        }).pipe(Effect.orElseSucceed(() => false))
      },
      events: (id, afterSeq) =>
        Stream.unwrap(Effect.map(runs.getRun(id), (run) => {
          // The run may be hosted by another process: its stored events are the stream.
          let last = afterSeq
          return Stream.repeatEffectChunk(Effect.gen(function*() {
            const rows = yield* eventStore.readEvents(run.id, last, RunEvents.BATCH)
            if (rows.length === 0) {
              yield* Effect.sleep(options.eventPollInterval ?? Duration.millis(250))
              return Chunk.empty<StoredEvent>()
            }
            last = rows[rows.length - 1]!.seq
            return Chunk.unsafeFromArray<StoredEvent>(rows)
          }))
        })),
      activeStats: Effect.flatMap(
        Effect.orElseSucceed(queries.listRuns, () => []),
        (overviews) =>
          Effect.map(
            Effect.forEach(overviews.filter(active), liveOf, { concurrency: 8 }),
            (lives) => lives.flatMap(Option.toArray)
          )
      )
    })
  })

export const layer = (options: ClusterRunManagerOptions) => Layer.effect(RunManager, make(options))
