import { Effect, Schema } from "effect"
import { execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import * as Yaml from "yaml"
import { RunConfig } from "../../src/domain/RunConfig.js"
import { hillClimb } from "./hillclimb.js"

const examples = [
  { dir: "examples/function_minimization", program: "initial_program.mjs", command: ["node", "evaluator.mjs"], language: "javascript", ext: ".mjs" },
  { dir: "examples/function_minimization_py", program: "initial_program.py", command: ["python3", "evaluator.py"], language: "python", ext: ".py" }
] as const

const tmp = mkdtempSync(join(tmpdir(), "evolve-examples-"))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

let counter = 0
const run = (ex: (typeof examples)[number], code: string) => {
  const file = join(tmp, `candidate_${++counter}${ex.ext}`)
  writeFileSync(file, code)
  const r = spawnSync(ex.command[0], [...ex.command.slice(1), file], { cwd: ex.dir, encoding: "utf8", timeout: 10_000 })
  const last = r.stdout.trim().split("\n").at(-1) ?? ""
  return { status: r.status, stderr: r.stderr, metrics: r.status === 0 ? JSON.parse(last) as Record<string, number> : null }
}

const broken = {
  javascript: {
    throws: "export function search() { throw new Error('boom') }\n",
    outside: "export function search(f, bounds) { return [bounds[0][1] + 1e-9, 0] }\n",
    greedy: "export function search(f, b, budget, rng) { let best = [0, 0]; for (let i = 0; i < 5 * budget; i++) { const p = [-10 + 20 * rng(), -10 + 20 * rng()]; if (f(...p) < f(...best)) best = p } return best }\n"
  },
  python: {
    throws: "def search(f, bounds, budget, rng):\n    raise RuntimeError('boom')\n",
    outside: "def search(f, bounds, budget, rng):\n    return bounds[0][1] + 1e-9, 0.0\n",
    greedy: "def search(f, b, budget, rng):\n    best = (0.0, 0.0)\n    for _ in range(5 * budget):\n        p = (-10 + 20 * rng(), -10 + 20 * rng())\n        if f(*p) < f(*best):\n            best = p\n    return best\n"
  }
} as const

describe.each(examples)("example $dir", (ex) => {
  it("has a valid evolve.yaml using the offline provider", () => {
    const raw = Yaml.parse(readFileSync(join(ex.dir, "evolve.yaml"), "utf8"))
    const config = Schema.decodeUnknownSync(RunConfig)(raw, { onExcessProperty: "error" })
    expect(config.llm.provider).toBe("offline")
    expect(config.language).toBe(ex.language)
  })

  it("scores the initial program low but valid, with one JSON line last", () => {
    const r = run(ex, readFileSync(join(ex.dir, ex.program), "utf8"))
    expect(r.status).toBe(0)
    expect(r.metrics!["combined_score"]).toBeGreaterThan(0)
    expect(r.metrics!["combined_score"]).toBeLessThan(0.1)
    expect(r.metrics!["valid_rate"]).toBe(1)
  })

  it("rejects candidates that throw or leave the bounds, and cuts off calls beyond the budget", () => {
    const throws = run(ex, broken[ex.language].throws)
    expect(throws.status).not.toBe(0)
    expect(throws.stderr).toContain("boom")
    const outside = run(ex, broken[ex.language].outside)
    expect(outside.status).not.toBe(0)
    expect(outside.stderr).toContain("outside the bounds")
    const greedy = run(ex, broken[ex.language].greedy)
    expect(greedy.status).toBe(0)
    expect(greedy.metrics!["over_budget_rate"]).toBe(1)
  })

  it("is clearly improved by the offline model within 40 evaluations (hill-climb)", async () => {
    const r = await Effect.runPromise(
      hillClimb({ dir: ex.dir, program: ex.program, command: ex.command, language: ex.language, evaluations: 40, seed: 2 })
    )
    expect(r.patchFailures).toBe(0)
    expect(r.best.score).toBeGreaterThan(10 * r.initial.score)
  })
})

it("the evaluators agree with each other on the same search", () => {
  // Same algorithm and parameters, different languages and PRNGs: scores are similar, not equal.
  const js = execFileSync("node", ["evaluator.mjs", resolve("examples/function_minimization/initial_program.mjs")], {
    cwd: "examples/function_minimization",
    encoding: "utf8"
  })
  const py = execFileSync("python3", ["evaluator.py", resolve("examples/function_minimization_py/initial_program.py")], {
    cwd: "examples/function_minimization_py",
    encoding: "utf8"
  })
  const a = JSON.parse(js.trim().split("\n").at(-1)!).combined_score
  const b = JSON.parse(py.trim().split("\n").at(-1)!).combined_score
  expect(Math.abs(a - b)).toBeLessThan(0.05)
})
