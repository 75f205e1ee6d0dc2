// Evaluator for the function-minimization example.
//
//   node evaluator.mjs <candidate.mjs>
//
// Imports the candidate, runs its `search(f, bounds, budget, rng)` on a multimodal 2-D
// function for several fixed seeds, and prints ONE JSON line of metrics as the last stdout
// line. The candidate sees `f` only as a black box: every call is counted, and calls beyond
// the budget return +Infinity without evaluating anything. The returned point is re-scored
// here (not trusted), must be finite and inside the bounds (no tolerance).
import { pathToFileURL } from "node:url"
import { resolve } from "node:path"

const objective = (x, y) => Math.sin(x) * Math.cos(y) + Math.sin(x * y) + (x * x + y * y) / 20

// Global minimum over the bounds, found offline by exhaustive grid search + refinement.
const F_MIN = -1.518685840848579
const BOUNDS = [[-10, 10], [-10, 10]]
const BUDGET = 1000
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
const SUCCESS_GAP = 1e-3 // a run "succeeds" when it lands within this of F_MIN
const GAP_SCALE = 0.01 // per-seed score = 1 / (1 + gap / GAP_SCALE)

// mulberry32: small, fast, deterministic PRNG returning numbers in [0, 1).
const makeRng = (seed) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const fail = (message) => {
  process.stderr.write(`evaluator: ${message}\n`)
  process.exit(1)
}

const candidatePath = process.argv[2]
if (!candidatePath) fail("usage: node evaluator.mjs <candidate path>")

let candidate
try {
  candidate = await import(pathToFileURL(resolve(candidatePath)).href)
} catch (error) {
  fail(`cannot import candidate: ${error instanceof Error ? error.stack ?? error.message : String(error)}`)
}
const search = candidate.search ?? candidate.default
if (typeof search !== "function") fail("the candidate must export a function `search(f, bounds, budget, rng)`")

const inBounds = (x, y) =>
  x >= BOUNDS[0][0] && x <= BOUNDS[0][1] && y >= BOUNDS[1][0] && y <= BOUNDS[1][1]

const runs = []
const errors = []
const realRandom = Math.random
for (const seed of SEEDS) {
  const rng = makeRng(seed)
  let calls = 0
  const f = (x, y) => {
    calls++
    if (calls > BUDGET) return Number.POSITIVE_INFINITY
    return objective(Number(x), Number(y))
  }
  // Math.random is seeded too, so a candidate using it stays reproducible.
  Math.random = makeRng(seed ^ 0x9e3779b9)
  let point
  try {
    point = search(f, BOUNDS.map((b) => [...b]), BUDGET, rng)
  } catch (error) {
    errors.push(`seed ${seed}: search threw: ${error instanceof Error ? error.message : String(error)}`)
    runs.push(null)
    continue
  } finally {
    Math.random = realRandom
  }
  const [x, y] = Array.isArray(point) ? point : [point?.x, point?.y]
  if (typeof x !== "number" || typeof y !== "number" || !Number.isFinite(x) || !Number.isFinite(y)) {
    errors.push(`seed ${seed}: search must return a finite [x, y], got ${JSON.stringify(point)}`)
    runs.push(null)
    continue
  }
  if (!inBounds(x, y)) {
    errors.push(`seed ${seed}: point (${x}, ${y}) is outside the bounds ${JSON.stringify(BOUNDS)}`)
    runs.push(null)
    continue
  }
  runs.push({ value: objective(x, y), calls })
}

const valid = runs.filter((r) => r !== null)
if (valid.length === 0) fail(`no valid run:\n${errors.join("\n")}`)
for (const e of errors) process.stderr.write(`evaluator: ${e}\n`)

const scores = runs.map((r) => (r === null ? 0 : 1 / (1 + Math.max(0, r.value - F_MIN) / GAP_SCALE)))
const values = valid.map((r) => r.value)
const metrics = {
  combined_score: scores.reduce((a, b) => a + b, 0) / SEEDS.length,
  mean_value: values.reduce((a, b) => a + b, 0) / values.length,
  best_value: Math.min(...values),
  success_rate: valid.filter((r) => r.value - F_MIN <= SUCCESS_GAP).length / SEEDS.length,
  valid_rate: valid.length / SEEDS.length,
  over_budget_rate: valid.filter((r) => r.calls > BUDGET).length / SEEDS.length
}
console.log(JSON.stringify(metrics))
