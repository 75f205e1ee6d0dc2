/**
 * A/B of start-up between builds: process start → first LLM request of a run (as the startup
 * scenario measures it) and `evolve --help` spawn to exit, for each evolve executable given (a
 * copy of dist/bin kept inside the repository, so that it finds node_modules), alternating,
 * `EVOLVE_BENCH_ROUNDS` (default 7) times; medians. The first round only warms caches.
 *
 *   node dist/scripts/bench/abStartup.js .ab/before/evolve.mjs dist/bin/evolve.mjs
 */
import { resolve } from "node:path"
import { startFakeOpenAiServer } from "../../test/support/FakeOpenAiServer.js"
import { expectSuccess, runArgs, runEvolve } from "./evolveCli.js"
import { makeWorkspace, uniqueVariantResponder } from "./fixtures.js"

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

const firstRequestMs = async (main: string) => {
  const ws = makeWorkspace("ab-first-request", 0)
  const server = await startFakeOpenAiServer({ latency: 5, seed: 1, responder: uniqueVariantResponder })
  try {
    const args = runArgs({ workspace: ws, baseUrl: server.url, iterations: 2, proposals: 1, evaluations: 1 })
    const run = expectSuccess(await runEvolve(args, { cwd: ws.dir, evolveMain: main }), "first request")
    return server.requests[0]!.at - run.spawnedAt
  } finally {
    await server.close()
    ws.remove()
  }
}

const helpMs = async (main: string) => {
  const ws = makeWorkspace("ab-help", 0)
  try {
    return expectSuccess(await runEvolve(["--help"], { cwd: ws.dir, probe: false, evolveMain: main }), "--help").wallMs
  } finally {
    ws.remove()
  }
}

const main = async () => {
  const mains = process.argv.slice(2).map((m) => resolve(m))
  const rounds = Number(process.env["EVOLVE_BENCH_ROUNDS"] ?? 7)
  const first = new Map<string, Array<number>>(mains.map((m) => [m, []]))
  const help = new Map<string, Array<number>>(mains.map((m) => [m, []]))
  for (let round = 0; round <= rounds; round++) {
    for (const main of mains) {
      const f = await firstRequestMs(main)
      const h = await helpMs(main)
      if (round === 0) continue
      first.get(main)!.push(f)
      help.get(main)!.push(h)
      process.stdout.write(`round ${round} ${main}: first request ${f.toFixed(0)} ms, --help ${h.toFixed(0)} ms\n`)
    }
  }
  for (const main of mains) {
    process.stdout.write(
      `${main}: start → first request median ${median(first.get(main)!).toFixed(0)} ms, --help median ${median(help.get(main)!).toFixed(0)} ms\n`
    )
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
  process.exitCode = 1
})
