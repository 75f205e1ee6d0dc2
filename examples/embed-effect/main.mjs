// An Effect application embedding evolve: it provides evolve's layers (EvolveLive) with its own
// evaluator — an Effect scoring the candidate in-process, no subprocess — and runs an evolution
// of the search program of examples/function_minimization.
//
//   npm run build && node examples/embed-effect/main.mjs      (from the evolve checkout)
//
// In your own app: `npm install /path/to/evolve effect @effect/platform-node`, then the same code.
// Environment: EVOLVE_ITERATIONS (default 60), EVOLVE_DB (default in memory),
// OTEL_EXPORTER_OTLP_ENDPOINT (export the spans).
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { Evolution, EvolveLive, FunctionEvaluator, Observability } from "llm-evolve"
import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { scoreSearch } from "./score.mjs"

const initialProgram = new URL("../function_minimization/initial_program.mjs", import.meta.url)

// Loads a candidate as an ES module from memory. In-process evaluation is fast but trusts the
// code: there is no sandbox, and a candidate stuck in a synchronous loop blocks the process
// (the timeout cannot preempt it). Use CommandEvaluator (the `command` contract) to isolate.
const loadCandidate = (code) =>
  Effect.tryPromise({
    try: () => import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`),
    catch: (error) => new Error(`cannot import the candidate: ${error}`)
  })

// The run's Evaluator: an Effect from the candidate to its metrics. Failures (a candidate that
// does not import, throws, or breaks the contract) become failed candidates; the run goes on.
const EvaluatorLive = FunctionEvaluator.layer(
  (request) => loadCandidate(request.code).pipe(Effect.flatMap((module) => Effect.try(() => scoreSearch(module.search)))),
  { timeoutMs: 10_000 }
)

// Settings as in evolve.yaml (snake_case, every key optional); the LLM defaults to "offline".
const config = {
  goal:
    "Minimise the black-box 2-D function given to search(f, bounds, budget, rng): return the point with the " +
    "lowest value you can find using at most `budget` calls to f, staying inside the bounds.",
  language: "javascript",
  seed: 7,
  max_evaluations: Number(process.env.EVOLVE_ITERATIONS ?? 60),
  concurrency: { proposals: 4, evaluations: 2 }
}

// Everything a run needs: program database, LLM client and proposer, and our evaluator; plus
// tracing (OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set, else nothing).
const MainLive = Layer.mergeAll(
  EvolveLive(config, { evaluator: EvaluatorLive, database: process.env.EVOLVE_DB || ":memory:" }),
  Observability.layer()
)

export const program = Effect.gen(function*() {
  const initialCode = yield* Effect.promise(() => readFile(initialProgram, "utf8"))
  const spec = yield* Evolution.inlineSpec(config, { extension: ".mjs" })
  const best = yield* Evolution.run({
    spec,
    initialCode,
    onEvent: (event) => {
      if (event._tag === "NewBest") console.log(`new best ${event.score.toFixed(4)}`)
    }
  })
  yield* Console.log(
    `best combined_score ${best.score?.toFixed(4)} after ${best.summary?.evaluations} evaluations (run ${best.runId})`
  )
  yield* Console.log(best.code)
  return best
}).pipe(Effect.provide(MainLive))

if (process.argv[1] === fileURLToPath(import.meta.url)) NodeRuntime.runMain(program)
