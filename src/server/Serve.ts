import { Cause, Config, Console, Effect, Layer, Option } from "effect"
import type { ServeFlags } from "../config/ServeFlags.js"
import { ConfigError } from "../domain/Errors.js"
import { applyHeapPolicy, serviceHeapGrowthPercent } from "../process/HeapGrowth.js"
import * as Server from "./Server.js"

const defaultDatabase = ".evolve/evolve.db"

/** Runs the service until interrupted (SIGINT/SIGTERM): hosted runs then stop gracefully and resume at the next start. */
export const serve = (o: ServeFlags) =>
  Effect.gen(function*() {
    if (o.port < 0 || o.port > 65535) return yield* new ConfigError({ message: `flag --port: expected 0 to 65535, got ${o.port}` })
    if (o.llmConcurrency < 1) return yield* new ConfigError({ message: "flag --llm-concurrency: expected an integer ≥ 1" })
    if (o.evalConcurrency < 1) return yield* new ConfigError({ message: "flag --eval-concurrency: expected an integer ≥ 1" })
    const envToken = yield* Config.option(Config.redacted("EVOLVE_TOKEN")).pipe(Effect.orElseSucceed(() => Option.none()))
    const token = Option.orElse(o.token, () => envToken)
    // A service runs for days: its heap is kept near its live data (see HeapGrowth).
    yield* applyHeapPolicy(serviceHeapGrowthPercent)
    const envDb = yield* Config.option(Config.string("EVOLVE_DB")).pipe(Effect.orElseSucceed(() => Option.none()))
    const databasePath = Option.getOrElse(Option.orElse(o.db, () => envDb), () => defaultDatabase)
    yield* Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(Server.layer({
        host: o.host,
        port: o.port,
        databasePath,
        token,
        llmConcurrency: o.llmConcurrency,
        evaluationConcurrency: o.evalConcurrency,
        resumeOnStart: !o.noResume,
        maxBodyBytes: Server.defaults.maxBodyBytes
      })).pipe(
        Effect.catchTag("ServeError", (e) =>
          new ConfigError({ message: `cannot listen on ${o.host}:${o.port}: ${Cause.pretty(Cause.fail(e.cause)).split("\n")[0]}` }))
      )
      const url = yield* Effect.provide(Server.baseUrl, context)
      yield* Console.log(
        `evolve serve: ${url}  (database ${databasePath}; shared limits: ${o.llmConcurrency} LLM calls, ${o.evalConcurrency} evaluations${
          Option.isSome(token) ? "; bearer token required" : ""
        })`
      )
      return yield* Effect.never
    }))
  })
