/**
 * A/B of evolve's own CPU per evaluation on the workload of issues 15 and 22 (P=W=8, LLM
 * 1 s ± 0.2 s, a Python evaluator sleeping 100 ms), between builds: each argument after the
 * contract and the number of evaluations is an evolve executable (a copy of dist/bin kept inside
 * the repository, so that it finds node_modules), run in turn, `EVOLVE_BENCH_ROUNDS` (default 3)
 * times, alternating. On a shared machine only alternating runs compare fairly.
 * EVOLVE_AB_NODE_FLAGS adds flags for node (e.g. `--perf-basic-prof` for `perf record`, which
 * samples CPU time where `--cpu-prof` samples wall time).
 *
 *   node dist/scripts/bench/abWorkload.js command-warm 200 .ab/before/evolve.mjs dist/bin/evolve.mjs
 */
import { resolve } from "node:path"
import { startFakeOpenAiServer } from "../../test/support/FakeOpenAiServer.js"
import { expectSuccess, runArgs, runEvolve } from "./evolveCli.js"
import { makePythonWorkloadWorkspace, type PythonWorkloadContract, uniqueVariantResponder } from "./fixtures.js"

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const main = async () => {
  const contract = (process.argv[2] ?? "command-warm") as PythonWorkloadContract
  const iterations = Number(process.argv[3] ?? 200)
  const mains = process.argv.slice(4).map((m) => resolve(m))
  const rounds = Number(process.env["EVOLVE_BENCH_ROUNDS"] ?? 3)
  const perMain = new Map<string, Array<number>>(mains.map((m) => [m, []]))
  for (let round = 1; round <= rounds; round++) {
    for (const main of mains) {
      const ws = makePythonWorkloadWorkspace("ab", contract, 100)
      const server = await startFakeOpenAiServer({ latency: { meanMs: 1000, jitterMs: 200 }, seed: 1, responder: uniqueVariantResponder })
      try {
        const args = runArgs({ workspace: ws, baseUrl: server.url, iterations, proposals: 8, evaluations: 8 })
        const nodeFlags = (process.env["EVOLVE_AB_NODE_FLAGS"] ?? "").split(" ").filter((f) => f !== "")
        const run = expectSuccess(await runEvolve(args, { cwd: ws.dir, evolveMain: main, nodeFlags, eventLoopDelay: false }), contract)
        const cpu = run.probe === undefined ? Number.NaN : (run.probe.cpuUserMs + run.probe.cpuSystemMs) / iterations
        perMain.get(main)!.push(cpu)
        process.stdout.write(`round ${round} ${main}: ${cpu.toFixed(2)} ms of evolve CPU per evaluation\n`)
      } finally {
        await server.close()
        ws.remove()
      }
    }
  }
  for (const [main, cpus] of perMain) {
    process.stdout.write(`${main}: median ${median(cpus).toFixed(2)} ms (${cpus.map((c) => c.toFixed(2)).join(", ")})\n`)
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
  process.exitCode = 1
})
