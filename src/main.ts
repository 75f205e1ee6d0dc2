#!/usr/bin/env node
// Deep imports keep start-up fast: the package barrels load every module.
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { cli } from "./cli/Cli.js"
import type { ServeFlags } from "./config/ServeFlags.js"
import * as Observability from "./observability/Observability.js"
import { applyHeapPolicy } from "./process/HeapGrowth.js"

// ---- observability (issue 10) ----------------------------------------------------------------
// `--debug`, anywhere on the command line, prints spans and timings to stderr; it is taken out
// before @effect/cli parses the rest. OTEL_EXPORTER_OTLP_ENDPOINT switches on OTLP export, whose
// modules are imported only then (Observability.layer), so neither costs anything when unused;
// with neither, spans are switched off (nothing could read them).
const debug = process.argv.includes("--debug")
const argv = debug ? process.argv.filter((arg) => arg !== "--debug") : process.argv
// ---------------------------------------------------------------------------------------------

// The heap policy the user asked for with EVOLVE_HEAP_GROWTH_PERCENT, checked for every command
// (`evolve serve` sets its own default, see process/HeapGrowth.ts).
const heapPolicy = applyHeapPolicy(undefined)

// The server (HttpApi, Swagger UI, highlight.js, SQLite) loads only when `serve` runs, so it
// never slows `evolve --help` or the other commands.
const serve = (flags: ServeFlags) => Effect.flatMap(Effect.promise(() => import("./server/Serve.js")), (s) => s.serve(flags))

/** Exit codes: 0 done, 1 run failed or internal error, 2 bad configuration or command line. */
const program = Effect.zipRight(heapPolicy, Effect.suspend(() => cli(serve)(argv))).pipe(
  Effect.as(0),
  Effect.catchAll((error) => {
    // @effect/cli has already printed what was wrong with the command line.
    if (ValidationError.isValidationError(error)) return Effect.succeed(2)
    switch (error._tag) {
      case "CliExit":
        return Effect.succeed(error.code)
      case "DatabaseError":
        return Effect.as(Console.error(`evolve: database error: ${error.message}`), 1)
      default:
        return Effect.as(Console.error(`evolve: ${error.message}`), 2)
    }
  }),
  Effect.provide(Observability.layer({ debug, spansOffWhenUnused: true })),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit)) return onExit(typeof exit.value === "number" ? exit.value : 0)
    if (Cause.isInterruptedOnly(exit.cause)) return onExit(130)
    process.stderr.write(`evolve: internal error\n${Cause.pretty(exit.cause)}\n`)
    onExit(1)
  }
})
