/**
 * Scenario 5 — evaluation overhead, one evaluation at a time, in this process:
 * - the `command` contract (CommandEvaluator: temp dir, candidate file, process group, pipes,
 *   kill, metrics parsing) against the same evaluator spawned bare, and against the same steps
 *   written in plain Node (plainCommand.ts);
 * - the `openevolve` contract on the warm Python pool (PythonEvaluator) with an evaluator that
 *   imports numpy and does next to nothing, so its wall time is the per-candidate overhead;
 * - a cold `python3 -c 'import numpy'`: what a candidate pays without the pool.
 * Wall time and this process's CPU time are taken per evaluation.
 */
import { readFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { NodeContext } from "@effect/platform-node"
import { Layer, ManagedRuntime } from "effect"
import * as CommandEvaluator from "../../../src/evaluate/CommandEvaluator.js"
import { Evaluator } from "../../../src/evaluate/Evaluator.js"
import * as PythonEvaluator from "../../../src/evaluate/PythonEvaluator.js"
import { makePythonWorkspace, makeWorkspace, type Workspace } from "../fixtures.js"
import { plainCommandEvaluation } from "../plainCommand.js"
import { atMost, figure, log, runScenario } from "../protocol.js"
import { timeCommand } from "../spawnTimer.js"
import { timeMaterialize } from "../treeMaterialize.js"
import { distribution, median, round } from "../stats.js"

const common = { timeoutMs: 30_000, killGraceMs: 2_000, outputCapBytes: 1 << 20, primaryMetric: "combined_score", keepArtifacts: false }

const commandContract = (ws: Workspace) => CommandEvaluator.layer({ ...common, command: ["sh", ws.evaluator], cwd: ws.dir })

const warmPool = (ws: Workspace) =>
  PythonEvaluator.layer({ ...common, contract: "openevolve", evaluatorPath: ws.evaluator, slots: 1, warm: true })

/** `runs` sequential calls (after two warm-ups): wall ms each, and this process's CPU ms per call. */
const timeCalls = async (runs: number, once: (i: number) => Promise<unknown>) => {
  await once(-1)
  await once(-2)
  const wall: Array<number> = []
  const cpu0 = process.cpuUsage()
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    await once(i)
    wall.push(performance.now() - t0)
  }
  const cpu = process.cpuUsage(cpu0)
  return { wall, cpuPerCallMs: (cpu.user + cpu.system) / 1000 / runs }
}

const programOf = (ws: Workspace) => ({
  code: readFileSync(ws.program, "utf8"),
  extension: ws.program.slice(ws.program.lastIndexOf("."))
})

const timeEvaluator = async <E>(layer: Layer.Layer<Evaluator, E, NodeContext.NodeContext>, ws: Workspace, runs: number) => {
  const runtime = ManagedRuntime.make(layer.pipe(Layer.provide(NodeContext.layer)))
  const { code, extension } = programOf(ws)
  try {
    const { evaluate } = await runtime.runPromise(Evaluator)
    return await timeCalls(runs, (i) =>
      runtime.runPromise(evaluate({ programId: `bench-${i}`, code, extension })).then((outcome) => {
        if (outcome._tag !== "Scored") throw new Error(`evaluation failed: ${outcome.failure.message}`)
      }))
  } finally {
    await runtime.dispose()
  }
}

const coldNumpy = async (runs: number, cwd: string) => {
  try {
    return await timeCommand("python3", ["-c", "import numpy"], cwd, runs)
  } catch {
    return undefined
  }
}

runScenario(async ({ quick }) => {
  const runs = quick ? 5 : 60
  const shell = makeWorkspace("evaluation", 0)
  const python = makePythonWorkspace("evaluation-py")
  try {
    log(`evaluation: ${runs} × bare \`sh evaluator.sh\`, then through CommandEvaluator`)
    const bare = await timeCommand("sh", [shell.evaluator, shell.program], shell.dir, runs)
    const command = await timeEvaluator(commandContract(shell), shell, runs)
    const { code, extension } = programOf(shell)
    const plain = await timeCalls(runs, () => plainCommandEvaluation(["sh", shell.evaluator], shell.dir, code, extension))
    log(`  bare ${round(median(bare), 2)} ms, CommandEvaluator ${round(median(command.wall), 2)} ms, plain Node ${round(median(plain.wall), 2)} ms`)
    log(`evaluation: ${runs} × warm Python pool (openevolve, evaluator imports numpy)`)
    const pool = await timeEvaluator(warmPool(python), python, runs)
    log(`  warm pool ${round(median(pool.wall), 2)} ms`)
    log(`evaluation: cold python3 -c 'import numpy' × ${quick ? 2 : 10}`)
    const numpy = await coldNumpy(quick ? 2 : 10, shell.dir)
    log(`evaluation: ${runs * 4} × materialise a 50-file candidate tree (hard links, then copies)`)
    const linked = await timeMaterialize("link", runs * 4)
    const copied = await timeMaterialize("copy", runs * 4)
    log(`  links ${round(median(linked), 2)} ms, copies ${round(median(copied), 2)} ms`)
    return {
      scenario: "evaluation",
      title: "Evaluation overhead",
      quick,
      figures: [
        figure(
          "evaluation.commandOverhead",
          "command contract: CommandEvaluator − bare spawn (median, sequential)",
          round(median(command.wall) - median(bare), 2),
          "ms"
        ),
        figure("evaluation.commandCpu", "command contract: evolve CPU per evaluation (evaluator only)", round(command.cpuPerCallMs, 2), "ms"),
        figure(
          "evaluation.plainCpu",
          "reference: the same steps in plain Node, CPU per evaluation",
          round(plain.cpuPerCallMs, 2),
          "ms"
        ),
        figure(
          "evaluation.warmPool",
          "warm Python pool: per-candidate overhead, evaluator importing numpy (median)",
          round(median(pool.wall), 2),
          "ms",
          atMost(5)
        ),
        figure("evaluation.warmPoolCpu", "warm Python pool: evolve CPU per evaluation (evaluator only)", round(pool.cpuPerCallMs, 2), "ms"),
        figure(
          "evaluation.pythonCold",
          "cold `python3 -c 'import numpy'` (median): what the pool saves",
          numpy === undefined ? null : round(median(numpy), 1),
          "ms",
          undefined,
          numpy === undefined ? "python3 with numpy not installed" : undefined
        ),
        figure(
          "evaluation.treeLinks",
          "multi-file candidate: materialise a 50-file tree from the cache, hard links (median)",
          round(median(linked), 2),
          "ms"
        ),
        figure(
          "evaluation.treeCopies",
          "multi-file candidate: the same with copies (as root) (median)",
          round(median(copied), 2),
          "ms"
        )
      ],
      details: {
        bareSpawnMs: distribution(bare.map((t) => round(t, 2))),
        commandEvaluatorMs: distribution(command.wall.map((t) => round(t, 2))),
        plainNodeMs: distribution(plain.wall.map((t) => round(t, 2))),
        warmPoolMs: distribution(pool.wall.map((t) => round(t, 2))),
        treeLinksMs: distribution(linked.map((t) => round(t, 2))),
        treeCopiesMs: distribution(copied.map((t) => round(t, 2))),
        coldNumpyMs: numpy === undefined ? null : distribution(numpy.map((t) => round(t, 1)))
      }
    }
  } finally {
    shell.remove()
    python.remove()
  }
})
