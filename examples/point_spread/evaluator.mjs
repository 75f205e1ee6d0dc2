// Evaluator for the point-spread example.
//
//   node evaluator.mjs <candidate.mjs>
//
// Imports the candidate, calls its `points()`, checks that it returns exactly N finite points
// inside the closed unit square (no tolerance: a coordinate of 1.0000001 is outside), and
// prints ONE JSON line of metrics as the last stdout line. The score is the smallest pairwise
// distance itself; nothing here depends on the best possible value.
import { pathToFileURL } from "node:url"
import { resolve } from "node:path"

const N = 6

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
if (typeof candidate.points !== "function") fail("the candidate must export a function `points()`")

let pts
try {
  pts = candidate.points()
} catch (error) {
  fail(`points() threw: ${error instanceof Error ? error.message : String(error)}`)
}
if (!Array.isArray(pts) || pts.length !== N) fail(`points() must return an array of ${N} points, got ${JSON.stringify(pts)?.slice(0, 200)}`)
for (const [i, p] of pts.entries()) {
  if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => typeof v === "number" && Number.isFinite(v))) {
    fail(`point ${i + 1} must be a pair of finite numbers, got ${JSON.stringify(p)}`)
  }
  if (p[0] < 0 || p[0] > 1 || p[1] < 0 || p[1] > 1) fail(`point ${i + 1} (${p[0]}, ${p[1]}) is outside the unit square`)
}

const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1])
let min = Infinity
const nearest = new Array(N).fill(Infinity)
for (let i = 0; i < N; i++) {
  for (let j = i + 1; j < N; j++) {
    const d = dist(pts[i], pts[j])
    if (d < min) min = d
    if (d < nearest[i]) nearest[i] = d
    if (d < nearest[j]) nearest[j] = d
  }
}
const cx = pts.reduce((s, p) => s + p[0], 0) / N
const cy = pts.reduce((s, p) => s + p[1], 0) / N
console.log(JSON.stringify({
  combined_score: min,
  min_distance: min,
  mean_nearest: nearest.reduce((a, b) => a + b, 0) / N,
  spread: Math.sqrt(pts.reduce((s, p) => s + (p[0] - cx) ** 2 + (p[1] - cy) ** 2, 0) / N)
}))
