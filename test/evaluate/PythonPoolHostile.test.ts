/**
 * Hostile candidates against the warm Python pool: files planted where the worker reads the
 * candidate's results (FIFO, symlink to /dev/zero, huge file), and candidates that tamper with
 * the worker's pipes or kill it. Each must cost only its own candidate, with a clear reason,
 * and later candidates must still score.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import type { EvaluationOutcome } from "../../src/domain/Program.js"
import type { PythonEvaluatorOptions } from "../../src/evaluate/Evaluator.js"
import { expectFailed, expectScored, withPythonEvaluator } from "../support/evaluatorFixtures.js"
import { fixtureDir, processesWhere } from "../support/processFixtures.js"

/** A time limit far above what any case here needs: a case that hits it was hung. */
const timeoutMs = 8_000

const withEvaluator = <A>(
  files: Record<string, string>,
  options: Partial<PythonEvaluatorOptions>,
  use: (evaluate: (code: string) => Effect.Effect<EvaluationOutcome>) => Effect.Effect<A>
) => withPythonEvaluator(files, { timeoutMs, ...options }, use, "evolve-pyhostile-")

/**
 * Live processes carrying worker number `n`'s environment marker (the worker and whatever its
 * candidates left): found from here whatever pid namespace they run in.
 */
const workerProcesses = (n: number) => {
  const marker = new RegExp(`(^|\\0)EVOLVE_POOL_WORKER=${process.pid}-\\d+-${n}(\\0|$)`)
  return processesWhere("environ", (environ) => marker.test(environ))
}

/** The number of the worker running this code, from its environment marker. */
const workerNumber = `int(os.environ["EVOLVE_POOL_WORKER"].rsplit("-", 1)[1])`

/**
 * Shinka: the evaluator writes a good metrics.json and correct.json, then runs the candidate,
 * which may replace them (`RESULTS` is the results dir). It reports its worker's number in `worker`.
 */
const shinka = `
import argparse, json, os

parser = argparse.ArgumentParser()
parser.add_argument("--program_path")
parser.add_argument("--results_dir")
if __name__ == "__main__":
    args = parser.parse_args()
    metrics = {"combined_score": 1.0, "public": {"worker": ${workerNumber}}}
    json.dump(metrics, open(os.path.join(args.results_dir, "metrics.json"), "w"))
    json.dump({"correct": True}, open(os.path.join(args.results_dir, "correct.json"), "w"))
    exec(open(args.program_path).read(), {"RESULTS": args.results_dir})
`

/** OpenEvolve: runs the candidate with `RESULTS` set, returns {"score": 1, "worker": <worker number>}. */
const openevolve = `
import os

def evaluate(program_path):
    exec(open(program_path).read(), {"RESULTS": os.environ["EVOLVE_RESULTS_DIR"]})
    return {"score": 1.0, "worker": ${workerNumber}}
`

const plant = (what: string, name = "metrics.json") => {
  const target = `os.path.join(RESULTS, ${JSON.stringify(name)})`
  switch (what) {
    case "fifo":
      return `import os\nif os.path.exists(${target}):\n    os.remove(${target})\nos.mkfifo(${target})\n`
    case "devzero":
      return `import os\nif os.path.exists(${target}):\n    os.remove(${target})\nos.symlink("/dev/zero", ${target})\n`
    case "huge":
      return `import os\nwith open(${target}, "wb") as f:\n    f.truncate(1 << 30)\n`
    case "linked-dir":
      // The results dir itself becomes a symlink to a dir whose metrics.json is a FIFO.
      return [
        "import os, shutil, tempfile",
        "elsewhere = tempfile.mkdtemp()",
        "os.mkfifo(os.path.join(elsewhere, 'metrics.json'))",
        "shutil.rmtree(RESULTS)",
        "os.symlink(elsewhere, RESULTS)",
        ""
      ].join("\n")
    default:
      throw new Error(what)
  }
}

/**
 * Python that takes copies of its worker's ends of the control sockets (Node's stdio "pipes" are
 * socketpairs, which /proc/<pid>/fd cannot reopen; pidfd_getfd can): STDIN and PROTO.
 */
const grabWorkerSockets = `
import ctypes, os, socket
_libc = ctypes.CDLL(None, use_errno=True)
ppid = os.getppid()
def grab(fd):
    got = _libc.syscall(438, os.pidfd_open(ppid), int(fd), 0)  # pidfd_getfd (x86-64)
    if got < 0:
        raise OSError(ctypes.get_errno(), "pidfd_getfd")
    return got
def link(fd):
    return os.readlink("/proc/%d/fd/%s" % (ppid, fd))
STDIN = grab(0)
PROTO = grab([fd for fd in os.listdir("/proc/%d/fd" % ppid)
              if link(fd).startswith("socket:") and link(fd) not in (link(0), link(2))][0])
`

