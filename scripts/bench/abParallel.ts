/**
 * A/B of evolve's own CPU per evaluation on the workload of issues 15 and 22, the two builds run
 * at the same time (each with its own fake server and workspace), pair after pair: a host whose
 * speed drifts (shared hardware) slows both runs of a pair alike, so their ratio holds where
 * alternating runs (`abWorkload.ts`) differ by more than the change measured. The absolute
 * figures are higher than a run alone (the two runs share the cores); compare the ratio.
 *
 *   node dist/scripts/bench/abParallel.js .ab/before/bin/evolve.mjs dist/bin/evolve.mjs [pairs] [evaluations]
 */
import { resolve } from "node:path"
import { startFakeOpenAiServer } from "../../test/support/FakeOpenAiServer.js"
import { expectSuccess, runArgs, runEvolve } from "./evolveCli.js"
import { makePythonWorkloadWorkspace, uniqueVariantResponder } from "./fixtures.js"
import { median } from "./stats.js"

const cpuPerEvaluation = async (main: string, iterations: number) => {
  const ws = makePythonWorkloadWorkspace("ab-parallel", "command-warm", 100)
  const server = await startFakeOpenAiServer({ latency: { meanMs: 1000, jitterMs: 200 }, seed: 1, responder: uniqueVariantResponder })
  try {
    const args = runArgs({ workspace: ws, baseUrl: server.url, iterations, proposals: 8, evaluations: 8 })
    const run = expectSuccess(await runEvolve(args, { cwd: ws.dir, evolveMain: main, eventLoopDelay: false }), main)
    return run.probe === undefined ? Number.NaN : (run.probe.cpuUserMs + run.probe.cpuSystemMs) / iterations
  } finally {
    await server.close()
    ws.remove()
  }
}

const main = async () => {
  const [a, b] = process.argv.slice(2, 4).map((m) => resolve(m))
  if (a === undefined || b === undefined) throw new Error("usage: abParallel.js A/evolve.mjs B/evolve.mjs [pairs] [evaluations]")
  const pairs = Number(process.argv[4] ?? 5)
  const iterations = Number(process.argv[5] ?? 200)
  const ratios: Array<number> = []
  for (let pair = 1; pair <= pairs; pair++) {
    const [x, y] = await Promise.all([cpuPerEvaluation(a, iterations), cpuPerEvaluation(b, iterations)])
    ratios.push(y / x)
    process.stdout.write(`pair ${pair}: A ${x.toFixed(2)} ms, B ${y.toFixed(2)} ms of evolve CPU per evaluation, B/A ${(y / x).toFixed(3)}\n`)
  }
  process.stdout.write(`B/A median ${median(ratios).toFixed(3)} (${ratios.map((r) => r.toFixed(3)).join(", ")})\n`)
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
  process.exitCode = 1
})
