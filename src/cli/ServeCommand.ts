import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type * as Effect from "effect/Effect"
import type { ServeFlags } from "../config/ServeFlags.js"

/** What `evolve serve` runs: main.ts passes the server, imported only when the command runs. */
export type ServeHandler<E, R> = (flags: ServeFlags) => Effect.Effect<void, E, R>

const optionalText = (name: string, description: string, value: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.withPseudoName(value), Options.optional)

const options = {
  host: Options.text("host").pipe(
    Options.withPseudoName("ADDRESS"),
    Options.withDescription("address to bind; anything but loopback requires a token you choose (--token-file or EVOLVE_TOKEN)"),
    Options.withDefault("127.0.0.1")
  ),
  port: Options.integer("port").pipe(Options.withDescription("port to listen on (0: any free port)"), Options.withDefault(8765)),
  db: optionalText("db", "SQLite database file or postgres:// URL (default: $EVOLVE_DB, else .evolve/evolve.db)", "FILE|URL"),
  token: Options.redacted("token").pipe(
    Options.withDescription("refused: a token on the command line is visible to every local user (ps); use --token-file or EVOLVE_TOKEN"),
    Options.optional
  ),
  tokenFile: optionalText(
    "token-file",
    "file holding the token clients must present (default: $EVOLVE_TOKEN, else a random token written to serve.token next to the database)",
    "FILE"
  ),
  noToken: Options.boolean("no-token").pipe(
    Options.withDescription("no token at all (loopback only): any local user or process can then use the server")
  ),
  workspace: optionalText(
    "workspace",
    "directory the API may read programs, evaluators and templates from, and run commands in (default: the working directory)",
    "DIR"
  ),
  allowKeyEnv: optionalText(
    "allow-key-env",
    "comma-separated variables a run started through the API may use as its API key (default: api_key_env of the workspace's evolve.yaml, OPENAI_API_KEY)",
    "NAMES"
  ),
  allowBaseUrl: optionalText(
    "allow-base-url",
    "comma-separated base URLs such a run may send its key to (default: those of the workspace's evolve.yaml, and loopback addresses)",
    "URLS"
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
  ),
  clusterHost: optionalText(
    "cluster-host",
    "with a Postgres --db: the address other evolve processes reach this one at (default: this machine's host name)",
    "HOST"
  ),
  clusterPort: Options.integer("cluster-port").pipe(
    Options.withDescription("with a Postgres --db: the port of this process's cluster socket"),
    Options.withDefault(34431)
  )
}

/** `evolve serve`: the HttpApi, SSE events, /metrics and the web UI over one database. */
export const serve = <E, R>(handler: ServeHandler<E, R>) =>
  Command.make("serve", options, handler).pipe(
    Command.withDescription("host many runs behind an HTTP API with live events, Prometheus metrics and a web UI")
  )
