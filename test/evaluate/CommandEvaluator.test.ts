import { FileSystem, Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { execFileSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as CommandEvaluator from "../../src/evaluate/CommandEvaluator.js"
import { type CommandEvaluatorOptions, Evaluator } from "../../src/evaluate/Evaluator.js"
import * as PidNamespace from "../../src/evaluate/PidNamespace.js"
import { expectFailed, expectScored } from "../support/evaluatorFixtures.js"
import { processesWith } from "../support/processFixtures.js"

const hasBwrap = (process.env.PATH ?? "").split(":").some((dir) => NodeFs.existsSync(`${dir}/bwrap`))

const baseOptions: CommandEvaluatorOptions = {
  command: [process.execPath],
  cwd: process.cwd(),
  timeoutMs: 3_000,
  killGraceMs: 200,
  outputCapBytes: 64 * 1024,
  primaryMetric: "score",
  keepArtifacts: false
}

/**
 * Whether this machine gives each evaluation a private pid namespace: the wrapper's argv run
 * directly (not through the probe, so a broken probe fails these tests instead of skipping them).
 */
const namespaceWorks = (() => {
  const wrapper = PidNamespace.namespacePrefix({
    setpriv: "setpriv",
    unshare: "unshare",
    flags: process.getuid?.() === 0 ? [] : ["--user", "--map-current-user"],
    privateProc: false
  })
  try {
    const out = execFileSync(wrapper[0]!, [...wrapper.slice(1), "sh", "-c", "echo $$"], {
      encoding: "utf8",
      timeout: 10_000,
      stdio: ["ignore", "pipe", "ignore"]
    })
    return out.trim() === "2"
  } catch {
    return false
  }
})()

/** Evaluates `code` with the given options; the candidate file is the evaluator script itself. */
const evaluate = (
  code: string,
  options: Partial<CommandEvaluatorOptions> = {},
  extension = ".cjs",
  isolation?: PidNamespace.Isolation
) =>
  Effect.gen(function*() {
    const evaluator = yield* Evaluator
    return yield* evaluator.evaluate({ programId: "p-1", code, extension })
  }).pipe(
    Effect.provide(CommandEvaluator.layer({ ...baseOptions, ...options }, isolation).pipe(Layer.provide(NodeContext.layer)))
  )

const sh = (script: string, options: Partial<CommandEvaluatorOptions> = {}, isolation?: PidNamespace.Isolation) =>
  evaluate(script, { command: ["sh"], ...options }, ".sh", isolation)

let tokens = 0
/**
 * A unique argument to find a candidate's processes by their command line (`sleep <token>`): in a
 * pid namespace the pids a candidate sees are not the host's.
 */
const token = () => `1000.${process.pid}${++tokens}${Math.floor(Math.random() * 1e6)}`

const eventuallyGone = (needles: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const alive = () => needles.flatMap(processesWith)
    for (let i = 0; i < 50 && alive().length > 0; i++) yield* Effect.sleep("20 millis")
    return alive()
  })

const modes: ReadonlyArray<{ readonly name: string; readonly isolation: PidNamespace.Isolation }> = [
  { name: "pid namespace", isolation: { pidNamespace: true } },
  { name: "fallback (process group, tree, environment sweep)", isolation: { pidNamespace: false } }
]

describe("CommandEvaluator", () => {
  describe("metrics", () => {
    it.live("reads the last non-empty stdout line", () =>
      Effect.gen(function*() {
        const outcome = expectScored(yield* evaluate(`
          console.log("warming up")
          console.log(JSON.stringify({ score: 0.5, size: 3, valid: true, name: "x", nested: { a: 1 } }))
          console.log("")
        `))
        expect(outcome.score).toBe(0.5)
        expect(outcome.metrics).toEqual({ score: 0.5, size: 3, valid: 1 })
        expect(outcome.feedback).toBeNull()
        expect(outcome.durationMs).toBeGreaterThan(0)
      }))

    it.live("prefers $EVOLVE_RESULTS_DIR/metrics.json over stdout", () =>
      Effect.gen(function*() {
        const outcome = expectScored(yield* evaluate(`
          const fs = require("node:fs"), path = require("node:path")
          fs.writeFileSync(path.join(process.env.EVOLVE_RESULTS_DIR, "metrics.json"),
            JSON.stringify({ combined_score: 2, public: { a: 1 }, text_feedback: "try harder" }))
          console.log(JSON.stringify({ score: 1 }))
          console.error("some warning")
        `))
        expect(outcome.score).toBe(2)
        expect(outcome.metrics).toEqual({ combined_score: 2 })
        expect(outcome.feedback).toBe("try harder\n\n[stderr]\nsome warning")
      }))

    it.live("combined_score wins over the primary metric", () =>
      Effect.gen(function*() {
        const code = `console.log(JSON.stringify({ accuracy: 0.9, combined_score: 0.7 }))`
        expect(expectScored(yield* evaluate(code, { primaryMetric: "accuracy" })).score).toBe(0.7)
        const primary = `console.log(JSON.stringify({ accuracy: 0.9, loss: 3 }))`
        expect(expectScored(yield* evaluate(primary, { primaryMetric: "accuracy" })).score).toBe(0.9)
      }))

    it.live("rejects missing, non-finite, non-object and garbage metrics as bad_metrics", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<[string, RegExp]> = [
          [`console.log(JSON.stringify({ accuracy: 1 }))`, /expected "combined_score" or "score".*got accuracy/],
          [`console.log('{"score": NaN}')`, /NaN or Infinity/],
          [`console.log('{"score": Infinity}')`, /NaN or Infinity/],
          [`console.log('{"score": 1e999}')`, /"score" is not a finite number/],
          [`console.log('{"score": "high"}')`, /"score" must be a number, got string/],
          [`console.log("[1, 2]")`, /must be a JSON object.*an array/],
          [`console.log("42")`, /must be a JSON object.*number/],
          [`console.log("all done, score was 3")`, /last stdout line is not valid JSON/],
          [``, /no metrics: stdout is empty/]
        ]
        for (const [code, message] of cases) {
          const outcome = expectFailed(yield* evaluate(code), "bad_metrics")
          expect(outcome.failure.message).toMatch(message)
        }
      }))

    it.live("an evaluator reporting error or correct: false fails the candidate", () =>
      Effect.gen(function*() {
        const error = expectFailed(
          yield* evaluate(`console.log(JSON.stringify({ combined_score: 0, error: "overlap of 0.3" }))`),
          "evaluator_error"
        )
        expect(error.failure.message).toBe("evaluator reported overlap of 0.3")
        const incorrect = expectFailed(
          yield* evaluate(`console.log(JSON.stringify({ score: 5, correct: false, text_feedback: "wrong order" }))`),
          "evaluator_error"
        )
        expect(incorrect.failure.message).toBe("evaluator reported correct: false")
        expect(incorrect.feedback).toBe("wrong order")
      }))
  })

  describe("process failures", () => {
    it.live("a non-zero exit is an evaluator_error with the stderr tail", () =>
      Effect.gen(function*() {
        const outcome = expectFailed(
          yield* evaluate(`
            process.stderr.write("x".repeat(10000) + "\\nTraceback: boom\\n")
            console.log(JSON.stringify({ score: 1 }))
            process.exit(3)
          `),
          "evaluator_error"
        )
        expect(outcome.failure.message).toMatch(/^evaluator exited with code 3:\n…x+\nTraceback: boom$/)
        expect(outcome.failure.message.length).toBeLessThan(2200)
        expect(outcome.feedback).toMatch(/^\[stderr\]\n…x+\nTraceback: boom\n\n\[stdout\]\n\{"score":1\}\n\n\[exit\]\nexit code 3$/)
        expect(outcome.feedback!.length).toBeLessThan(1600)
      }))

    it.live("caps huge output without buffering it, and fails with output_limit", () =>
      Effect.gen(function*() {
        const rssBefore = process.memoryUsage().rss
        const outcome = expectFailed(
          yield* sh(`head -c 200000000 /dev/zero; echo '{"score": 1}'`, { outputCapBytes: 1024 * 1024 }),
          "output_limit"
        )
        expect(outcome.failure.message).toBe("evaluator wrote more than 1048576 bytes to stdout")
        expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024)
        const stderr = expectFailed(
          yield* evaluate(`while (true) process.stderr.write("e".repeat(65536))`, { outputCapBytes: 100_000 }),
          "output_limit"
        )
        expect(stderr.failure.message).toContain("to stderr")
      }))
  })

  describe("sandbox", () => {
    it.live("the evaluator sees only allow-listed environment variables", () =>
      Effect.gen(function*() {
        process.env.SECRET_TOKEN = "s3cret"
        process.env.OPENAI_API_KEY = "sk-test"
        const outcome = yield* evaluate(`
          console.log(JSON.stringify({ score: 1, text_feedback: Object.keys(process.env).sort().join(",") }))
        `).pipe(Effect.ensuring(Effect.sync(() => {
          delete process.env.SECRET_TOKEN
          delete process.env.OPENAI_API_KEY
        })))
        const keys = expectScored(outcome).feedback?.split(",") ?? []
        expect(keys).toContain("EVOLVE_PROGRAM")
        expect(keys).toContain("EVOLVE_RESULTS_DIR")
        expect(keys).toContain("PATH")
        const allowed = [...CommandEvaluator.passedEnv, "EVOLVE_PROGRAM", "EVOLVE_RESULTS_DIR"]
        expect(keys.filter((key) => !allowed.includes(key))).toEqual([])
      }))

    it.scopedLive("runs in cwd with the candidate path last, and removes the temp dir", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const tempRoot = yield* fs.makeTempDirectoryScoped()
        const cwd = yield* fs.makeTempDirectoryScoped()
        yield* fs.writeFileString(
          path.join(cwd, "evaluator.cjs"),
          `const p = process.argv[2]
           const ok = p === process.env.EVOLVE_PROGRAM && require("node:path").isAbsolute(p) &&
             require("node:fs").readFileSync(p, "utf8") === "candidate code"
           console.log(JSON.stringify({ score: ok ? 1 : 0, text_feedback: process.cwd() + " " + p }))`
        )
        const outcome = expectScored(
          yield* evaluate("candidate code", {
            command: [process.execPath, "evaluator.cjs"],
            cwd,
            tempRoot
          }, ".py")
        )
        expect(outcome.score).toBe(1)
        const [childCwd, programPath] = outcome.feedback?.split(" ") ?? []
        expect(NodeFs.realpathSync(childCwd ?? "")).toBe(NodeFs.realpathSync(cwd))
        expect(programPath).toMatch(/program\.py$/)
        expect(path.dirname(path.dirname(programPath ?? ""))).toBe(path.resolve(tempRoot))
        expect(yield* fs.readDirectory(tempRoot)).toEqual([])
      }).pipe(Effect.provide(NodeContext.layer)))

    it.live("a memory limit (RLIMIT_AS) fails a 1 GiB allocation with a message naming the limit", () =>
      Effect.gen(function*() {
        const outcome = expectFailed(
          yield* evaluate(`block = bytearray(1 << 30)\nprint('{"score": 1}')\n`, {
            command: ["python3"],
            memoryMb: 512
          }, ".py"),
          "evaluator_error"
        )
        expect(outcome.failure.message).toMatch(/exited with code 1 \(memory limit of 512 MB probably exceeded\)/)
        expect(outcome.failure.message).toContain("MemoryError")
        const small = expectScored(
          yield* evaluate(`block = bytearray(1 << 20)\nprint('{"score": 2}')\n`, { command: ["python3"], memoryMb: 512 }, ".py")
        )
        expect(small.score).toBe(2)
      }))

    it.live("a CPU-time limit (RLIMIT_CPU) stops a busy loop", () =>
      Effect.gen(function*() {
        const outcome = expectFailed(
          yield* evaluate(`for (;;) {}`, { cpuSeconds: 1, timeoutMs: 10_000 }),
          "evaluator_error"
        )
        expect(outcome.failure.message).toMatch(/killed by SIGXCPU \(CPU time limit of 1 s exceeded\)/)
      }))

    it.live.skipIf(!hasBwrap)("bubblewrap: no network, read-only filesystem, writable temp dir", () =>
      Effect.gen(function*() {
        const outcome = expectScored(
          yield* sh(`
            if sh -c 'exec 3<>/dev/tcp/1.1.1.1/53' 2>/dev/null || python3 -c 'import socket; socket.create_connection(("1.1.1.1", 53), timeout=1)' 2>/dev/null; then net=1; else net=0; fi
            if touch /etc/evolve-escape 2>/dev/null; then ro=0; else ro=1; fi
            echo x > "$EVOLVE_RESULTS_DIR/scratch" && tmp=1 || tmp=0
            printf '{"score": 1, "network": %s, "read_only": %s, "writable_tmp": %s}\\n' "$net" "$ro" "$tmp"
          `, { sandbox: "bwrap" })
        )
        expect(outcome.metrics).toEqual({ score: 1, network: 0, read_only: 1, writable_tmp: 1 })
      }))

    it.scopedLive("keeps the temp dir with keepArtifacts", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const tempRoot = yield* fs.makeTempDirectoryScoped()
        expectScored(
          yield* evaluate(`
            require("node:fs").writeFileSync(process.env.EVOLVE_RESULTS_DIR + "/metrics.json", '{"score": 1}')
          `, { tempRoot, keepArtifacts: true })
        )
        const [dir, ...rest] = yield* fs.readDirectory(tempRoot)
        expect(rest).toEqual([])
        expect(dir).toMatch(new RegExp(`^evolve-${process.pid}-\\d+-p-1-`))
        expect((yield* fs.readDirectory(path.join(tempRoot, dir ?? ""))).sort()).toEqual(["program.cjs", "results"])
        expect(yield* fs.readDirectory(path.join(tempRoot, dir ?? "", "results"))).toEqual(["metrics.json"])
      }).pipe(Effect.provide(NodeContext.layer)))
  })

  describe.each(modes)("containment: $name", ({ isolation, name }) => {
    const usable = isolation.pidNamespace ? namespaceWorks : true

    it.live.skipIf(!usable)("a signal exit names the signal", () =>
      Effect.gen(function*() {
        const outcome = expectFailed(
          yield* evaluate(`process.kill(process.pid, "SIGSEGV")`, {}, ".cjs", isolation),
          "evaluator_error"
        )
        expect(outcome.failure.message).toContain("killed by SIGSEGV")
        expect(outcome.feedback).toContain("killed by SIGSEGV")
      }))

    it.live.skipIf(!usable)("the evaluator's stdin is empty (a read ends at once)", () =>
      Effect.gen(function*() {
        const outcome = expectScored(yield* evaluate(
          `console.log(JSON.stringify({ score: require("node:fs").readFileSync(0).length + 1 }))`,
          { timeoutMs: 2_000 },
          ".cjs",
          isolation
        ))
        expect(outcome.score).toBe(1)
      }))

    it.live.skipIf(!usable)("a missing interpreter is an evaluator_error, not a failure of the effect", () =>
      Effect.gen(function*() {
        const outcome = expectFailed(
          yield* evaluate(`print(1)`, { command: ["evolve-no-such-interpreter"] }, ".py", isolation),
          "evaluator_error"
        )
        expect(outcome.failure.message).toMatch(/could not start evaluator "evolve-no-such-interpreter".*ENOENT/)
      }))

    it.scopedLive.skipIf(!usable)("kills a hung evaluator that ignores SIGTERM, with its children, at the timeout", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const started = path.join(yield* fs.makeTempDirectoryScoped(), "started")
        const t = token()
        const outcome = expectFailed(
          yield* sh(`trap "" TERM; echo "$EVOLVE_PROGRAM" > ${started}; sleep ${t} & sleep ${t}; wait`, {
            timeoutMs: 300,
            killGraceMs: 200
          }, isolation),
          "timeout"
        )
        expect(outcome.failure.message).toBe("evaluator exceeded the 300 ms time limit")
        // 300 ms timeout + 200 ms grace; SIGKILL must not wait for the drain bound (1 s)
        expect(outcome.durationMs).toBeGreaterThanOrEqual(450)
        expect(outcome.durationMs).toBeLessThan(1_000)
        const program = (yield* fs.readFileString(started)).trim()
        expect(program).toMatch(/program\.sh$/)
        expect(yield* eventuallyGone([program, t])).toEqual([])
      }).pipe(Effect.provide(NodeContext.layer)))

    it.scopedLive.skipIf(!usable)("SIGTERM at the timeout reaches the evaluator, which may exit within the grace period", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const note = path.join(yield* fs.makeTempDirectoryScoped(), "note")
        const outcome = expectFailed(
          yield* sh(`trap 'echo got TERM > ${note}; exit 7' TERM; while :; do sleep 0.05; done`, {
            timeoutMs: 300,
            killGraceMs: 2_000
          }, isolation),
          "timeout"
        )
        expect((yield* fs.readFileString(note)).trim()).toBe("got TERM")
        // it exited on SIGTERM: no need to wait for the 2 s grace period
        expect(outcome.durationMs).toBeLessThan(1_500)
      }).pipe(Effect.provide(NodeContext.layer)))

    it.scopedLive.skipIf(!usable)("interrupting an evaluation kills the whole group instead of hanging on SIGTERM", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const path = yield* Path.Path
        const started = path.join(yield* fs.makeTempDirectoryScoped(), "started")
        const t = token()
        const result = yield* sh(`trap "" TERM; echo "$EVOLVE_PROGRAM" > ${started}; sleep ${t} & sleep ${t}; wait`, {}, isolation)
          .pipe(Effect.timeoutTo({ duration: "300 millis", onSuccess: () => "finished", onTimeout: () => "interrupted" }))
        expect(result).toBe("interrupted")
        const program = (yield* fs.readFileString(started)).trim()
        expect(program).toMatch(/program\.sh$/)
        expect(yield* eventuallyGone([program, t])).toEqual([])
      }).pipe(Effect.provide(NodeContext.layer)), { timeout: 5_000 })

    it.scopedLive.skipIf(!usable)("kills background children left behind by an evaluator that exited normally", () =>
      Effect.gen(function*() {
        const t = token()
        const outcome = expectScored(yield* sh(`sleep ${t} & echo '{"score": 1}'`, {}, isolation))
        // the background child holds stdout open: only killing the group ends the drain early
        expect(outcome.durationMs).toBeLessThan(800)
        expect(yield* eventuallyGone([t])).toEqual([])
      }))

    it.scopedLive.skipIf(!usable)("kills a grandchild that called setsid() at the timeout, and one orphaned by a clean exit", () =>
      Effect.gen(function*() {
        // setsid leaves the process group; the evaluator stays alive and ignores SIGTERM
        const t = token()
        const outcome = expectFailed(
          yield* evaluate(`
            const { spawn } = require("node:child_process")
            spawn("setsid", ["sh", "-c", "trap '' TERM; sleep ${t}"], { stdio: "ignore" })
            process.on("SIGTERM", () => {})
            setInterval(() => {}, 1000)
          `, { timeoutMs: 500, killGraceMs: 100 }, ".cjs", isolation),
          "timeout"
        )
        expect(outcome.durationMs).toBeLessThan(2_000)
        expect(yield* eventuallyGone([t])).toEqual([])
        // The evaluator exits at once; its setsid grandchild is orphaned (no longer in the tree)
        // but holds stdout open: found by the candidate's environment (or the namespace) and killed.
        const orphan = token()
        const clean = expectScored(
          yield* sh(`setsid sh -c 'exec sleep ${orphan}' & sleep 0.2; echo '{"score": 1}'`, {}, isolation)
        )
        expect(clean.durationMs).toBeLessThan(1_500)
        expect(yield* eventuallyGone([orphan])).toEqual([])
      }))

    if (isolation.pidNamespace) {
      it.scopedLive.skipIf(!usable)("a daemon that left the session, closed its stdio and dropped its environment dies with the evaluation", () =>
        Effect.gen(function*() {
          const t = token()
          expectScored(yield* evaluate(`
            const { spawn } = require("node:child_process")
            spawn("setsid", ["sleep", "${t}"], { stdio: "ignore", detached: true, env: {} }).unref()
            console.log(JSON.stringify({ score: 1 }))
          `, {}, ".cjs", isolation))
          expect(yield* eventuallyGone([t])).toEqual([])
        }))

      it.live.skipIf(!usable)("the candidate can neither signal evolve nor read its environment", () =>
        Effect.gen(function*() {
          const outcome = expectScored(yield* evaluate(`
            let signal = "ok", environ = "ok"
            try { process.kill(${process.pid}, 0) } catch (e) { signal = e.code }
            try { require("node:fs").readFileSync("/proc/${process.pid}/environ") } catch (e) { environ = e.code }
            console.log(JSON.stringify({ score: 1, text_feedback: signal + " " + environ + " " + process.ppid }))
          `, {}, ".cjs", isolation))
          const [signal, environ, ppid] = outcome.feedback?.split(" ") ?? []
          expect(signal).toBe("ESRCH")
          expect(ppid).toBe("1")
          // hidden when the namespace could mount its own /proc (root, or a user namespace that allows it)
          if (name === "pid namespace" && process.getuid?.() === 0) expect(environ).toBe("ENOENT")
        }))
    }
  })
})
