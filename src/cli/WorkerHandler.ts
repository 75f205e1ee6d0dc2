/**
 * `evolve worker`: checks the cluster's database (reachable, the control processes' evolve of
 * the same major.minor, a schema this evolve knows), says
 * what this machine can run, registers, and evaluates candidates until Ctrl-C.
 */
import * as os from "node:os"
import * as path from "node:path"
import { Console, Effect, Option, Random, Ref } from "effect"
import { isPostgresUrl, redactDatabaseTarget } from "../domain/DatabaseTarget.js"
import { ConfigError } from "../domain/Errors.js"
import * as ClusterRuntime from "../engine/ClusterRuntime.js"
import * as EvaluationWorker from "../engine/EvaluationWorker.js"
import * as WorkerPresence from "../engine/WorkerPresence.js"
import { VERSION } from "../domain/Version.js"

export interface WorkerFlags {
  readonly db: string
  readonly slots: number
  readonly tags: Option.Option<string>
  readonly cacheDir: Option.Option<string>
  readonly cacheKeep: number
}

/** Where a worker keeps the evaluator files shipped with runs: the user's cache directory, else the temp dir. */
export const defaultCacheDir = () => {
  const xdg = process.env["XDG_CACHE_HOME"]
  if (xdg !== undefined && xdg !== "") return path.join(xdg, "evolve", "evaluators")
  const home = os.homedir()
  return home !== "" ? path.join(home, ".cache", "evolve", "evaluators") : path.join(os.tmpdir(), "evolve-evaluators")
}

const parseTags = (text: Option.Option<string>) =>
  Option.match(text, { onNone: () => [], onSome: (t) => t.split(",").map((s) => s.trim()).filter((s) => s !== "") })

export const worker = (flags: WorkerFlags) =>
  Effect.gen(function*() {
    if (!isPostgresUrl(flags.db)) {
      return yield* new ConfigError({
        message: `--db ${flags.db}: a worker needs the cluster's PostgreSQL database (postgres://…); a SQLite file is one machine's`
      })
    }
    if (!Number.isInteger(flags.slots) || flags.slots < 1 || flags.slots > 1024) {
      return yield* new ConfigError({ message: `--slots ${flags.slots}: expected an integer from 1 to 1024` })
    }
    if (!Number.isInteger(flags.cacheKeep) || flags.cacheKeep < 1) {
      return yield* new ConfigError({ message: `--cache-keep ${flags.cacheKeep}: expected an integer of at least 1 (evaluator copies kept)` })
    }
    const tags = [...new Set(parseTags(flags.tags))].sort()
    const cacheDir = path.resolve(Option.getOrElse(flags.cacheDir, defaultCacheDir))
    const host = os.hostname()
    const id = `${host}-${process.pid}-${(yield* Random.nextIntBetween(0, 36 ** 4)).toString(36).padStart(4, "0")}`
    const counters = yield* Ref.make<EvaluationWorker.WorkerCounters>({ busy: 0, done: 0 })
    yield* Effect.scoped(Effect.gen(function*() {
      const capabilities = yield* WorkerPresence.capabilities
      yield* WorkerPresence.register({ id, host, pid: process.pid, version: VERSION, slots: flags.slots, tags, capabilities }, counters)
      yield* Console.log(
        `evolve worker ${id}: ${flags.slots} slots, tags ${tags.length > 0 ? tags.join(",") : "(none)"}, can run ${
          capabilities.join(", ") || "nothing found on PATH"
        }; evaluator files cached in ${cacheDir} (${flags.cacheKeep} copies kept); database ${redactDatabaseTarget(flags.db)}`
      )
      yield* EvaluationWorker.run({ slots: flags.slots, tags, cacheDir, cacheKeep: flags.cacheKeep, announce: true }, counters).pipe(
        Effect.onInterrupt(() =>
          Effect.flatMap(Ref.get(counters), (c) => Console.error(`evolve worker ${id} stopped: ${c.done} evaluations committed`))
        )
      )
    })).pipe(
      Effect.provide(ClusterRuntime.client(flags.db, { checkVersion: true })),
      // An unreachable database, one of a newer schema or a cluster of another evolve version is
      // the command line's problem: exit 2.
      Effect.catchTag("DatabaseError", (e) => new ConfigError({ message: `worker not started: ${e.message}` }))
    )
  })

