import { spawnSync } from "node:child_process"
import { readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { chart } from "../../scripts/bench/chart.js"
import { packageOf, summarizeProfile } from "../../scripts/bench/cpuProfile.js"
import { analyzeRun, idealRunMs, type RunShape } from "../../scripts/bench/efficiency.js"
import { type LoggedEvaluation, readEvaluationLog, timeBareEvaluator } from "../../scripts/bench/evaluationLog.js"
import { makePythonWorkloadWorkspace, makeWorkspace } from "../../scripts/bench/fixtures.js"
import type { TreeReport } from "../../scripts/bench/evolveCli.js"
import { treeLauncher } from "../../scripts/bench/paths.js"
import { atLeast, atMost, figure, verdict } from "../../scripts/bench/protocol.js"
import type { BenchResults } from "../../scripts/bench/report.js"
import { markdownSection, table } from "../../scripts/bench/report.js"
import { type Interval, slotShare, steadyWindow } from "../../scripts/bench/slots.js"
import { percentile } from "../../scripts/bench/stats.js"
import type { RecordedRequest } from "../support/FakeOpenAiServer.js"

describe("bench statistics", () => {
  it("nearest-rank percentiles", () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(xs, 50)).toBe(50)
    expect(percentile(xs, 99)).toBe(99)
    expect(percentile([3, 1, 2], 100)).toBe(3)
  })
})

/** `slots` slots, each running `perSlot` back-to-back jobs of `ms` with `gap` idle between them. */
const backToBack = (slots: number, perSlot: number, ms: number, gap: number): Array<Interval> =>
  Array.from({ length: slots }, (_, s) =>
    Array.from({ length: perSlot }, (_, k) => ({ start: s + k * (ms + gap), end: s + k * (ms + gap) + ms }))).flat()

describe("bench slot use", () => {
  it("is 1 when every slot is busy all the time and falls with idle gaps", () => {
    expect(slotShare(backToBack(8, 30, 1000, 0), 8, 100, 20_000)).toBeCloseTo(1, 10)
    expect(slotShare(backToBack(8, 30, 1000, 1000), 8, 0, 20_000)).toBeCloseTo(0.5, 2)
  })

  it("never exceeds 1, however many are in flight or however they arrive", () => {
    // 16 in flight on 8 slots, and waves of 8 answered together: the old completion-rate estimate read such runs as > 1.
    const overfull = [...backToBack(8, 10, 1000, 0), ...backToBack(8, 10, 1000, 0)]
    expect(slotShare(overfull, 8, 10, 9000)).toBeCloseTo(1, 10)
    const waves = Array.from({ length: 30 }, (_, w) => Array.from({ length: 8 }, () => ({ start: 1010 * w, end: 1010 * w + 1000 }))).flat()
    const share = slotShare(waves, 8, 0, 29 * 1010)
    expect(share).toBeLessThanOrEqual(1)
    expect(share).toBeCloseTo(1000 / 1010, 3)
  })

  it("opens the steady window when all slots are first busy and closes it at the last start", () => {
    const ramp = [{ start: 0, end: 500 }, ...backToBack(4, 3, 100, 0).map((i) => ({ start: i.start + 50, end: i.end + 50 }))]
    // The long job and the ramp starting at 50, 51, 52: four in flight at 52.
    expect(steadyWindow(ramp, 4)).toEqual({ from: 52, to: 253, target: 4, targetReached: true })
    // Never more than 2 of 4 slots busy: the window opens when the most ever in flight first were.
    const capped = backToBack(2, 5, 100, 0)
    expect(steadyWindow(capped, 4)).toEqual({ from: 1, to: 401, target: 4, targetReached: false })
    expect(slotShare(capped, 4, 1, 401)).toBeCloseTo(0.5, 2)
    expect(steadyWindow([], 4)).toBeUndefined()
  })
})

