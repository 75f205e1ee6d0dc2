/**
 * A Python `command` evaluator started warm (a fork of the pool's loaded interpreter) must be
 * indistinguishable from its cold start except by timing: each evaluator here runs both ways, and
 * every outcome (tag, failure kind and message, metrics, score, feedback: stdout, stderr, exit)
 * and what the script sees (argv, environment, cwd, stdin, __main__, sys.path[0], stdio buffering,
 * a relative file read) must be the same.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import * as NodePath from "node:path"
import type { EvaluationOutcome } from "../../src/domain/Program.js"
import { EvaluatorConfig } from "../../src/domain/RunConfig.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import * as EvaluatorLive from "../../src/evaluate/EvaluatorLive.js"
import * as WarmCommand from "../../src/evaluate/WarmCommand.js"
import { fixtureDir } from "../support/processFixtures.js"

/** Reports, on stderr, what a script can see of its process, with the candidate's dir as <DIR>. */
const observe = `
import json, os, sys
_dir = os.path.dirname(sys.argv[-1])
def _n(value):
    return value.replace(_dir, "<DIR>") if isinstance(value, str) else value
def observe():
    seen = {
        "argv": [_n(a) for a in sys.argv],
        "env": sorted((k, len(v) if k.endswith("PATH") else _n(v)) for k, v in os.environ.items()),
        "cwd": os.getcwd(),
        "stdin": sys.stdin.read(),
        "name": __name__,
        "file": __file__,
        "path0": sys.path[0],
        "stdout_line_buffered": sys.stdout.line_buffering,
        "stderr_line_buffered": sys.stderr.line_buffering,
        "stdout_encoding": sys.stdout.encoding,
        "dont_write_bytecode": sys.dont_write_bytecode,
        "data": open("data.txt").read(),
        "program": open(sys.argv[-1]).read(),
        "results": sorted(os.listdir(os.environ["EVOLVE_RESULTS_DIR"])),
    }
    for key, value in sorted(seen.items()):
        sys.stderr.write("%s: %s\\n" % (key, json.dumps(value)))
`

const evaluators: Record<string, string> = {
  ordinary: `${observe}
import decimal, fractions
observe()
print("progress: some text")
print(json.dumps({"score": float(fractions.Fraction(3, 2)), "digits": len(str(decimal.Decimal(1) / 7))}))
`,
  metricsFile: `${observe}
observe()
with open(os.path.join(os.environ["EVOLVE_RESULTS_DIR"], "metrics.json"), "w") as f:
    json.dump({"score": 2.0, "text_feedback": "from metrics.json"}, f)
`,
  exitCode: `
import sys
print("partial output")
sys.stderr.write("giving up\\n")
sys.exit(3)
`,
  exitMessage: `
import sys
sys.exit("a message instead of a code")
`,
  raises: `
def helper():
    raise ValueError("the candidate is wrong")
helper()
`,
  syntaxError: `
def broken(:
    pass
`,
  garbage: `
print("not json at all {{{")
`,
  hugeOutput: `
import sys
sys.stdout.write("x" * 200000)
`,
  signal: `
import os, signal
print('{"score": 1}')
os.kill(os.getpid(), signal.SIGTERM)
`,
  keyboardInterrupt: `
raise KeyboardInterrupt
`,
  infiniteLoop: `
while True:
    pass
`,
  lostBuffer: `
import os
print('{"score": 1}')
os._exit(0)
`,
  atExitAndThreads: `
import atexit, threading, time
atexit.register(lambda: print('{"score": 4}'))
def late():
    time.sleep(0.05)
    print("from a thread")
threading.Thread(target=late).start()
`
}

/**
 * The interpreter itself, not a launcher in front of it (a pyenv shim is a shell script, which
 * prints "Terminated" to stderr when the interpreter it started is killed by a signal).
 */
const python = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim()

const hasBwrap = (process.env.PATH ?? "").split(":").some((dir) => existsSync(`${dir}/bwrap`))

const runBoth = (source: string, candidates: ReadonlyArray<string>, sandbox: "none" | "bwrap" = "none") =>
  Effect.gen(function*() {
    const dir = yield* fixtureDir({ "evaluate.py": source, "data.txt": "relative file\n" }, "evolve-warmcmd-")
    const script = NodePath.join(dir, "evaluate.py")
    const run = (warm: boolean) =>
      Effect.gen(function*() {
        const evaluator = yield* Evaluator
        const outcomes: Array<EvaluationOutcome> = []
        let n = 0
        for (const code of candidates) {
          outcomes.push(yield* evaluator.evaluate({ programId: `p-${++n}`, code, extension: ".py" }))
        }
        return outcomes.map(({ durationMs: _, ...rest }) => rest)
      }).pipe(
        Effect.provide(
          EvaluatorLive.fromConfig(
            EvaluatorConfig.make({
              command: [python, script],
              warm_pool: warm,
              timeout_seconds: 1.5,
              kill_grace_seconds: 0.2,
              output_cap_bytes: 64 * 1024,
              sandbox
            }),
            { evaluatorPath: script, slots: 1 }
          ).pipe(Layer.provide(NodeContext.layer))
        ),
        Effect.scoped
      )
    const plan = yield* WarmCommand.plan([python, script], dir, true).pipe(Effect.provide(NodeContext.layer))
    return { plan, cold: yield* run(false), warm: yield* run(true) }
  }).pipe(Effect.scoped)

