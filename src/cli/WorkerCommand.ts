import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"

const options = {
  db: Options.text("db").pipe(Options.withDescription("the cluster's PostgreSQL database (postgres://user@host/db; password from PGPASSWORD or the URL)")),
  slots: Options.integer("slots").pipe(Options.withDescription("evaluations this machine runs at once"), Options.withDefault(4)),
  tags: Options.text("tags").pipe(
    Options.withDescription("comma-separated tags: this worker takes the runs whose evaluator.requires are exactly these (e.g. gpu)"),
    Options.optional
  ),
  cacheDir: Options.text("cache-dir").pipe(
    Options.withDescription(
      "where the evaluator files shipped with runs are kept, one copy per content hash (default $XDG_CACHE_HOME/evolve/evaluators or ~/.cache/evolve/evaluators)"
    ),
    Options.optional
  ),
  cacheKeep: Options.integer("cache-keep").pipe(
    Options.withDescription(
      "evaluator copies kept in --cache-dir: the most recently used; older ones are removed unless in use or used within the last hour"
    ),
    Options.withDefault(16)
  )
}

/** `evolve worker`: an evaluation worker of a cluster (loaded only when the command runs). */
export const worker = Command.make(
  "worker",
  options,
  (flags) => Effect.flatMap(Effect.promise(() => import("./WorkerHandler.js")), (h) => h.worker(flags))
).pipe(Command.withDescription("evaluate candidates of a cluster's runs: pulls them from the shared database's work queue, K at a time"))
