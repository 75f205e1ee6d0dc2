import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type * as Effect from "effect/Effect"
import type { ServeFlags } from "../config/ServeFlags.js"

/** What `evolve serve` runs: main.ts passes the server, imported only when the command runs. */
export type ServeHandler<E, R> = (flags: ServeFlags) => Effect.Effect<void, E, R>

const options = {
  host: Options.text("host").pipe(
    Options.withDescription("address to bind; anything but loopback requires a bearer token"),
    Options.withDefault("127.0.0.1")
  ),
  port: Options.integer("port").pipe(Options.withDescription("port to listen on (0: any free port)"), Options.withDefault(8765)),
  db: Options.text("db").pipe(
    Options.withDescription("SQLite database file (default: $EVOLVE_DB, else .evolve/evolve.db)"),
    Options.optional
  ),
  token: Options.redacted("token").pipe(
    Options.withDescription("bearer token clients must send (prefer the EVOLVE_TOKEN environment variable)"),
    Options.optional
  ),
  llmConcurrency: Options.integer("llm-concurrency").pipe(
    Options.withDescription("LLM calls in flight across all runs"),
    Options.withDefault(16)
  ),
  evalConcurrency: Options.integer("eval-concurrency").pipe(
    Options.withDescription("evaluations in flight across all runs"),
    Options.withDefault(8)
  ),
  noResume: Options.boolean("no-resume").pipe(
    Options.withDescription("do not resume the runs this server was driving when it last stopped")
  )
}

/** `evolve serve`: the HttpApi, SSE events, /metrics and the web UI over one database. */
export const serve = <E, R>(handler: ServeHandler<E, R>) =>
  Command.make("serve", options, handler).pipe(
    Command.withDescription("host many runs behind an HTTP API with live events, Prometheus metrics and a web UI")
  )
