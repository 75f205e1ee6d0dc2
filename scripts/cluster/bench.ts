/**
 * `npm run bench:cluster` (issue 16): the cluster's scaling on this machine. One control process
 * (`evolve serve`) and 1, 2, then 4 workers (`evolve worker --slots 8`) on a throwaway Postgres,
 * a run of 20 evaluations per worker slot with a 500 ms sleeping Python evaluator (run warm, on
 * evolve's fork server, as a real user's Python evaluator is; `--evaluator sh`: a shell script,
 * started cold per candidate) and the offline provider. Per setting: throughput (evaluations committed per second between the 10th and the
 * 90th percentile of commit times), its ratio to N × the one-worker figure, queue latency (offer
 * → start of evaluation) p50 / p99, and the CPU per candidate of a worker process and of the
 * control process (their own, from /proc; the evaluator processes are not counted), and of the
 * Postgres server (all its processes), which competes for the same cores.
 * Figures, not assertions: exit 0 unless a setting fails to run.
 *
 *   npm run bench:cluster [-- --workers 1,2,4] [--slots 8] [--eval-ms 500] [--per-slot 20] [--evaluator py|sh] [--proposals 8]
 *
 * CLUSTER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" passes node options to every evolve process (profiles).
 */
import { rmSync } from "node:fs"
import { freePort } from "../../test/support/postgresServer.js"
import { allProcesses, cpuMsOf, log, makeWorkspace, type Proc, processEnv, sleep, startCli, startDatabase, stopCli } from "./harness.js"

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1]! : fallback
}
const workerCounts = arg("workers", "1,2,4").split(",").map(Number)
const slots = Number(arg("slots", "8"))
const evalMs = Number(arg("eval-ms", "500"))
const perSlot = Number(arg("per-slot", "20"))
const proposals = Number(arg("proposals", "8"))
const evaluatorKind = arg("evaluator", "py")
if (evaluatorKind !== "py" && evaluatorKind !== "sh") throw new Error(`--evaluator ${evaluatorKind}: expected py or sh`)
const evaluatorFile = evaluatorKind === "py" ? "evaluator.py" : "evaluator.sh"

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

interface Figures {
  readonly workers: number
  readonly evaluations: number
  readonly throughput: number
  readonly latencyP50: number
  readonly latencyP99: number
  readonly workerCpuMs: number
  readonly controlCpuMs: number
  readonly postgresCpuMs: number
  readonly wallS: number
}

