/**
 * Scenario — the workload of issues 15 and 22: P=W=8, LLM 1 s ± 0.2 s, a Python evaluator that
 * sleeps 100 ms and prints one JSON line, 200 evaluations, run three ways:
 * - `command-cold`: `python3 evaluate.py <candidate>` with `evaluator.warm_pool: false`;
 * - `command-warm`: the same with `warm_pool: true`. Reported as not available while evolve does
 *   not start command evaluators warm: a short run first checks that it accepts the setting and
 *   that the evaluator's log shows warm starts (see `coldStartMs`);
 * - `openevolve`: `evaluate(program_path)` on the warm Python pool.
 * Per run: whole-run and steady efficiency (efficiency.ts), process start → first LLM request, and
 * CPU: the whole process tree (treeLauncher.py: evolve and every process it started), evolve's
 * own (the probe), cross-checked against the machine's busy time over the run (/proc/stat) minus
 * this process (the fake server). Full mode alternates the contracts over 2 rounds
 * (`EVOLVE_BENCH_ROUNDS`) and reports the median of the rounds.
 */
import { loadavg } from "node:os"
import { startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import { analyzeRun } from "../efficiency.js"
import { type BareEvaluator, type LoggedEvaluation, readEvaluationLog, timeBareEvaluator } from "../evaluationLog.js"
import { runArgs, runEvolve } from "../evolveCli.js"
import { makePythonWorkloadWorkspace, type PythonWorkloadContract, uniqueVariantResponder } from "../fixtures.js"
import { machineBusyMs } from "../machine.js"
import { atLeast, atMost, type Figure, figure, log, runScenario, type Target } from "../protocol.js"
import { distribution, mean, round } from "../stats.js"

const P = 8
const W = 8
const SLEEP_MS = 100

/**
 * An evaluation started a cold interpreter when its process had used at least half the CPU time a
 * bare cold start of the same evaluator had used when its first line ran (tens of ms: interpreter
 * start-up, site-packages); a fork of a loaded interpreter has used a millisecond or two.
 */
const coldStartMs = (bare: BareEvaluator) => (bare.cpuAtEntryMs ?? Number.NaN) / 2

interface Contract {
  readonly id: PythonWorkloadContract
  readonly label: string
  readonly targets: {
    readonly steady?: Target
    readonly whole?: Target
    readonly firstRequest?: Target
    readonly treeCpu?: Target
    readonly evolveCpu?: Target
  }
}

const contracts: ReadonlyArray<Contract> = [
  {
    id: "command-cold",
    label: "cold `python3 evaluate.py`",
    targets: { steady: atLeast(0.98), whole: atLeast(0.96), firstRequest: atMost(0.3), evolveCpu: atMost(8) }
  },
  {
    id: "command-warm",
    label: "warm `evaluate.py` (warm_pool: true)",
    targets: { firstRequest: atMost(0.3), treeCpu: atMost(25), evolveCpu: atMost(8) }
  },
  { id: "openevolve", label: "openevolve contract, warm pool", targets: { firstRequest: atMost(0.3) } }
]

interface Shape {
  readonly iterations: number
  readonly llmMs: number
  readonly jitterMs: number
}

const load = () => round(loadavg()[0]!, 2)

const coldStarts = (evaluations: ReadonlyArray<LoggedEvaluation>, bare: BareEvaluator) =>
  evaluations.filter((e) => e.cpuAtEntryMs !== undefined && e.cpuAtEntryMs >= coldStartMs(bare)).length

const runContract = async (contract: Contract, shape: Shape, name: string, treeCpu: boolean) => {
  const ws = makePythonWorkloadWorkspace(name, contract.id, SLEEP_MS)
  const server = await startFakeOpenAiServer({
    latency: { meanMs: shape.llmMs, jitterMs: shape.jitterMs },
    seed: 1,
    responder: uniqueVariantResponder
  })
  try {
    const args = runArgs({ workspace: ws, baseUrl: server.url, iterations: shape.iterations, proposals: P, evaluations: W })
    const loadBefore = load()
    const busyBefore = machineBusyMs()
    const benchBefore = process.cpuUsage()
    const run = await runEvolve([...args, "--max-seconds", String(Math.ceil(shape.iterations / P * shape.llmMs / 1000) * 2 + 20)], {
      cwd: ws.dir,
      treeCpu,
      eventLoopDelay: false
    })
    const bench = process.cpuUsage(benchBefore)
    const busyAfter = machineBusyMs()
    return {
      run,
      requests: [...server.requests],
      evaluations: readEvaluationLog(ws.evaluationLog),
      benchCpuMs: (bench.user + bench.system) / 1000,
      machineBusyMs: busyBefore === undefined || busyAfter === undefined ? undefined : busyAfter - busyBefore,
      load: { before: loadBefore, after: load() }
    }
  } finally {
    await server.close()
    ws.remove()
  }
}

const firstLine = (text: string) => text.trim().split("\n").find((l) => l.trim() !== "")?.trim() ?? ""

/**
 * Whether evolve starts `command` evaluators warm with `warm_pool: true`, from its behaviour: a
 * short run either fails on the setting, or its evaluations show (or not) an interpreter start.
 */
const warmCommandAvailable = async (bare: BareEvaluator): Promise<{ readonly available: boolean; readonly short: string; readonly reason: string }> => {
  const warm = contracts.find((c) => c.id === "command-warm")!
  const { evaluations, run } = await runContract(warm, { iterations: 4, llmMs: 5, jitterMs: 0 }, "warm-check", false)
  if (run.exitCode !== 0) {
    return {
      available: false,
      short: "evolve rejects the setting",
      reason: `evolve exited with ${run.exitCode}: ${firstLine(run.stderr || run.stdout)}`
    }
  }
  if (evaluations.length === 0) return { available: false, short: "the check evaluated nothing", reason: run.stderr }
  const cold = coldStarts(evaluations, bare)
  return cold * 2 > evaluations.length
    ? {
      available: false,
      short: "command evaluators still start cold",
      reason: `evaluator.warm_pool: true is accepted, but ${cold} of ${evaluations.length} evaluations started a cold interpreter`
    }
    : { available: true, short: "", reason: `${evaluations.length - cold} of ${evaluations.length} evaluations started warm` }
}

const measure = async (contract: Contract, shape: Shape, bare: BareEvaluator, round_: number) => {
  log(`workload ${contract.id}, round ${round_}: ${shape.iterations} evaluations, LLM ${shape.llmMs}±${shape.jitterMs} ms`)
  const m = await runContract(contract, shape, `workload-${contract.id}`, true)
  const { run } = m
  if (run.exitCode !== 0) {
    throw new Error(`workload ${contract.id}: evolve exited with ${run.exitCode}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`)
  }
  const cold = contract.id === "command-cold"
  // A cold command evaluator occupies its slot from the start of its process to its exit; a warm
  // one from its own start (its process may have been forked ahead of the candidate).
  const evalMs = cold ? mean(bare.wallMs) : mean(m.evaluations.map((e) => e.end - e.start))
  const evaluations = cold ? m.evaluations : m.evaluations.map((e) => ({ ...e, processStart: undefined }))
  const analysis = analyzeRun({ proposals: P, evaluations: W, llmMs: shape.llmMs, evalMs }, {
    requests: m.requests,
    evaluations,
    evaluatorBeforeLogMs: cold ? bare.beforeLogMs : 0,
    evaluatorAfterLogMs: cold ? bare.afterLogMs : 0,
    spawnedAt: run.spawnedAt,
    wallMs: run.wallMs
  })
  const n = analysis.evaluations
  const treeMs = run.tree?.treeCpuMs ?? Number.NaN
  const evolveMs = run.probe === undefined ? Number.NaN : run.probe.cpuUserMs + run.probe.cpuSystemMs
  const cpu = {
    treeMs: round(treeMs, 1),
    evolveMs: round(evolveMs, 1),
    perEvaluation: {
      tree: round(treeMs / n, 2),
      evolve: round(evolveMs / n, 2),
      evaluators: round((treeMs - evolveMs) / n, 2),
      machineBusy: m.machineBusyMs === undefined ? null : round(m.machineBusyMs / n, 2),
      benchProcess: round(m.benchCpuMs / n, 2)
    },
    /** Busy time of the machine over the run not explained by the tree or this process: other work. */
    otherMs: m.machineBusyMs === undefined ? null : round(m.machineBusyMs - treeMs - m.benchCpuMs - (run.tree?.launcherCpuMs ?? 0), 0),
    /** Part of the tree's CPU from processes that vanished without a wait (killed with their pid namespace). */
    lostMs: run.tree === undefined ? null : round(run.tree.lostCpuMs, 1),
    /** The tree launcher's own CPU: its start-up and its /proc sampling, part of the machine's busy time. */
    launcherMs: run.tree === undefined ? null : round(run.tree.launcherCpuMs, 1),
    leftoverProcesses: run.tree?.leftovers ?? null,
    subreaper: run.tree?.subreaper ?? null
  }
  const entry = m.evaluations.flatMap((e) => (e.cpuAtEntryMs === undefined ? [] : [e.cpuAtEntryMs]))
  log(
    `  whole ${analysis.wholeRunEfficiency}, steady ${analysis.steadyEfficiency ?? "—"} (${analysis.bound}), first request ${analysis.firstLlmRequestMs} ms; ` +
      `CPU per evaluation: tree ${cpu.perEvaluation.tree} ms (evolve ${cpu.perEvaluation.evolve}, evaluators ${cpu.perEvaluation.evaluators}), ` +
      `machine busy ${cpu.perEvaluation.machineBusy ?? "—"} ms (bench ${cpu.perEvaluation.benchProcess}); load ${m.load.before}→${m.load.after}`
  )
  const { completionsMs: _completions, completionsPerSecond: _perSecond, ...rest } = analysis
  return {
    contract: contract.id,
    round: round_,
    ...rest,
    cpu,
    coldStarts: coldStarts(m.evaluations, bare),
    cpuAtEntryMs: entry.length === 0 ? null : distribution(entry.map((x) => round(x, 2))),
    evaluatorRunMs: distribution(m.evaluations.map((e) => round(e.end - e.start, 1))),
    /** From the evaluator process's start (to a clock tick) to the script's first line. */
    processStartToFirstLineMs: distribution(
      m.evaluations.flatMap((e) => (e.processStart === undefined ? [] : [round(e.start - e.processStart, 1)]))
    ),
    load: m.load
  }
}

type Measurement = Awaited<ReturnType<typeof measure>>

const medianOf = (runs: ReadonlyArray<Measurement>, value: (m: Measurement) => number | null): number | null => {
  const values = runs.map(value).filter((v): v is number => v !== null && Number.isFinite(v))
  if (values.length < runs.length || values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const figuresOf = (contract: Contract, runs: ReadonlyArray<Measurement>): Array<Figure> => {
  const id = `workload.${contract.id}`
  const label = (what: string) => `workload, ${contract.label}: ${what}`
  const t = contract.targets
  const n = runs[0]?.evaluations ?? 0
  const ratio = (v: number | null) => (v === null ? null : round(v))
  const ms = (v: number | null) => (v === null ? null : round(v, 2))
  return [
    figure(`${id}.whole`, label(`efficiency whole run (${n} evals)`), ratio(medianOf(runs, (m) => m.wholeRunEfficiency)), "ratio", t.whole),
    figure(
      `${id}.steady`,
      label(`efficiency steady (${runs[0]?.bound ?? "?"} slot use)`),
      ratio(medianOf(runs, (m) => m.steadyEfficiency)),
      "ratio",
      t.steady,
      "no steady state (run too short)"
    ),
    figure(
      `${id}.firstRequest`,
      label("process start → first LLM request"),
      medianOf(runs, (m) => (m.firstLlmRequestMs === null ? null : round(m.firstLlmRequestMs / 1000))),
      "s",
      t.firstRequest
    ),
    figure(`${id}.treeCpu`, label("CPU per evaluation, whole process tree"), ms(medianOf(runs, (m) => m.cpu.perEvaluation.tree)), "ms", t.treeCpu),
    figure(`${id}.evolveCpu`, label("CPU per evaluation, evolve's own"), ms(medianOf(runs, (m) => m.cpu.perEvaluation.evolve)), "ms", t.evolveCpu),
    figure(
      `${id}.machineBusy`,
      label("machine busy time per evaluation (/proc/stat, all processes)"),
      ms(medianOf(runs, (m) => m.cpu.perEvaluation.machineBusy)),
      "ms"
    )
  ]
}

runScenario(async ({ quick }) => {
  const shape: Shape = quick ? { iterations: 24, llmMs: 100, jitterMs: 20 } : { iterations: 200, llmMs: 1000, jitterMs: 200 }
  const rounds = Number(process.env["EVOLVE_BENCH_ROUNDS"] ?? (quick ? 1 : 2))
  log(`workload: bare \`python3 evaluate.py\` (cold start, ${SLEEP_MS} ms sleep)`)
  const bareWs = makePythonWorkloadWorkspace("workload-bare", "command-cold", SLEEP_MS)
  const bare = await timeBareEvaluator("python3", [bareWs.evaluator, bareWs.program], bareWs.dir, quick ? 3 : 10, bareWs.evaluationLog)
    .finally(() => bareWs.remove())
  log(
    `  ${round(mean(bare.wallMs), 1)} ms spawn to exit, ${round(bare.beforeLogMs, 1)} ms of it before the script's first line, ` +
      `which had used ${round(bare.cpuAtEntryMs ?? Number.NaN, 1)} ms of CPU`
  )
  log("workload: does evolve start command evaluators warm with warm_pool: true?")
  const warm = await warmCommandAvailable(bare)
  log(`  ${warm.available ? "yes" : "no"}: ${warm.reason}`)
  const measured = contracts.filter((c) => c.id !== "command-warm" || warm.available)
  const runs: Array<Measurement> = []
  for (let r = 1; r <= rounds; r++) {
    for (const contract of measured) runs.push(await measure(contract, shape, bare, r))
  }
  const figures = contracts.flatMap((contract) =>
    measured.includes(contract)
      ? figuresOf(contract, runs.filter((m) => m.contract === contract.id))
      : [
        figure(
          `workload.${contract.id}.treeCpu`,
          `workload, ${contract.label}: CPU per evaluation, whole process tree`,
          null,
          "ms",
          contract.targets.treeCpu,
          `not available (${warm.short})`
        )
      ]
  )
  return {
    scenario: "workload",
    title: "The workload of issues 15 and 22",
    quick,
    figures,
    details: {
      shape: { ...shape, proposals: P, evaluations: W, sleepMs: SLEEP_MS, rounds },
      bareColdEvaluatorMs: distribution(bare.wallMs.map((x) => round(x, 2))),
      bareColdOutsideLogMs: { before: round(bare.beforeLogMs, 2), after: round(bare.afterLogMs, 2) },
      bareColdCpuAtEntryMs: bare.cpuAtEntryMs === undefined ? null : round(bare.cpuAtEntryMs, 2),
      warmCommand: warm,
      runs
    }
  }
})
