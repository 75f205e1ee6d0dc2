/**
 * Throw-away workspaces for a scenario: an initial program and an evaluator, and a fake LLM
 * responder whose every answer is a new, unique program (so no candidate is rejected as a
 * duplicate and every proposal becomes an evaluation). Evaluators can append each evaluation to
 * a log (evaluationLog.ts): the candidate's `benchVariant` and the evaluation's start and end.
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
  /** The evaluation log the evaluator appends to (evaluationLog.ts), when it keeps one. */
  readonly evaluationLog: string
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

/** A path inside single quotes for sh (and a valid Python string literal once JSON-quoted). */
const shQuote = (path: string) => `'${path.replace(/'/g, `'\\''`)}'`

/**
 * Run as `sh evaluator.sh <candidate>`: sleeps `evalMs`, then prints its metrics. With a log,
 * it reads the candidate's variant with shell built-ins and stamps start and end with
 * `date +%s%N` (two short processes, which the bare timing of the evaluator includes).
 */
const shellEvaluator = (evalMs: number, log?: string) =>
  [
    "#!/bin/sh",
    ...(log === undefined ? [] : ["start=$(date +%s%N)"]),
    ...(evalMs > 0 ? [`sleep ${(evalMs / 1000).toFixed(3)}`] : []),
    ...(log === undefined ? [] : [
      "variant=-1",
      "while IFS= read -r line; do",
      `  case $line in *"benchVariant = "*) variant=\${line##*= } ;; esac`,
      `done < "$1"`,
      `echo "$variant $start $(date +%s%N)" >> ${shQuote(log)}`
    ]),
    `echo '{"combined_score": 1}'`,
    ""
  ].join("\n")

/**
 * Python: the candidate's `benchVariant` (-1 if none), when this process started (the kernel's
 * start time in /proc/self/stat, in clock ticks since boot, moved to the epoch clock; +half a tick
 * for the truncation), and one log line.
 */
const pythonLogging = (log: string) => [
  "def bench_variant(path):",
  "    with open(path) as f:",
  "        for line in f:",
  "            if line.startswith(\"benchVariant = \"):",
  "                return int(line.split(\"=\")[1])",
  "    return -1",
  "",
  "",
  "def bench_process_start_ns():",
  "    with open(\"/proc/self/stat\") as f:",
  "        stat = f.read()",
  "    ticks = int(stat[stat.rfind(\")\") + 2:].split()[19])",
  "    hz = os.sysconf(\"SC_CLK_TCK\")",
  "    since_boot_ns = (2 * ticks + 1) * 10**9 // (2 * hz)",
  "    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME) + since_boot_ns",
  "",
  "",
  "def bench_log(path, start_ns, cpu_ns):",
  `    with open(${JSON.stringify(log)}, "a") as log:`,
  "        log.write(f\"{bench_variant(path)} {start_ns} {time.time_ns()} {cpu_ns} {bench_process_start_ns()}\\n\")",
  ""
]

/**
 * The evaluator of issues 15 and 22 for the `command` contract (`python3 evaluate.py <candidate>`):
 * sleeps `sleepMs` and prints one JSON line. The CPU time the process used before the script's
 * first line runs tells a cold start (the interpreter's start-up, tens of ms) from a warm one (a
 * fork of a loaded interpreter, a millisecond or two).
 */
const commandPythonEvaluator = (sleepMs: number, log: string) =>
  [
    "import time",
    "",
    "START_NS, CPU_NS = time.time_ns(), time.process_time_ns()",
    "import json",
    "import os",
    "import sys",
    "",
    "",
    ...pythonLogging(log),
    "",
    `time.sleep(${sleepMs / 1000})`,
    "bench_log(sys.argv[1], START_NS, CPU_NS)",
    "print(json.dumps({\"combined_score\": 1.0}))",
    ""
  ].join("\n")

/** The same evaluator for the `openevolve` contract: `evaluate(program_path)`. */
const openEvolvePythonEvaluator = (sleepMs: number, log: string) =>
  [
    "import os",
    "import time",
    "",
    "",
    ...pythonLogging(log),
    "",
    "def evaluate(program_path):",
    "    start_ns, cpu_ns = time.time_ns(), time.process_time_ns()",
    `    time.sleep(${sleepMs / 1000})`,
    "    bench_log(program_path, start_ns, cpu_ns)",
    "    return {\"combined_score\": 1.0}",
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

const workspace = (
  name: string,
  files: (log: string) => Record<"program" | "evaluator", [string, string]>,
  config?: string
): Workspace => {
  const dir = mkdtempSync(join(tmpdir(), `evolve-bench-${name}-`))
  const path = (file: string) => join(dir, file)
  const log = path("evaluations.log")
  const { evaluator, program } = files(log)
  writeFileSync(path(program[0]), program[1])
  writeFileSync(path(evaluator[0]), evaluator[1])
  writeFileSync(log, "")
  if (config !== undefined) writeFileSync(path("evolve.yaml"), config)
  return {
    dir,
    program: path(program[0]),
    evaluator: path(evaluator[0]),
    db: path("run.db"),
    config: config === undefined ? undefined : path("evolve.yaml"),
    evaluationLog: log,
    remove: () => rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * A JavaScript program and a `command`-contract shell evaluator that takes `evalMs`; with
 * `logEvaluations`, it appends each evaluation to `evaluationLog`.
 */
export const makeWorkspace = (name: string, evalMs: number, options: { readonly logEvaluations?: boolean } = {}): Workspace =>
  workspace(name, (log) => ({
    program: ["program.js", javascriptProgram],
    evaluator: ["evaluator.sh", shellEvaluator(evalMs, options.logEvaluations === true ? log : undefined)]
  }))

/** How the workload of issues 15 and 22 runs its Python evaluator. */
export type PythonWorkloadContract = "command-cold" | "command-warm" | "openevolve"

/**
 * The workload of issues 15 and 22: a Python program and an evaluator sleeping `sleepMs`, that
 * logs every evaluation. `command-cold` and `command-warm` run `python3 evaluate.py <candidate>`
 * with `evaluator.warm_pool` false and true; `openevolve` calls `evaluate(program_path)` on the
 * warm pool.
 */
export const makePythonWorkloadWorkspace = (name: string, contract: PythonWorkloadContract, sleepMs: number): Workspace =>
  workspace(
    name,
    (log) => ({
      program: ["program.py", pythonProgram],
      evaluator: contract === "openevolve"
        ? ["evaluator.py", openEvolvePythonEvaluator(sleepMs, log)]
        : ["evaluate.py", commandPythonEvaluator(sleepMs, log)]
    }),
    [
      "language: python",
      "evaluator:",
      `  contract: ${contract === "openevolve" ? "openevolve" : "command"}`,
      `  warm_pool: ${contract !== "command-cold"}`,
      ""
    ].join("\n")
  )

/** A Python program and an `openevolve`-contract evaluator (importing numpy) on the warm pool. */
export const makePythonWorkspace = (name: string): Workspace =>
  workspace(
    name,
    () => ({ program: ["program.py", pythonProgram], evaluator: ["evaluator.py", pythonEvaluator] }),
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
