import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import type { EvaluationOutcome } from "../../src/domain/Program.js"
import type { PythonEvaluatorOptions } from "../../src/evaluate/Evaluator.js"
import type * as PidNamespace from "../../src/evaluate/PidNamespace.js"
import { expectFailed, expectScored, withPythonEvaluator } from "../support/evaluatorFixtures.js"
import { fixtureDir, processesWith } from "../support/processFixtures.js"

const hasBwrap = (process.env.PATH ?? "").split(":").some((dir) => NodeFs.existsSync(NodePath.join(dir, "bwrap")))

/** Builds the evaluator for `files` (5 s time limit unless `options` says otherwise) and runs `use` with it. */
const withEvaluator = <A>(
  files: Record<string, string>,
  options: Partial<PythonEvaluatorOptions>,
  use: (evaluate: (code: string) => Effect.Effect<EvaluationOutcome>) => Effect.Effect<A>
) => withPythonEvaluator(files, { timeoutMs: 5_000, ...options }, use)

const isolationModes: ReadonlyArray<{ readonly name: string; readonly isolation: PidNamespace.Isolation }> = [
  { name: "workers in a pid namespace", isolation: { pidNamespace: true } },
  { name: "fallback (process tree, environment marker)", isolation: { pidNamespace: false } }
]

/** A candidate scoring the number of its worker (from the marker every worker gets in its environment). */
const workerNumber = `import os\ndef run():\n    return {"score": int(os.environ["EVOLVE_POOL_WORKER"].rsplit("-", 1)[1])}\n`

/** A unique argument for a `sleep` left behind, to find it from here whatever pid namespace it is in. */
let sleepers = 0
const sleeperTag = () => `${300 + ++sleepers}.${process.pid}`

const eventuallyGone = (tag: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100 && processesWith(tag).length > 0; i++) yield* Effect.sleep("20 millis")
    return processesWith(tag)
  })

/** An OpenEvolve evaluator that runs the candidate's `run()` and returns its dict. */
const runningEvaluator = `
import importlib.util

def evaluate(program_path):
    spec = importlib.util.spec_from_file_location("candidate", program_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run()
`

