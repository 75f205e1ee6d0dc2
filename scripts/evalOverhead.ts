/**
 * Per-candidate evaluation overhead: a Python evaluator that imports numpy and does no real
 * work, evaluated sequentially through each contract, so the time per candidate is overhead.
 *
 *   node dist/scripts/evalOverhead.js [candidates]
 *
 * `measureEvalOverhead` is exported for the benchmark suite (scripts/bench).
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { execFileSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { pathToFileURL } from "node:url"
import * as CommandEvaluator from "../src/evaluate/CommandEvaluator.js"
import { Evaluator } from "../src/evaluate/Evaluator.js"
import * as PythonEvaluator from "../src/evaluate/PythonEvaluator.js"

export interface OverheadRow {
  readonly name: string
  readonly candidates: number
  /** Wall time per candidate, as the caller of `evaluate` sees it. */
  readonly meanMs: number
  readonly minMs: number
  readonly p50Ms: number
  readonly p95Ms: number
  /** evolve's own CPU (this process: user + system) per candidate. */
  readonly cpuMsPerCandidate: number
}

const openEvolveEvaluator = `import numpy as np

def evaluate(program_path):
    return {"score": float(np.sum(np.arange(10)))}
`

const coldEvaluator = `import json, sys
import numpy as np

print(json.dumps({"score": float(np.sum(np.arange(10)))}))
`

const shinkaEvaluator = `import argparse, json, os
import numpy as np

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--program_path")
    parser.add_argument("--results_dir")
    args = parser.parse_args()
    with open(os.path.join(args.results_dir, "metrics.json"), "w") as f:
        json.dump({"combined_score": float(np.sum(np.arange(10)))}, f)
`

const percentile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0

const measure = (name: string, layer: Layer.Layer<Evaluator, unknown>, candidates: number, warmup: number) =>
  Effect.gen(function*() {
    const evaluator = yield* Evaluator
    for (let i = 0; i < warmup; i++) {
      yield* evaluator.evaluate({ programId: `warm-${i}`, code: "x = 1\n", extension: ".py" })
    }
    const times: Array<number> = []
    const cpuStart = process.cpuUsage()
    for (let i = 0; i < candidates; i++) {
      const started = performance.now()
      const outcome = yield* evaluator.evaluate({ programId: `c-${i}`, code: `x = ${i}\n`, extension: ".py" })
      times.push(performance.now() - started)
      if (outcome._tag !== "Scored") return yield* Effect.dieMessage(`${name}: ${JSON.stringify(outcome)}`)
    }
    const cpu = process.cpuUsage(cpuStart)
    const sorted = [...times].sort((a, b) => a - b)
    const row: OverheadRow = {
      name,
      candidates,
      meanMs: times.reduce((a, b) => a + b, 0) / times.length,
      minMs: sorted[0] ?? 0,
      p50Ms: percentile(sorted, 0.5),
      p95Ms: percentile(sorted, 0.95),
      cpuMsPerCandidate: (cpu.user + cpu.system) / 1000 / candidates
    }
    return row
  }).pipe(Effect.provide(layer), Effect.scoped)

/**
 * Measures the command contract with a cold `python` per candidate against the warm pool
 * (openevolve and shinka contracts) and the pool without reuse (`warm: false`).
 * `python` defaults to the real interpreter behind `python3` (not a pyenv shim).
 */
export const measureEvalOverhead = async (options: {
  readonly candidates?: number
  readonly python?: string
} = {}): Promise<ReadonlyArray<OverheadRow>> => {
  const candidates = options.candidates ?? 40
  const python = options.python ??
    execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim()
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "evolve-overhead-"))
  try {
    NodeFs.writeFileSync(NodePath.join(dir, "evaluator.py"), openEvolveEvaluator)
    NodeFs.writeFileSync(NodePath.join(dir, "cold_evaluator.py"), coldEvaluator)
    NodeFs.writeFileSync(NodePath.join(dir, "evaluate.py"), shinkaEvaluator)
    const common = {
      timeoutMs: 30_000,
      killGraceMs: 500,
      outputCapBytes: 1 << 20,
      primaryMetric: "score",
      keepArtifacts: false
    }
    const pool = (contract: "openevolve" | "shinka", warm: boolean) =>
      PythonEvaluator.layer({
        ...common,
        contract,
        evaluatorPath: NodePath.join(dir, contract === "shinka" ? "evaluate.py" : "evaluator.py"),
        python,
        slots: 1,
        warm
      }).pipe(Layer.provide(NodeContext.layer))
    const cases: ReadonlyArray<[string, Layer.Layer<Evaluator, unknown>, number]> = [
      [
        "command: cold python per candidate",
        CommandEvaluator.layer({ ...common, command: [python, "cold_evaluator.py"], cwd: dir }).pipe(
          Layer.provide(NodeContext.layer)
        ),
        Math.min(candidates, 20)
      ],
      ["openevolve: warm pool", pool("openevolve", true), candidates],
      ["shinka: warm pool", pool("shinka", true), candidates],
      ["openevolve: pool without reuse (warm_pool: false)", pool("openevolve", false), Math.min(candidates, 20)]
    ]
    const rows: Array<OverheadRow> = []
    for (const [name, layer, n] of cases) {
      rows.push(await Effect.runPromise(measure(name, layer, n, 3)))
    }
    return rows
  } finally {
    NodeFs.rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await measureEvalOverhead({ candidates: Number(process.argv[2] ?? 40) })
  for (const row of rows) {
    console.log(
      `${row.name.padEnd(52)} min ${row.minMs.toFixed(2).padStart(8)} ms  mean ${row.meanMs.toFixed(2).padStart(8)} ms  p50 ${row.p50Ms.toFixed(2).padStart(8)} ms  ` +
        `p95 ${row.p95Ms.toFixed(2).padStart(8)} ms  evolve CPU ${row.cpuMsPerCandidate.toFixed(2)} ms/candidate`
    )
  }
}