describe("a Python command evaluator started warm", () => {
  for (const [name, source] of Object.entries(evaluators)) {
    it.live(`${name}: the same outcomes cold and warm, candidate after candidate`, () =>
      Effect.gen(function*() {
        const { cold, plan, warm } = yield* runBoth(source, ["x = 1\n", "x = 2\n", "x = 3\n"])
        expect(plan._tag).toBe("Warm")
        expect(warm).toEqual(cold)
        if (name === "ordinary") {
          expect(cold[0]?._tag).toBe("Scored")
          expect(cold[0]?.feedback).toContain('stdin: ""')
          expect(cold[0]?.feedback).toContain('data: "relative file\\n"')
        }
      }), 60_000)
  }

  for (const name of ["ordinary", "exitCode", "raises", "signal", "hugeOutput"] as const) {
    it.live.skipIf(!hasBwrap)(`${name}, in bubblewrap: the same outcomes cold and warm`, () =>
      Effect.gen(function*() {
        const { cold, warm } = yield* runBoth(evaluators[name]!, ["x = 1\n", "x = 2\n"], "bwrap")
        expect(warm).toEqual(cold)
      }), 60_000)
  }

  it.live("warm really is warm: each candidate is a fork of the worker, and the second finds the first one's imports loaded", () =>
    Effect.gen(function*() {
      const source = `
import json, sys
seen = {"forked": int("evolve_worker_settings" in sys.modules), "preloaded": int("fractions" in sys.modules)}
import fractions
print(json.dumps({"score": 1, **seen}))
`
      const { cold, warm } = yield* runBoth(source, ["x = 1\n", "x = 2\n"])
      expect(cold.map((o) => o._tag === "Scored" && o.metrics)).toEqual([
        { score: 1, forked: 0, preloaded: 0 },
        { score: 1, forked: 0, preloaded: 0 }
      ])
      expect(warm.map((o) => o._tag === "Scored" && o.metrics)).toEqual([
        { score: 1, forked: 1, preloaded: 0 },
        { score: 1, forked: 1, preloaded: 1 }
      ])
    }), 60_000)

  it.live("a script that re-executes itself starts cold, with the same outcome", () =>
    Effect.gen(function*() {
      const source = `
import os, sys
if os.environ.get("EVOLVE_TEST_REEXEC") is None:
    os.environ["EVOLVE_TEST_REEXEC"] = "1"
    os.execv(sys.executable, [sys.executable] + sys.argv)
print('{"score": 5}')
`
      const { cold, plan, warm } = yield* runBoth(source, ["x = 1\n"])
      expect(plan).toMatchObject({ _tag: "Cold", warning: expect.stringContaining("re-executes itself") })
      expect(warm).toEqual(cold)
      expect(cold[0]).toMatchObject({ _tag: "Scored", score: 5 })
    }), 60_000)

  it.effect("only Python scripts start warm, and interpreter options keep a script cold", () =>
    Effect.gen(function*() {
      const dir = yield* fixtureDir({ "evaluate.py": "print(1)\n", "run.sh": "echo 1\n" }, "evolve-warmcmd-")
      const plan = (command: ReadonlyArray<string>, warm = true) => WarmCommand.plan(command, dir, warm)
      expect((yield* plan(["python3", "evaluate.py"]))._tag).toBe("Warm")
      expect(yield* plan(["python3", "evaluate.py"], false)).toEqual({ _tag: "Cold", warning: undefined })
      expect(yield* plan(["sh", "run.sh"])).toEqual({ _tag: "Cold", warning: undefined })
      expect(yield* plan(["python3", "-O", "evaluate.py"])).toMatchObject({ _tag: "Cold", warning: expect.any(String) })
      // Not executable: a cold start cannot run it directly, so neither may the warm one.
      expect(yield* plan([NodePath.join(dir, "evaluate.py")])).toEqual({ _tag: "Cold", warning: undefined })
    }).pipe(Effect.scoped, Effect.provide(NodeContext.layer)))
})