describe("warm Python pool: hostile candidates", () => {
  describe("files the worker reads (shinka contract)", () => {
    const cases: ReadonlyArray<readonly [string, string, RegExp]> = [
      ["a FIFO nobody writes to", plant("fifo"), /metrics\.json .*a FIFO.*refused/],
      ["a symlink to /dev/zero", plant("devzero"), /metrics\.json .*a symbolic link.*refused/],
      ["a 1 GiB sparse file", plant("huge"), /metrics\.json is 1073741824 bytes, over the 65536-byte cap/],
      ["a results dir replaced by a symlink", plant("linked-dir"), /metrics\.json .*results dir that is a symbolic link/],
      ["a FIFO at correct.json", plant("fifo", "correct.json"), /correct\.json .*a FIFO.*refused/]
    ]
    for (const [name, code, message] of cases) {
      it.scopedLive(`metrics from ${name}: a recorded failure, and the same worker scores the next candidate`, () =>
        withEvaluator({ "evaluate.py": shinka }, { contract: "shinka" }, (evaluate) =>
          Effect.gen(function*() {
            const before = expectScored(yield* evaluate("pass\n"))
            expectFailed(yield* evaluate(code), "bad_metrics", message)
            const after = expectScored(yield* evaluate("pass\n"))
            expect(after.metrics.worker).toBe(before.metrics.worker)
          })), 30_000)
    }
  })

  it.scopedLive("openevolve: files planted in the results dir are never read", () =>
    withEvaluator({ "evaluator.py": openevolve }, {}, (evaluate) =>
      Effect.gen(function*() {
        expectScored(yield* evaluate(plant("fifo")))
        expectScored(yield* evaluate(plant("devzero")))
        expectScored(yield* evaluate(plant("linked-dir")))
      })), 30_000)

  describe.skipIf(process.arch !== "x64")("the worker's pipes and the worker itself (openevolve and shinka)", () => {
    const tampering: ReadonlyArray<readonly [string, string, RegExp]> = [
      [
        "shuts down the worker's stdin",
        `${grabWorkerSockets}\nsocket.socket(fileno=STDIN).shutdown(socket.SHUT_RDWR)\nimport time\ntime.sleep(30)\n`,
        /Python worker died during the evaluation/
      ],
      [
        "shuts down the worker's protocol socket",
        `${grabWorkerSockets}\nsocket.socket(fileno=PROTO).shutdown(socket.SHUT_RDWR)\n`,
        /Python worker died during the evaluation/
      ],
      [
        "writes a partial line to the worker's protocol socket",
        `${grabWorkerSockets}\nos.write(PROTO, b'{"type": "gar')\n`,
        /protocol pipe was corrupted/
      ],
      [
        "writes a whole bogus line to the worker's protocol socket",
        `${grabWorkerSockets}\nos.write(PROTO, b'{"type": "done", "id": 12}\\n')\n`,
        /protocol pipe was corrupted/
      ],
      [
        "kills its worker",
        `import os, time\nos.kill(os.getppid(), 9)\ntime.sleep(30)\n`,
        /Python worker died during the evaluation/
      ],
      [
        "kills its worker while a setsid() grandchild holds the protocol socket",
        `${grabWorkerSockets}\nimport time\nif os.fork() == 0:\n    os.setsid()\n    open(PIDS, "a").write("%d\\n" % os.getpid())\n    time.sleep(60)\n    os._exit(0)\ntime.sleep(0.2)\nos.kill(ppid, 9)\ntime.sleep(30)\n`,
        /Python worker died during the evaluation/
      ]
    ]
    for (const contract of ["openevolve", "shinka"] as const) {
      const files = contract === "shinka" ? { "evaluate.py": shinka } : { "evaluator.py": openevolve }
      for (const [name, code, message] of tampering) {
        it.scopedLive(`${contract}: a candidate that ${name} fails, and a new worker scores the next one`, () =>
          Effect.gen(function*() {
            const pids = NodePath.join(yield* fixtureDir({}, "evolve-pyhostile-"), "pids")
            yield* withEvaluator(files, { contract }, (evaluate) =>
              Effect.gen(function*() {
                const before = expectScored(yield* evaluate("pass\n"))
                const outcome = expectFailed(
                  yield* evaluate(`PIDS = ${JSON.stringify(pids)}\n${code}`),
                  "evaluator_error",
                  message
                )
                expect(outcome.durationMs).toBeLessThan(timeoutMs)
                const after = expectScored(yield* evaluate("pass\n"))
                expect(after.metrics.worker).not.toBe(before.metrics.worker)
                // The old worker is gone with whatever its candidate left (a setsid() grandchild);
                // the new one is found the same way.
                expect(workerProcesses(before.metrics.worker!)).toEqual([])
                expect(workerProcesses(after.metrics.worker!).length).toBeGreaterThan(0)
              }))
            const left = NodeFs.existsSync(pids) ? NodeFs.readFileSync(pids, "utf8").trim().split("\n") : []
            if (name.includes("grandchild")) expect(left.length).toBe(1)
          }), 30_000)
      }
    }
  })

  describe("the candidate's own result pipe (openevolve)", () => {
    const resultFd = `
import os, stat
def _pipe(fd):
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False
RESULT = [fd for fd in range(3, 256) if _pipe(fd)]
`
    it.scopedLive("closing it or writing garbage to it fails that candidate only", () =>
      withEvaluator({ "evaluator.py": openevolve }, {}, (evaluate) =>
        Effect.gen(function*() {
          const closed = expectFailed(
            yield* evaluate(`${resultFd}\nfor fd in RESULT:\n    os.close(int(fd))\n`),
            "evaluator_error",
            /without a result/
          )
          expect(closed.durationMs).toBeLessThan(timeoutMs)
          expectFailed(
            yield* evaluate(`${resultFd}\nfor fd in RESULT:\n    os.write(int(fd), b"{garbage")\n`),
            "evaluator_error",
            /incomplete result/
          )
          expectScored(yield* evaluate("pass\n"))
        })), 30_000)
  })
})