const request = (index: number, at: number, endedAt: number): RecordedRequest =>
  ({ index, at, endedAt, api: "chat", body: undefined, headers: {}, fault: "ok" })

const logged = (variant: number, start: number, end: number, processStart?: number): LoggedEvaluation =>
  ({ variant, start, end, cpuAtEntryMs: undefined, processStart })

describe("bench efficiency of a run", () => {
  const shape: RunShape = { proposals: 2, evaluations: 2, llmMs: 100, evalMs: 10 }

  it("ideal time: the initial evaluation overlaps the first proposals, the last evaluation follows its proposal", () => {
    expect(idealRunMs(shape, 41)).toBe(40 * 100 / 2 + 10)
    expect(idealRunMs({ ...shape, evalMs: 1000 }, 41)).toBe(100 + 40 * 1000 / 2)
  })

  it("LLM-bound: the share of LLM slot time the run's own requests hold; wasted requests are idle time", () => {
    // Two slots, 20 requests each of 100 ms with a 5 ms gap; every candidate evaluated 10 ms after its reply.
    const requests: Array<RecordedRequest> = []
    for (let k = 0; k < 20; k++) {
      for (let s = 0; s < 2; s++) requests.push(request(requests.length, 1000 + k * 105, 1000 + k * 105 + 100))
    }
    const evaluations = [logged(0, 1000, 1010), ...requests.map((r) => logged(r.index + 1, r.endedAt! + 1, r.endedAt! + 11))]
    const run = { requests, evaluations, evaluatorBeforeLogMs: 0, evaluatorAfterLogMs: 0, spawnedAt: 0, wallMs: 3200 }
    const all = analyzeRun(shape, run)
    expect(all.bound).toBe("llm")
    expect(all.evaluations).toBe(41)
    expect(all.steadyEfficiency).toBeCloseTo(100 / 105, 2)
    expect(all.wholeRunEfficiency).toBeCloseTo(idealRunMs(shape, 41) / 3200, 3)
    expect(all.firstLlmRequestMs).toBe(1000)
    // Every second request's candidate was never evaluated (say, a duplicate): half the slot time was wasted.
    const half = analyzeRun(shape, { ...run, evaluations: evaluations.filter((e) => e.variant % 2 === 1 || e.variant === 0) })
    expect(half.llmRequestsNotNeeded).toBe(20)
    expect(half.steadyEfficiency).toBeLessThan(0.6)
  })

  it("evaluation-bound: evaluator slot time, widened by what a bare run spends outside its log line", () => {
    const slow: RunShape = { proposals: 8, evaluations: 2, llmMs: 100, evalMs: 1000 }
    const evaluations = backToBack(2, 10, 990, 10).map((i, k) => logged(k, i.start + 5, i.end - 5))
    const requests = evaluations.slice(1).map((e) => request(e.variant - 1, e.start - 200, e.start - 100))
    const run = { requests, evaluations, evaluatorBeforeLogMs: 5, evaluatorAfterLogMs: 5, spawnedAt: 0, wallMs: 12_000 }
    const result = analyzeRun(slow, run)
    expect(result.bound).toBe("evaluation")
    expect(result.steadyEfficiency).toBeCloseTo(990 / 1000, 2)
    expect(analyzeRun(slow, { ...run, evaluatorBeforeLogMs: 0, evaluatorAfterLogMs: 0 }).steadyEfficiency).toBeCloseTo(980 / 1000, 2)
    // The process start, when the evaluator logs it, replaces the bare runs' estimate of the start-up.
    const started = evaluations.map((e) => logged(e.variant, e.start, e.end, e.start - 1))
    expect(analyzeRun(slow, { ...run, evaluations: started, evaluatorAfterLogMs: 0 }).steadyEfficiency).toBeCloseTo(981 / 1000, 3)
  })

  it("reports no steady figure when the run is too short for one", () => {
    const result = analyzeRun(shape, {
      requests: [request(0, 0, 100)],
      evaluations: [logged(1, 101, 111)],
      evaluatorBeforeLogMs: 0,
      evaluatorAfterLogMs: 0,
      spawnedAt: 0,
      wallMs: 200
    })
    expect(result.steadyEfficiency).toBeNull()
    expect(result.steadyNote).toContain("too few evaluations")
  })
})