describe("PythonEvaluator", () => {
  describe("openevolve contract", () => {
    it.scopedLive("scores a dict of metrics and keeps EvaluationResult artifacts", () =>
      withEvaluator({
        "evaluator.py": `
import os
from openevolve.evaluation_result import EvaluationResult

def evaluate(program_path):
    ns = {}
    exec(open(program_path).read(), ns)
    if ns.get("WITH_ARTIFACTS"):
        return EvaluationResult(metrics={"combined_score": ns["X"], "cwd_is_evaluator_dir": os.getcwd() == os.path.dirname(os.path.abspath(__file__))},
                                artifacts={"hint": "radius 3 overlaps", "raw": b"bytes here"})
    return {"combined_score": ns["X"] * 2, "n": 3}
`
      }, {}, (evaluate) =>
        Effect.gen(function*() {
          const plain = expectScored(yield* evaluate("X = 1.5\n"))
          expect(plain.score).toBe(3)
          expect(plain.metrics).toEqual({ combined_score: 3, n: 3 })
          const rich = expectScored(yield* evaluate("X = 0.25\nWITH_ARTIFACTS = True\n"))
          expect(rich.score).toBe(0.25)
          expect(rich.metrics.cwd_is_evaluator_dir).toBe(1)
          expect(rich.feedback).toContain("[artifact hint]\nradius 3 overlaps")
          expect(rich.feedback).toContain("[artifact raw]\nbytes here")
        })))

    it.scopedLive("rejects NaN, non-numeric fitness and exceptions with a reason", () =>
      withEvaluator({ "evaluator.py": runningEvaluator }, {}, (evaluate) =>
        Effect.gen(function*() {
          const nan = expectFailed(yield* evaluate(`def run():\n    return {"combined_score": float("nan")}\n`), "bad_metrics")
          expect(nan.failure.message).toMatch(/NaN or Infinity/)
          const inf = expectFailed(yield* evaluate(`def run():\n    return {"combined_score": 1.0, "x": float("inf")}\n`), "bad_metrics")
          expect(inf.failure.message).toMatch(/NaN or Infinity/)
          const text = expectFailed(yield* evaluate(`def run():\n    return {"combined_score": "high"}\n`), "bad_metrics")
          expect(text.failure.message).toMatch(/must be a number, got string/)
          const raised = expectFailed(yield* evaluate(`def run():\n    return 1 / 0\n`), "evaluator_error")
          expect(raised.failure.message).toMatch(/evaluate\(\) raised ZeroDivisionError: division by zero/)
          expect(raised.feedback).toContain("ZeroDivisionError")
          const wrong = expectFailed(yield* evaluate(`def run():\n    return [1, 2]\n`), "evaluator_error")
          expect(wrong.failure.message).toMatch(/must return a dict of metrics/)
          const numpy = expectScored(yield* evaluate(`import numpy as np\ndef run():\n    return {"combined_score": np.float64(0.5), "k": np.int64(7)}\n`))
          expect(numpy.metrics).toEqual({ combined_score: 0.5, k: 7 })
        })))

    it.scopedLive("runs the cascade and stops after a stage below its threshold", () =>
      withEvaluator({
        "evaluator.py": `
import os

def _x(path):
    ns = {}
    exec(open(path).read(), ns)
    return ns["X"]

def evaluate_stage1(program_path):
    open(os.environ["EVOLVE_RESULTS_DIR"] + "/../stage1", "w").close()
    return {"combined_score": _x(program_path), "stage1": 1.0}

def evaluate_stage2(program_path):
    return {"combined_score": _x(program_path) + 1, "stage2": 1.0}

def evaluate_stage3(program_path):
    if _x(program_path) > 0.95:
        raise RuntimeError("stage three exploded")
    return {"combined_score": _x(program_path) + 2, "stage3": 1.0}

def evaluate(program_path):
    return {"combined_score": -1.0}
`
      }, { cascadeThresholds: [0.5, 1.8] }, (evaluate) =>
        Effect.gen(function*() {
          const low = expectScored(yield* evaluate("X = 0.2\n"))
          expect(low.metrics).toEqual({ combined_score: 0.2, stage1: 1 })
          expect(low.feedback).toMatch(/cascade stopped after stage 1: score 0.2 is below the threshold 0.5 for stage 2/)
          const mid = expectScored(yield* evaluate("X = 0.6\n"))
          expect(mid.metrics).toEqual({ combined_score: 1.6, stage1: 1, stage2: 1 })
          expect(mid.feedback).toMatch(/stopped after stage 2/)
          const high = expectScored(yield* evaluate("X = 0.9\n"))
          expect(high.metrics).toEqual({ combined_score: 2.9, stage1: 1, stage2: 1, stage3: 1 })
          const broken = expectScored(yield* evaluate("X = 0.99\n"))
          expect(broken.metrics).toEqual({ combined_score: 1.99, stage1: 1, stage2: 1 })
          expect(broken.feedback).toMatch(/evaluate_stage3\(\) raised/)
        })))

    it.scopedLive("without cascade, calls evaluate()", () =>
      withEvaluator({
        "evaluator.py": `
def evaluate_stage1(program_path):
    return {"combined_score": 1.0}

def evaluate(program_path):
    return {"combined_score": 5.0}
`
      }, { cascade: false }, (evaluate) =>
        Effect.gen(function*() {
          expect(expectScored(yield* evaluate("pass\n")).score).toBe(5)
        })))

    it.scopedLive("reports an evaluator that cannot be imported", () =>
      withEvaluator({ "evaluator.py": "import no_such_module_here\n" }, {}, (evaluate) =>
        Effect.gen(function*() {
          const outcome = expectFailed(yield* evaluate("pass\n"), "evaluator_error")
          expect(outcome.failure.message).toMatch(/could not be imported[\s\S]*No module named 'no_such_module_here'/)
        })))
  })

  describe("warm pool", () => {
    it.scopedLive("survives a segfault, an infinite loop and output floods; later candidates still score", () =>
      withEvaluator({ "evaluator.py": runningEvaluator }, { timeoutMs: 1_500, outputCapBytes: 10_000 }, (evaluate) =>
        Effect.gen(function*() {
          const segv = expectFailed(
            yield* evaluate(`import os, signal\ndef run():\n    os.kill(os.getpid(), signal.SIGSEGV)\n`),
            "evaluator_error"
          )
          expect(segv.failure.message).toMatch(/killed by SIGSEGV/)
          expect(expectScored(yield* evaluate(`def run():\n    return {"score": 1}\n`)).score).toBe(1)
          const loop = expectFailed(yield* evaluate(`def run():\n    while True:\n        pass\n`), "timeout")
          expect(loop.durationMs).toBeLessThan(1_500 + 300 + 2_500)
          expect(expectScored(yield* evaluate(`def run():\n    return {"score": 2}\n`)).score).toBe(2)
          const flood = expectFailed(yield* evaluate(`def run():\n    while True:\n        print("x" * 1000)\n`), "output_limit")
          expect(flood.failure.message).toMatch(/more than 10000 bytes to stdout/)
          const exited = expectFailed(yield* evaluate(`import os\ndef run():\n    os._exit(3)\n`), "evaluator_error")
          expect(exited.failure.message).toMatch(/exit code 3 without a result/)
          expect(expectScored(yield* evaluate(`def run():\n    return {"score": 3}\n`)).score).toBe(3)
        })))

    it.scopedLive("the time limit holds after the pool sat idle and right after a quick candidate", () =>
      withEvaluator({ "evaluator.py": runningEvaluator }, { timeoutMs: 2_000 }, (evaluate) =>
        Effect.gen(function*() {
          const loop = `def run():\n    while True:\n        pass\n`
          expect(expectScored(yield* evaluate(`def run():\n    return {"score": 1}\n`)).score).toBe(1)
          // Idle for longer than the time limit: the watchdog's timer was armed for an idle period.
          yield* Effect.sleep("2500 millis")
          const idle = expectFailed(yield* evaluate(loop), "timeout")
          expect(idle.durationMs).toBeGreaterThanOrEqual(2_000)
          expect(idle.durationMs).toBeLessThan(2_000 + 300 + 2_500)
          expect(expectScored(yield* evaluate(`def run():\n    return {"score": 2}\n`)).score).toBe(2)
          const again = expectFailed(yield* evaluate(loop), "timeout")
          expect(again.durationMs).toBeGreaterThanOrEqual(2_000)
          expect(again.durationMs).toBeLessThan(2_000 + 300 + 2_500)
          // A candidate well under the limit is not cut short by a deadline left from the one before
          // (1 s of slack: a loaded machine can take that long to start one).
          const slow = expectScored(yield* evaluate(`import time\ndef run():\n    time.sleep(1.0)\n    return {"score": 3}\n`))
          expect(slow.score).toBe(3)
        })), 40_000)

    // In a worker's pid namespace (the default) the pids a candidate sees are not this process's:
    // workers are told apart by the number in their environment marker, leftovers by their argv.
    for (const mode of isolationModes) {
      describe(mode.name, () => {
        const inMode = <A>(
          options: Partial<PythonEvaluatorOptions>,
          use: (evaluate: (code: string) => Effect.Effect<EvaluationOutcome>) => Effect.Effect<A>
        ) => withPythonEvaluator({ "evaluator.py": runningEvaluator }, { timeoutMs: 5_000, ...options }, use, "evolve-pytest-", mode.isolation)

        it.scopedLive("a killed pool process costs one candidate and is replaced", () =>
          inMode({}, (evaluate) =>
            Effect.gen(function*() {
              const before = expectScored(yield* evaluate(workerNumber)).score
              const killed = expectFailed(
                yield* evaluate(`import os, signal, time\ndef run():\n    os.kill(os.getppid(), signal.SIGKILL)\n    time.sleep(5)\n`),
                "evaluator_error"
              )
              expect(killed.failure.message).toMatch(/Python worker died during the evaluation/)
              const first = expectScored(yield* evaluate(workerNumber)).score
              const second = expectScored(yield* evaluate(workerNumber)).score
              expect(first).not.toBe(before)
              expect(second).toBe(first)
            })))

        it.scopedLive("kills a grandchild left behind by a child that exits", () =>
          inMode({}, (evaluate) =>
            Effect.gen(function*() {
              const tag = sleeperTag()
              expectScored(yield* evaluate(`
import os
def run():
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "${tag}"])
    return {"score": 1}
`))
              expect(yield* eventuallyGone(tag)).toEqual([])
            })))

        it.scopedLive("kills a grandchild that called setsid() when the candidate times out, and keeps the worker", () =>
          inMode({ timeoutMs: 1_000 }, (evaluate) =>
            Effect.gen(function*() {
              const tag = sleeperTag()
              const worker = expectScored(yield* evaluate(workerNumber)).score
              expectFailed(yield* evaluate(`
import os, signal, time
def run():
    if os.fork() == 0:
        os.setsid()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        os.execvp("sleep", ["sleep", "${tag}"])
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)
`), "timeout")
              expect(yield* eventuallyGone(tag)).toEqual([])
              // Only the candidate's processes were killed: the same worker scores the next one.
              expect(expectScored(yield* evaluate(workerNumber)).score).toBe(worker)
            })))

        it.scopedLive("whether a candidate can see this process", () =>
          inMode({}, (evaluate) =>
            Effect.gen(function*() {
              const seen = expectScored(yield* evaluate(`
import os
def run():
    seen = 0
    for name in os.listdir("/proc"):
        if name.isdigit() and name != str(os.getpid()):
            try:
                seen += b"vitest" in open("/proc/%s/cmdline" % name, "rb").read()
            except OSError:
                pass
    return {"score": seen}
`)).score
              if (mode.isolation.pidNamespace) expect(seen).toBe(0)
              else expect(seen).toBeGreaterThan(0)
            })))
      })
    }

    it.scopedLive("a 1 GiB allocation under a 512 MB memory limit fails that candidate only", () =>
      withEvaluator({ "evaluator.py": runningEvaluator }, { memoryMb: 512 }, (evaluate) =>
        Effect.gen(function*() {
          const outcome = expectFailed(
            yield* evaluate(`def run():\n    block = bytearray(1 << 30)\n    return {"score": len(block)}\n`),
            "evaluator_error"
          )
          expect(outcome.failure.message).toMatch(/out of memory \(memory limit of 512 MB\)/)
          const numpy = expectFailed(
            yield* evaluate(`import numpy as np\ndef run():\n    a = np.ones(1 << 27)\n    return {"score": float(a.sum())}\n`),
            "evaluator_error"
          )
          expect(numpy.failure.message).toMatch(/memory/)
          expect(expectScored(yield* evaluate(`def run():\n    return {"score": 5}\n`)).score).toBe(5)
        })))

    it.scopedLive("a CPU-time limit stops a busy candidate", () =>
      withEvaluator({ "evaluator.py": runningEvaluator }, { cpuSeconds: 1, timeoutMs: 10_000 }, (evaluate) =>
        Effect.gen(function*() {
          const outcome = expectFailed(yield* evaluate(`def run():\n    while True:\n        pass\n`), "evaluator_error")
          expect(outcome.failure.message).toMatch(/SIGXCPU.*CPU time limit of 1 s exceeded/)
        })))

    it.scopedLive("keeps secrets out of the evaluator's environment", () =>
      Effect.gen(function*() {
        const saved = { a: process.env.OPENAI_API_KEY, b: process.env.EVOLVE_TOKEN }
        process.env.OPENAI_API_KEY = "sk-secret-value"
        process.env.EVOLVE_TOKEN = "token-secret-value"
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            if (saved.a === undefined) delete process.env.OPENAI_API_KEY
            else process.env.OPENAI_API_KEY = saved.a
            if (saved.b === undefined) delete process.env.EVOLVE_TOKEN
            else process.env.EVOLVE_TOKEN = saved.b
          })
        )
        yield* withEvaluator({
          "evaluator.py": `
import os
SEEN_AT_IMPORT = dict(os.environ)

def evaluate(program_path):
    env = dict(os.environ)
    leaked = [k for k, v in list(env.items()) + list(SEEN_AT_IMPORT.items()) if "secret-value" in v]
    return {"score": len(leaked), "text_feedback": " ".join(sorted(env))}
`
        }, {}, (evaluate) =>
          Effect.gen(function*() {
            const outcome = expectScored(yield* evaluate("pass\n"))
            expect(outcome.score).toBe(0)
            expect(outcome.feedback).not.toMatch(/OPENAI_API_KEY|EVOLVE_TOKEN/)
            expect(outcome.feedback).toMatch(/EVOLVE_PROGRAM/)
          }))
      }))

    it.scopedLive("imports the evaluator once per worker, and again per candidate when cold", () =>
      Effect.gen(function*() {
        const counterDir = yield* fixtureDir({}, "evolve-pytest-")
        const counter = NodePath.join(counterDir, "imports")
        const files = {
          "evaluator.py": `
with open(${JSON.stringify(counter)}, "a") as f:
    f.write("x")

def evaluate(program_path):
    return {"score": 1}
`
        }
        yield* withEvaluator(files, { slots: 2 }, (evaluate) =>
          Effect.forEach([1, 2, 3, 4, 5, 6], () => evaluate("pass\n"), { concurrency: 2 }))
        // One import per worker (a worker still starting when the last candidate finished may not count).
        const warmImports = NodeFs.readFileSync(counter, "utf8").length
        expect(warmImports).toBeGreaterThanOrEqual(1)
        expect(warmImports).toBeLessThanOrEqual(2)
        NodeFs.writeFileSync(counter, "")
        yield* withEvaluator(files, { slots: 2, warm: false }, (evaluate) =>
          Effect.forEach([1, 2, 3], () => evaluate("pass\n"), { concurrency: 2 }))
        expect(NodeFs.readFileSync(counter, "utf8").length).toBe(3)
      }))
  })

  describe("temp dirs", () => {
    it.scopedLive("each candidate runs in its own dir, removed afterwards unless keepArtifacts", () =>
      Effect.gen(function*() {
        const root = yield* fixtureDir({}, "evolve-pytest-")
        const evaluator = `
import os

def evaluate(program_path):
    open(os.path.join(os.environ["EVOLVE_RESULTS_DIR"], "note.txt"), "w").write("hi")
    return {"score": 1, "own_dir": os.path.dirname(program_path) != os.path.dirname(os.path.abspath(__file__))}
`
        yield* withEvaluator({ "evaluator.py": evaluator }, { tempRoot: root }, (evaluate) =>
          Effect.gen(function*() {
            expect(expectScored(yield* evaluate("pass\n")).metrics.own_dir).toBe(1)
            expectScored(yield* evaluate("pass\n"))
            expectScored(yield* evaluate("pass\n"))
            // The worker removes a candidate's dir right after answering, before its next job.
            const [pool] = NodeFs.readdirSync(root)
            expect(NodeFs.readdirSync(NodePath.join(root, pool!)).length).toBeLessThanOrEqual(1)
          }))
        expect(NodeFs.readdirSync(root)).toEqual([])
        yield* withEvaluator({ "evaluator.py": evaluator }, { tempRoot: root, keepArtifacts: true }, (evaluate) =>
          Effect.asVoid(evaluate("pass\n")))
        const [pool] = NodeFs.readdirSync(root)
        const [candidate, ...others] = NodeFs.readdirSync(NodePath.join(root, pool!))
        expect(others).toEqual([])
        expect(NodeFs.readdirSync(NodePath.join(root, pool!, candidate!)).sort()).toEqual(["program.py", "results"])
        expect(NodeFs.readdirSync(NodePath.join(root, pool!, candidate!, "results"))).toEqual(["note.txt"])
      }))
  })

  describe("shinka contract", () => {
    const shinka = `
import argparse, json, os

def main(program_path, results_dir):
    ns = {}
    exec(open(program_path).read(), ns)
    x = ns["X"]
    os.makedirs(results_dir, exist_ok=True)
    correct = x >= 0
    metrics = {"combined_score": x, "public": {"half": x / 2, "label": "p"}, "private": {"secret": 42},
               "text_feedback": "x was %s" % x}
    if ns.get("NAN"):
        metrics["combined_score"] = float("nan")
    json.dump(metrics, open(os.path.join(results_dir, "metrics.json"), "w"))
    json.dump({"correct": correct, "error": None if correct else "x must be non-negative"},
              open(os.path.join(results_dir, "correct.json"), "w"))
    print("Evaluation done")

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--program_path", required=True)
    parser.add_argument("--results_dir", required=True)
    args = parser.parse_args()
    if os.environ.get("EVOLVE_PROGRAM") != args.program_path:
        raise SystemExit(9)
    main(args.program_path, args.results_dir)
`
    it.scopedLive("reads metrics.json and correct.json", () =>
      withEvaluator({ "evaluate.py": shinka }, { contract: "shinka" }, (evaluate) =>
        Effect.gen(function*() {
          const ok = expectScored(yield* evaluate("X = 3\n"))
          expect(ok.score).toBe(3)
          expect(ok.metrics).toEqual({ combined_score: 3, half: 1.5 })
          expect(ok.feedback).toContain("x was 3")
          const wrong = expectFailed(yield* evaluate("X = -1\n"), "evaluator_error")
          expect(wrong.failure.message).toMatch(/x must be non-negative/)
          expect(wrong.feedback).toContain("x was -1")
          expectFailed(yield* evaluate("X = 1\nNAN = True\n"), "bad_metrics")
          const broken = expectFailed(yield* evaluate("X = undefined_name\n"), "evaluator_error")
          expect(broken.failure.message).toMatch(/NameError/)
        })))

    it.scopedLive("a non-zero exit and a missing metrics.json fail the candidate", () =>
      withEvaluator({
        "evaluate.py": `
import argparse, sys
parser = argparse.ArgumentParser()
parser.add_argument("--program_path")
parser.add_argument("--results_dir")
if __name__ == "__main__":
    args = parser.parse_args()
    source = open(args.program_path).read()
    if "EXIT" in source:
        sys.stderr.write("bad candidate\\n")
        sys.exit(4)
`
      }, { contract: "shinka" }, (evaluate) =>
        Effect.gen(function*() {
          const exit = expectFailed(yield* evaluate("EXIT\n"), "evaluator_error")
          expect(exit.failure.message).toMatch(/evaluate.py exited with code 4:\nbad candidate/)
          const none = expectFailed(yield* evaluate("pass\n"), "bad_metrics")
          expect(none.failure.message).toMatch(/wrote no metrics.json/)
        })))
  })

  describe.skipIf(!hasBwrap)("bubblewrap", () => {
    it.scopedLive("runs without network and with a read-only filesystem, writable temp dir", () =>
      Effect.gen(function*() {
        const outside = yield* fixtureDir({}, "evolve-pytest-")
        yield* withEvaluator({
          "evaluator.py": `
import os, socket

def evaluate(program_path):
    results = {}
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=1)
        results["network"] = 1
    except OSError:
        results["network"] = 0
    try:
        open(${JSON.stringify(NodePath.join(outside, "escape"))}, "w").write("x")
        results["wrote_outside"] = 1
    except OSError:
        results["wrote_outside"] = 0
    open(os.path.join(os.environ["EVOLVE_RESULTS_DIR"], "ok"), "w").write("x")
    results["score"] = 1
    return results
`
        }, { sandbox: "bwrap" }, (evaluate) =>
          Effect.gen(function*() {
            const outcome = expectScored(yield* evaluate("pass\n"))
            expect(outcome.metrics).toEqual({ network: 0, wrote_outside: 0, score: 1 })
          }))
      }))
  })
})
