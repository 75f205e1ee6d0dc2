/**
 * Throw-away workspaces for a scenario: an initial program and an evaluator, and a fake LLM
 * responder whose every answer is a new, unique program (so no candidate is rejected as a
 * duplicate and every proposal becomes an evaluation).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type ChatRequestInfo, lastCodeBlock } from "../../test/support/FakeOpenAiServer.js"

export interface Workspace {
  readonly dir: string
  readonly program: string
  readonly evaluator: string
  readonly db: string
  /** evolve.yaml, when the run needs settings beyond the command-line flags. */
  readonly config?: string | undefined
  readonly remove: () => void
}

/** The line the responder rewrites: `benchVariant = N` (JavaScript or Python). */
const VARIANT = /^((?:export const )?benchVariant = )\d+$/m

const searchBody = [
  "  let best = [0, 0]",
  "  let bestValue = f(0, 0)",
  "  for (let i = 1; i < budget; i++) {",
  "    const x = bounds[0][0] + rng() * (bounds[0][1] - bounds[0][0])",
  "    const y = bounds[1][0] + rng() * (bounds[1][1] - bounds[1][0])",
  "    const value = f(x, y)",
  "    if (value < bestValue) {",
  "      best = [x, y]",
  "      bestValue = value",
  "    }",
  "  }",
  "  return best"
]

const javascriptProgram = [
  "// Initial program for the evolve benchmark.",
  "export const benchVariant = 0",
  "",
  "export function search(f, bounds, budget, rng) {",
  ...searchBody,
  "}",
  ""
].join("\n")

const pythonProgram = [
  "# Initial program for the evolve benchmark.",
  "benchVariant = 0",
  "",
  "def search(f, bounds, budget, rng):",
  "    best, best_value = (0.0, 0.0), f(0.0, 0.0)",
  "    for _ in range(1, budget):",
  "        x = bounds[0][0] + rng() * (bounds[0][1] - bounds[0][0])",
  "        y = bounds[1][0] + rng() * (bounds[1][1] - bounds[1][0])",
  "        value = f(x, y)",
  "        if value < best_value:",
  "            best, best_value = (x, y), value",
  "    return best",
  ""
].join("\n")

/** Run as `sh evaluator.sh <candidate>`: sleeps `evalMs`, then prints its metrics. */
const shellEvaluator = (evalMs: number) =>
  [
    "#!/bin/sh",
    ...(evalMs > 0 ? [`sleep ${(evalMs / 1000).toFixed(3)}`] : []),
    `echo '{"combined_score": 1}'`,
    ""
  ].join("\n")

/** An OpenEvolve-style evaluator importing numpy: its own work is negligible. */
const pythonEvaluator = [
  "import numpy as np",
  "",
  "def evaluate(program_path):",
  "    with open(program_path) as f:",
  "        size = len(f.read())",
  "    return {\"combined_score\": float(np.float64(1.0)), \"bytes\": size}",
  ""
].join("\n")

const workspace = (name: string, files: Record<"program" | "evaluator", [string, string]>, config?: string): Workspace => {
  const dir = mkdtempSync(join(tmpdir(), `evolve-bench-${name}-`))
  const path = (file: string) => join(dir, file)
  writeFileSync(path(files.program[0]), files.program[1])
  writeFileSync(path(files.evaluator[0]), files.evaluator[1])
  if (config !== undefined) writeFileSync(path("evolve.yaml"), config)
  return {
    dir,
    program: path(files.program[0]),
    evaluator: path(files.evaluator[0]),
    db: path("run.db"),
    config: config === undefined ? undefined : path("evolve.yaml"),
    remove: () => rmSync(dir, { recursive: true, force: true })
  }
}

/** A JavaScript program and a `command`-contract shell evaluator that takes `evalMs`. */
export const makeWorkspace = (name: string, evalMs: number): Workspace =>
  workspace(name, { program: ["program.js", javascriptProgram], evaluator: ["evaluator.sh", shellEvaluator(evalMs)] })

/** A Python program and an `openevolve`-contract evaluator (importing numpy) on the warm pool. */
export const makePythonWorkspace = (name: string): Workspace =>
  workspace(
    name,
    { program: ["program.py", pythonProgram], evaluator: ["evaluator.py", pythonEvaluator] },
    "language: python\nevaluator:\n  contract: openevolve\n  warm_pool: true\n"
  )

/** A SEARCH/REPLACE answer that sets `benchVariant` to the request's index + 1: always a new program. */
export const uniqueVariantResponder = (request: ChatRequestInfo): string => {
  const match = VARIANT.exec(lastCodeBlock(request.user)?.code ?? "")
  if (match === null) return "The prompt holds no benchmark program."
  return [
    "Try another variant.",
    "",
    "<<<<<<< SEARCH",
    match[0],
    "=======",
    `${match[1]}${request.index + 1}`,
    ">>>>>>> REPLACE",
    ""
  ].join("\n")
}
