import { Effect } from "effect"
import { it } from "vitest"
import { hillClimb } from "./hillclimb.js"
const N = Number(process.env.EVOLVE_HILLCLIMB_N ?? 0)
it.skipIf(N === 0)("manual hill-climb", async () => {
  for (const [dir, program, command, language] of [
    ["examples/function_minimization", "initial_program.mjs", ["node", "evaluator.mjs"], "javascript"],
    ["examples/function_minimization_py", "initial_program.py", ["python3", "evaluator.py"], "python"]
  ] as const) {
    if (process.env.EVOLVE_HILLCLIMB_ONLY && !dir.endsWith(process.env.EVOLVE_HILLCLIMB_ONLY)) continue
    for (const seed of (process.env.EVOLVE_HILLCLIMB_SEEDS ?? "1").split(",").map(Number)) {
      const r = await Effect.runPromise(hillClimb({ dir, program, command, language, evaluations: N, seed }))
      console.log(`${dir} seed=${seed}: initial ${r.initial.score.toFixed(4)} -> best ${r.best.score.toFixed(4)} at eval ${r.best.at}/${r.evaluations} (patch failures ${r.patchFailures}, eval failures ${r.evalFailures}) milestones ${[10, 25, 50, 100, 150].filter((k) => k <= r.history.length).map((k) => `${k}:${r.history[k - 1]!.toFixed(3)}`).join(" ")}`)
      if (process.env.EVOLVE_HILLCLIMB_SHOW) console.log(r.best.code)
    }
  }
}, 600_000)