describe("bench evaluators and tree launcher", () => {
  it("the shell evaluator logs the candidate's variant and its start and end", async () => {
    const ws = makeWorkspace("test-log", 0, { logEvaluations: true })
    try {
      writeFileSync(ws.program, readFileSync(ws.program, "utf8").replace("benchVariant = 0", "benchVariant = 17"))
      const bare = await timeBareEvaluator("sh", [ws.evaluator, ws.program], ws.dir, 2, ws.evaluationLog)
      expect(bare.wallMs).toHaveLength(2)
      expect(readEvaluationLog(ws.evaluationLog)).toEqual([])
      expect(spawnSync("sh", [ws.evaluator, ws.program], { encoding: "utf8" }).stdout.trim()).toBe(`{"combined_score": 1}`)
      const [logged] = readEvaluationLog(ws.evaluationLog)
      expect(logged?.variant).toBe(17)
      expect(logged!.end).toBeGreaterThanOrEqual(logged!.start)
    } finally {
      ws.remove()
    }
  })

  it("the Python evaluators log too, with the CPU time the process had used on entry", () => {
    for (const contract of ["command-cold", "openevolve"] as const) {
      const ws = makePythonWorkloadWorkspace(`test-${contract}`, contract, 0)
      try {
        const script = contract === "openevolve"
          ? ["-c", `import runpy; print(runpy.run_path(${JSON.stringify(ws.evaluator)})["evaluate"](${JSON.stringify(ws.program)}))`]
          : [ws.evaluator, ws.program]
        const out = spawnSync("python3", script, { encoding: "utf8" })
        expect(out.status, out.stderr).toBe(0)
        expect(out.stdout).toContain("combined_score")
        const [entry] = readEvaluationLog(ws.evaluationLog)
        expect(entry?.variant).toBe(0)
        expect(entry?.cpuAtEntryMs).toBeGreaterThan(0)
        // The process started before the evaluation (to a clock tick), and not long before.
        expect(entry!.processStart).toBeLessThanOrEqual(entry!.start + 10)
        expect(entry!.start - entry!.processStart!).toBeLessThan(10_000)
        expect(readFileSync(ws.config!, "utf8")).toContain(contract === "openevolve" ? "contract: openevolve" : "warm_pool: false")
      } finally {
        ws.remove()
      }
    }
  })

  const launch = (script: string) => {
    const report = join(tmpdir(), `tree-${process.pid}.json`)
    try {
      const out = spawnSync("python3", [treeLauncher, report, "--", "sh", "-c", script])
      return { status: out.status, tree: JSON.parse(readFileSync(report, "utf8")) as TreeReport }
    } finally {
      rmSync(report, { force: true })
    }
  }

  it("the tree launcher counts the CPU of descendants the command did not wait for, and passes the exit code on", () => {
    const { status, tree } = launch("python3 -c 'sum(range(10**6))' & exit 3")
    expect(status).toBe(3)
    expect(tree.exitCode).toBe(3)
    expect(tree.subreaper).toBe(true)
    // The orphaned python3 (its interpreter start-up alone is several ms) is in the tree, not in sh's own usage.
    expect(tree.treeCpuMs).toBeGreaterThan(tree.commandCpuMs + 1)
    expect(tree.lostCpuMs).toBe(0)
  })

  it.skipIf(spawnSync("unshare", ["--pid", "--fork", "true"]).status !== 0)(
    "the tree launcher counts a process killed with its pid namespace, which no one waits for",
    () => {
      // A busy python3 in a pid namespace whose init is SIGKILLed: the kernel reaps it, its CPU leaves no rusage.
      const busy = "import time\nwhile time.process_time() < 0.3: pass\nprint(1, flush=True)\ntime.sleep(30)"
      const { tree } = launch(
        `unshare --pid --fork --kill-child -- sh -c 'python3 -c "${busy}" & wait' | { read line; sleep 0.6; kill -KILL $(pgrep -P $$ unshare); }`
      )
      expect(tree.reapedCpuMs).toBeLessThan(300)
      // Seen in the launcher's /proc samples (every 250 ms, so not all of it: a lower bound).
      expect(tree.lostCpuMs).toBeGreaterThan(0)
      expect(tree.treeCpuMs).toBeCloseTo(tree.reapedCpuMs + tree.lostCpuMs, 1)
    }
  )
})

