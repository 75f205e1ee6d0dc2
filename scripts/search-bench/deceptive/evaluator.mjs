// Evaluator of the search bench's deceptive problem (issue 17).
//
//   node evaluator.mjs <candidate.mjs>
//
// The score of { scale, shape } has two peaks in log space: a wide, low one (0.5) near the
// initial design, and the global one (1.0) at scale ≈ 20, shape ≈ 6, with a valley of near-zero
// scores between them. Small steps from the first peak only lead down into the valley, so a
// search that keeps refining its best programs is trapped; reaching the global peak takes a
// jump of both parameters at once. Prints one JSON line of metrics.
import { resolve } from "node:path"
import { pathToFileURL } from "node:url"

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
  fail(`cannot import candidate: ${error instanceof Error ? error.message : String(error)}`)
}
if (typeof candidate.design !== "function") fail("the candidate must export a function `design()`")
const d = candidate.design()
for (const key of ["scale", "shape"]) {
  if (typeof d?.[key] !== "number" || !Number.isFinite(d[key]) || d[key] <= 0) fail(`design().${key} must be a positive finite number`)
}
const u = Math.log(d.scale)
const v = Math.log(d.shape / 2)
const local = 0.5 * Math.exp(-(u * u + v * v) / (2 * 0.35 ** 2))
const gu = u - Math.log(20)
const gv = v - Math.log(3)
const global = Math.exp(-(gu * gu + gv * gv) / (2 * 0.7 ** 2))
console.log(JSON.stringify({ combined_score: Math.max(local, global), local, global }))
