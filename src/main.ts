#!/usr/bin/env node
import { ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit } from "effect"
import { cli } from "./cli/Cli.js"

/** Exit codes: 0 done, 1 run failed or internal error, 2 bad configuration or command line. */
const program = Effect.suspend(() => cli(process.argv)).pipe(
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
