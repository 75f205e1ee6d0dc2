// A plain Node application embedding evolve through the Promise facade: it evolves the
// coefficients of a cubic approximating sin(x) on [0, π], scored by an async function.
//
//   npm run build && node examples/embed-promise/main.mjs     (from the evolve checkout)
//
// Ctrl-C stops the run gracefully; with EVOLVE_DB=runs.db it can then be resumed by passing
// its id: `node main.mjs <run-id>`. EVOLVE=0 evaluates the initial program once and exits;
// EVOLVE_ITERATIONS / EVOLVE_PARALLEL override the values below.
import { evolve } from "llm-evolve"
import { fileURLToPath } from "node:url"

const initialProgram = `// Approximates sin(x) on [0, π] with a cubic polynomial.
// EVOLVE-BLOCK-START
const c0 = 0.05
const c1 = 0.9
const c2 = 0.1
const c3 = -0.1
// EVOLVE-BLOCK-END
export const approxSin = (x) => c0 + x * (c1 + x * (c2 + x * c3))
`

// The evaluator: imports the candidate from memory and measures its worst error on 101 points.
const evaluate = async (code) => {
  const { approxSin } = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`)
  let maxError = 0
  for (let i = 0; i <= 100; i++) {
    const x = (Math.PI * i) / 100
    maxError = Math.max(maxError, Math.abs(approxSin(x) - Math.sin(x)))
  }
  if (!Number.isFinite(maxError)) return { error: "the approximation is not finite" }
  return { combined_score: 1 / (1 + 10 * maxError), max_error: maxError }
}

export const run = async (runId) => {
  const controller = new AbortController()
  const stop = () => controller.abort()
  process.once("SIGINT", stop)
  try {
    const result = await evolve({
      program: { code: initialProgram, extension: ".mjs" },
      evaluate,
      goal: "Minimise the maximum error of approxSin(x) against Math.sin(x) on [0, π].",
      iterations: 80,
      parallel: 4,
      db: process.env.EVOLVE_DB || undefined,
      runId,
      signal: controller.signal,
      onEvent: (event) => {
        if (event._tag === "NewBest") console.log(`new best ${event.score.toFixed(4)}`)
      }
    })
    const evaluations = result.summary?.evaluations ?? 0
    console.log(`best max error ${result.metrics?.max_error} after ${evaluations} evaluations (run ${result.runId})`)
    console.log(result.code)
    return result
  } finally {
    process.off("SIGINT", stop)
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run(process.argv[2])