describe("bench verdicts", () => {
  it("asserts targets in full mode only", () => {
    const ratio = figure("x", "x", 0.95, "ratio", atLeast(0.97))
    expect(verdict(ratio, false)).toBe("miss")
    expect(verdict(ratio, true)).toBe("not asserted")
    expect(verdict(figure("y", "y", 1.5, "ms", atMost(2)), false)).toBe("pass")
    expect(verdict(figure("z", "z", null, "ms", atMost(5), "not available yet"), false)).toBe("n/a")
  })
})

describe("bench profile summary", () => {
  it("attributes self time to packages and evolve's folders", () => {
    expect(packageOf("file:///repo/node_modules/@effect/sql/dist/esm/x.js", "f")).toBe("@effect/sql")
    expect(packageOf("file:///repo/dist/src/engine/EvolutionRun.js", "f")).toBe("evolve:src/engine")
    expect(packageOf("", "(garbage collector)")).toBe("(garbage collector)")
    const frame = (id: number, url: string, functionName: string) => ({
      id,
      callFrame: { functionName, url, lineNumber: 0, columnNumber: 0 }
    })
    const summary = summarizeProfile({
      nodes: [frame(1, "", "(root)"), frame(2, "file:///r/node_modules/effect/a.js", "run"), frame(3, "", "(idle)")],
      samples: [2, 2, 3, 1],
      timeDeltas: [1000, 3000, 5000, 1000]
    })
    expect(summary.totalMs).toBe(5)
    expect(summary.byPackage[0]).toEqual({ name: "effect", ms: 4, share: 0.8 })
  })
})

describe("bench report", () => {
  const results: BenchResults = {
    generatedAt: "2025-01-01T00:00:00.000Z",
    mode: "full",
    machine: { cpuModel: "cpu", cores: 2, memoryGb: 8, freeMemoryGb: 4, kernel: "6", node: "v20", loadAverage: 0.5 },
    git: { commit: "0123456789abcdef", dirty: false },
    scenarios: [{
      name: "orchestration",
      durationS: 1,
      loadAverage: { before: 0.5, after: 0.6 },
      result: {
        scenario: "orchestration",
        title: "Orchestration efficiency",
        quick: false,
        figures: [figure("o", "efficiency steady, P=8 W=8", 0.99, "ratio", atLeast(0.97))],
        details: {
          cases: [{
            case: { id: "p8w8", proposals: 8, evaluations: 8, llmMs: 1000, evalMs: 100 },
            completionsPerSecond: [0, 6, 8, 8],
            idealPerSecond: 8
          }]
        }
      }
    }, { name: "startup", durationS: 1, loadAverage: { before: 0.6, after: 0.6 }, error: "exited with 1" }]
  }

  it("renders a table, a Markdown section and an SVG chart", () => {
    expect(table(results)).toContain("0.990 ratio")
    expect(table(results)).toContain("startup: FAILED")
    expect(markdownSection(results)).toContain("| efficiency steady, P=8 W=8 | 0.990 ratio | ≥ 0.97 ratio | pass |")
    const svg = chart(results)
    expect(svg.startsWith("<svg")).toBe(true)
    expect(svg).toContain("<polyline")
  })
})
