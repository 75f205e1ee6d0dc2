/**
 * `evolve steer <run> …`, `evolve prompts <run>`, `evolve answer <prompt-id> <file>` (issue 17):
 * steer a run that `evolve serve` hosts, and answer the prompts of its `human` models, through
 * the server's HTTP API with its token. Several actions in one call are sent in a fixed order (clear,
 * hint, unpin, pin, ban, model weights, concurrency, inject, extend); then the run's steering is
 * printed. The HTTP client loads only when the command runs.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Effect from "effect/Effect"

const optional = <A>(options: Options.Options<A>, description: string) =>
  options.pipe(Options.withDescription(description), Options.optional)

const serverFlags = {
  server: optional(Options.text("server"), "the server's URL (default: $EVOLVE_SERVER, else http://127.0.0.1:8765)"),
  tokenFile: optional(Options.text("token-file"), "file with the server's token (default: $EVOLVE_TOKEN, else serve.token next to the database)"),
  db: optional(Options.text("db"), "the server's database, to find its serve.token (default: $EVOLVE_DB, else .evolve/evolve.db)")
}

const handler = Effect.promise(() => import("./Steer.js"))

export const steer = Command.make(
  "steer",
  {
    runId: Args.text({ name: "run-id" }).pipe(Args.withDescription("the run to steer (hosted by evolve serve)")),
    ...serverFlags,
    hint: optional(Options.text("hint"), "guidance added to every later prompt"),
    replaceGuidance: Options.boolean("replace-guidance").pipe(Options.withDescription("with --hint: clear the guidance in force first")),
    clearHint: optional(Options.integer("clear-hint"), "take hint N out of the guidance"),
    pin: Options.text("pin").pipe(Options.withDescription("draw parents only from this program (repeat for several) until --unpin"), Options.repeated),
    unpin: Options.boolean("unpin").pipe(Options.withDescription("draw parents from the whole population again")),
    ban: Options.text("ban").pipe(Options.withDescription("never use this program as a parent again (repeatable)"), Options.repeated),
    inject: optional(Options.text("inject"), "a hand-written program (file) to evaluate like any other"),
    note: optional(Options.text("note"), "with --inject: a note stored with it"),
    parallel: optional(Options.integer("parallel"), "LLM proposals in flight"),
    evalConcurrency: optional(Options.integer("eval-concurrency"), "evaluations in flight"),
    modelWeight: Options.text("model-weight").pipe(Options.withDescription("NAME=WEIGHT: a model's share of later proposals (repeatable)"), Options.repeated),
    extend: optional(Options.integer("extend"), "N more evaluations (a completed run runs again)")
  },
  (args) => Effect.flatMap(handler, (s) => s.steerRun(args))
).pipe(Command.withDescription("steer a run hosted by evolve serve: guidance, pinned or banned parents, injected programs, concurrency, model weights, more evaluations"))

export const prompts = Command.make(
  "prompts",
  { runId: Args.text({ name: "run-id" }).pipe(Args.withDescription("a run with a `human` model (llm provider: human)")), ...serverFlags },
  (args) => Effect.flatMap(handler, (s) => s.listPrompts(args))
).pipe(Command.withDescription("list the prompts of a run's human models waiting for an answer"))

export const answer = Command.make(
  "answer",
  {
    promptId: Args.text({ name: "prompt-id" }),
    file: Args.text({ name: "file" }).pipe(Args.withDescription("the answer: SEARCH/REPLACE blocks, or the whole program")),
    ...serverFlags
  },
  (args) => Effect.flatMap(handler, (s) => s.answerPrompt(args))
).pipe(Command.withDescription("answer a waiting prompt of a human model"))
