// Scores a `search(f, bounds, budget, rng)` function in-process: the metrics of
// examples/function_minimization/evaluator.mjs, as a plain function of the search.
const objective = (x, y) => Math.sin(x) * Math.cos(y) + Math.sin(x * y) + (x * x + y * y) / 20
const F_MIN = -1.518685840848579
const BOUNDS = [[-10, 10], [-10, 10]]
const BUDGET = 1000
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
const GAP_SCALE = 0.01

// mulberry32: small deterministic PRNG in [0, 1).
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

const inBounds = (x, y) => x >= BOUNDS[0][0] && x <= BOUNDS[0][1] && y >= BOUNDS[1][0] && y <= BOUNDS[1][1]

/** Metrics of `search` over fixed seeds: `combined_score` in [0, 1], 1 = the global minimum every time. */
export const scoreSearch = (search) => {
  if (typeof search !== "function") return { error: "the program must export a function `search(f, bounds, budget, rng)`" }
  const scores = []
  const values = []
  for (const seed of SEEDS) {
    let calls = 0
    const f = (x, y) => (++calls > BUDGET ? Number.POSITIVE_INFINITY : objective(Number(x), Number(y)))
    let point
    try {
      point = search(f, BOUNDS.map((b) => [...b]), BUDGET, makeRng(seed))
    } catch {
      scores.push(0)
      continue
    }
    const [x, y] = Array.isArray(point) ? point : []
    if (!Number.isFinite(x) || !Number.isFinite(y) || !inBounds(x, y)) {
      scores.push(0)
      continue
    }
    const value = objective(x, y)
    values.push(value)
    scores.push(1 / (1 + Math.max(0, value - F_MIN) / GAP_SCALE))
  }
  if (values.length === 0) return { error: "no seed produced a valid point inside the bounds" }
  return {
    combined_score: scores.reduce((a, b) => a + b, 0) / SEEDS.length,
    best_value: Math.min(...values),
    valid_rate: values.length / SEEDS.length
  }
}
