/**
 * `evolve run … --db postgres://…`: the run is submitted to the cluster (stored, then driven by
 * its entity on whichever control process hosts it) and followed from here; Ctrl-C detaches and
 * the run goes on.
 */
import * as Terminal from "@effect/platform/Terminal"
import { Clock, Console, Duration, Effect, Option } from "effect"
import { retryOnLostConnection } from "../db/LostConnection.js"
import { RunQueries } from "../db/RunQueries.js"
import { ALIVE_WINDOW_MILLIS, WorkerStore } from "../db/WorkerStore.js"
import { redactDatabaseTarget } from "../domain/DatabaseTarget.js"
import { ConfigError, DatabaseError } from "../domain/Errors.js"
import type { RunSpec } from "../domain/RunConfig.js"
import * as ClusterRuntime from "../engine/ClusterRuntime.js"
import { RunEntity, submit } from "../engine/RunEntity.js"
import { CliExit } from "./CliExit.js"
import { statusLine } from "./Progress.js"

const finished = (status: string) => status !== "running" && status !== "stopping"

/** One status line: the run's live figures when a control process hosts it, else what is stored and why it waits. */
const statusOf = (runId: string, database: string) =>
  Effect.gen(function*() {
    const queries = yield* RunQueries
    const client = yield* RunEntity.client
    const overview = yield* queries.runOverview(runId)
    const live = yield* client(runId).GetStats().pipe(Effect.timeout("2 seconds"), Effect.option)
    if (Option.isSome(live)) {
      const waiting = live.value.waitingFor
      return { overview, line: statusLine(live.value) + (waiting === null ? "" : ` │ waiting: ${waiting}`) }
    }
    const workers = yield* (yield* WorkerStore).aliveWorkers((yield* Clock.currentTimeMillis) - ALIVE_WINDOW_MILLIS)
    const stored = `evals ${overview.evaluations}/${overview.spec.config.max_evaluations} │ best ${overview.bestScore ?? "—"}`
    return {
      overview,
      line: finished(overview.status)
        ? stored
        : `${stored} │ no control process hosts this run yet (start one: evolve serve --db ${redactDatabaseTarget(database)}) │ ${workers.length} workers alive`
    }
  })

export const submitAndFollow = (database: string, spec: RunSpec, initialCode: string) =>
  Effect.gen(function*() {
    const runId = yield* submit(spec, initialCode, { wait: false })
    yield* Console.log(`run ${runId}: submitted to the cluster at ${redactDatabaseTarget(database)}; Ctrl-C detaches, the run goes on`)
    const tty = process.stdout.isTTY === true
    const terminal = yield* Terminal.Terminal
    // Postgres restarting (or failing over) is waited out: the run goes on in the cluster meanwhile.
    const tick = Effect.tap(statusOf(runId, database).pipe(retryOnLostConnection(Duration.minutes(5))), ({ line }) =>
      tty ? terminal.display(`\r\x1b[2K${line}`) : Console.log(line))
    const last = yield* Effect.gen(function*() {
      let status = yield* tick
      while (!finished(status.overview.status)) {
        yield* Effect.sleep(tty ? "1 second" : "5 seconds")
        status = yield* tick
      }
      return status
    }).pipe(
      Effect.onInterrupt(() => Console.error(`\ndetached: run ${runId} goes on in the cluster (evolve ls --db …, evolve best ${runId} --db …)`))
    )
    const o = last.overview
    yield* Console.log(`${tty ? "\n" : ""}run ${runId} ${o.status}${o.stopReason === null ? "" : ` (${o.stopReason})`}: ${o.evaluated} scored, ${o.failed} failed, best ${o.bestScore ?? "—"}`)
    if (o.status === "failed") return yield* new CliExit({ code: 1 })
  }).pipe(
    Effect.provide(ClusterRuntime.client(database)),
    // The cluster's own failures (its storage, its transport) are the database's to the user.
    Effect.mapError((e) =>
      e instanceof CliExit || e instanceof ConfigError || e instanceof DatabaseError
        ? e
        : new DatabaseError({ operation: "cluster", message: `${e._tag}: ${e.message}` })
    )
  )