const runSetting = async (workers: number): Promise<Figures> => {
  const database = `bench_${workers}`
  const db = await startDatabase(`evolve-cluster-bench-pg-`, database)
  const evaluations = perSlot * slots * workers
  const workspace = makeWorkspace("evolve-cluster-bench-", {
    evalMs,
    evaluations,
    inFlight: slots * workers + 4,
    proposals,
    python: evaluatorKind === "py"
  })
  const env = processEnv(workspace)
  const procs: Array<Proc> = []
  try {
    const control = startCli("control", ["serve", "--db", db.url, "--port", "0", "--no-token", "--cluster-host", "127.0.0.1", "--cluster-port", String(await freePort())], workspace.dir, env)
    procs.push(control)
    await control.until(/evolve serve: http/)
    const workerProcs = Array.from({ length: workers }, (_, i) => startCli(`worker-${i + 1}`, ["worker", "--db", db.url, "--slots", String(slots)], workspace.dir, env))
    procs.push(...workerProcs)
    await Promise.all(workerProcs.map((w) => w.until(/evolve worker \S+: \d+ slots/)))
    await sleep(1_000)
    const cpuBefore = procs.map((p) => cpuMsOf(p.pid) ?? 0)
    const postgresCpu = () => allProcesses().filter((p) => p.cmdline.startsWith("postgres")).reduce((sum, p) => sum + p.cpuTicks * 10, 0)
    const postgresBefore = postgresCpu()
    const started = Date.now()
    const submit = startCli("run", ["run", "initial_program.mjs", evaluatorFile, "--config", "evolve.yaml", "--db", db.url], workspace.dir, env)
    procs.push(submit)
    const deadline = Date.now() + 600_000
    while (submit.exitCode === null && Date.now() < deadline) await sleep(200)
    if (submit.exitCode !== 0) throw new Error(`evolve run: exit ${submit.exitCode}: ${submit.output.slice(-1000)}`)
    const wallS = (Date.now() - started) / 1000
    const cpuAfter = procs.map((p) => cpuMsOf(p.pid) ?? 0)
    // Postgres's own processes (its backends come and go with connections: those that ended are not counted).
    const postgresSpent = postgresCpu() - postgresBefore
    const runId = /run (\S+): submitted/.exec(submit.output)![1]!
    const committed = db.query(`SELECT evaluated_at FROM programs WHERE run_id = '${runId}' AND status IN ('evaluated', 'failed') ORDER BY evaluated_at`).map((r) => Number(r[0]))
    const from = committed[Math.floor(committed.length * 0.1)]!
    const to = committed[Math.floor(committed.length * 0.9)]!
    const throughput = (Math.floor(committed.length * 0.9) - Math.floor(committed.length * 0.1)) / ((to - from) / 1000)
    const latencies = db.query(
      `SELECT (p.evaluated_at - p.eval_ms) - extract(epoch FROM q.created_at AT TIME ZONE current_setting('TimeZone')) * 1000
       FROM programs p JOIN evolve_evaluation_queue q ON q.id = p.id WHERE p.run_id = '${runId}' AND p.eval_ms IS NOT NULL`
    ).map((r) => Number(r[0])).sort((a, b) => a - b)
    const n = committed.length
    const workerCpu = workerProcs.reduce((sum, w) => sum + (cpuAfter[procs.indexOf(w)]! - cpuBefore[procs.indexOf(w)]!), 0)
    const controlCpu = cpuAfter[0]! - cpuBefore[0]!
    return {
      workers,
      evaluations: n,
      throughput,
      latencyP50: percentile(latencies, 0.5),
      latencyP99: percentile(latencies, 0.99),
      workerCpuMs: workerCpu / n,
      controlCpuMs: controlCpu / n,
      postgresCpuMs: postgresSpent / n,
      wallS
    }
  } finally {
    await Promise.all(procs.map((p) => stopCli(p, 10_000)))
    db.server.stop()
    rmSync(workspace.dir, { recursive: true, force: true })
  }
}

const main = async () => {
  log(`cluster bench: ${workerCounts.join(", ")} worker(s) × ${slots} slots, ${evalMs} ms evaluations (${evaluatorFile}), ${perSlot} per slot`)
  const results: Array<Figures> = []
  for (const workers of workerCounts) {
    const figures = await runSetting(workers)
    results.push(figures)
    log(`${workers} worker(s): ${figures.evaluations} evaluations in ${figures.wallS.toFixed(1)} s, ${figures.throughput.toFixed(2)}/s`)
  }
  const one = results.find((r) => r.workers === 1)?.throughput
  const ideal = (slots * 1000) / evalMs
  console.log(`\n| workers × slots | evaluations | throughput (eval/s) | vs N × 1 worker | queue latency p50 / p99 (ms) | worker CPU / candidate (ms) | control CPU / candidate (ms) | Postgres CPU / candidate (ms) |`)
  console.log(`|---|---|---|---|---|---|---|---|`)
  for (const r of results) {
    const ratio = one === undefined ? "—" : (r.throughput / (r.workers * one)).toFixed(2)
    console.log(
      `| ${r.workers} × ${slots} | ${r.evaluations} | ${r.throughput.toFixed(2)} | ${ratio} | ${r.latencyP50.toFixed(0)} / ${r.latencyP99.toFixed(0)} | ${
        r.workerCpuMs.toFixed(1)
      } | ${r.controlCpuMs.toFixed(1)} | ${r.postgresCpuMs.toFixed(1)} |`
    )
  }
  console.log(`\n(the ideal for one worker is ${ideal.toFixed(1)} evaluations/s: ${slots} slots / ${evalMs} ms)`)
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
