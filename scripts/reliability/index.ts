/**
 * npm run test:reliability [-- --quick] [--only 1,3] [--seed N] [--keep] [--cli PATH] [--verbose]
 *
 * Attacks the real CLI the way production does (flaky LLM servers, hostile candidates, kill -9,
 * bad input, secrets, disk trouble) and prints a table: scenario, attempts, survived, lost.
 * Exits 1 when any scenario fails. Every scenario is bounded in count and time; all traffic
 * stays on 127.0.0.1. `--quick` is the CI pass (a few minutes); the full pass takes ~10 minutes.
 */
import { existsSync, rmSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { getCliPath, killMatching, processesMatching, root, type ScenarioResult, setCliPath } from "./harness.js"
import type { Options } from "./options.js"
import { badInput } from "./scenarios/badInput.js"
import { crashResume } from "./scenarios/crashResume.js"
import { diskTrouble } from "./scenarios/diskTrouble.js"
import { flakyLlm } from "./scenarios/flakyLlm.js"
import { hostileCandidates } from "./scenarios/hostile.js"
import { secrets } from "./scenarios/secrets.js"
import { serveSecurity } from "./scenarios/serveSecurity.js"
import { service } from "./scenarios/service.js"

interface Scenario {
  readonly id: string
  readonly run: (options: Options) => Promise<ScenarioResult | ReadonlyArray<ScenarioResult>>
}

const scenarios: ReadonlyArray<Scenario> = [
  { id: "1", run: flakyLlm },
  { id: "2", run: hostileCandidates },
  { id: "3", run: crashResume },
  { id: "4", run: badInput },
  { id: "5", run: secrets },
  { id: "6", run: service },
  { id: "7", run: diskTrouble },
  { id: "8", run: serveSecurity }
]

const argv = process.argv.slice(2)
const flag = (name: string) => argv.includes(`--${name}`)
const value = (name: string) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : undefined
}
const options: Options = {
  quick: flag("quick"),
  seed: Number(value("seed") ?? 20261125),
  keep: flag("keep")
}
const verbose = flag("verbose")
const only = value("only")?.split(",").map((s) => s.trim())
const cli = value("cli")
if (cli !== undefined) setCliPath(cli)

const pad = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n))
const padL = (s: string, n: number) => s.padStart(n)

const printResult = (r: ScenarioResult) => {
  const failed = r.checks.filter((c) => !c.ok)
  process.stdout.write(`\n[${r.verdict}] ${r.id}. ${r.title}${r.ms > 0 ? ` (${(r.ms / 1000).toFixed(1)} s)` : ""}\n`)
  for (const [k, v] of Object.entries(r.figures)) process.stdout.write(`    ${k}: ${v}\n`)
  for (const c of verbose ? r.checks : failed) {
    process.stdout.write(`    ${c.ok ? "ok  " : "FAIL"} ${c.name}${c.detail ? ` — ${c.detail.split("\n").join("\n         ")}` : ""}\n`)
  }
  if (!verbose && failed.length === 0 && r.checks.length > 0) process.stdout.write(`    all ${r.checks.length} checks passed\n`)
  for (const n of r.notes) process.stdout.write(`    note: ${n.split("\n").join("\n          ")}\n`)
}

const main = async () => {
  if (!existsSync(getCliPath())) {
    process.stderr.write(`reliability: ${getCliPath()} is missing; run \`npm run build\` first\n`)
    process.exit(2)
  }
  process.stdout.write(
    `evolve reliability suite (${options.quick ? "quick" : "full"}, seed ${options.seed}) — CLI ${getCliPath()}\nworkspaces under ${root()}\n`
  )
  const results: Array<ScenarioResult> = []
  const started = performance.now()
  for (const scenario of scenarios) {
    if (only !== undefined && !only.includes(scenario.id)) continue
    const t0 = performance.now()
    let produced: ReadonlyArray<ScenarioResult>
    try {
      const r = await scenario.run(options)
      produced = Array.isArray(r) ? r : [r as ScenarioResult]
    } catch (error) {
      produced = [{
        id: scenario.id,
        title: `scenario ${scenario.id}`,
        verdict: "FAIL",
        attempts: 0,
        survived: 0,
        lost: 0,
        checks: [{ name: "the scenario ran to its end", ok: false, detail: error instanceof Error ? error.stack ?? error.message : String(error) }],
        notes: [],
        figures: {},
        ms: 0
      }]
    }
    const ms = performance.now() - t0
    if (produced.length === 1 && produced[0]!.ms === 0) produced[0]!.ms = ms
    else process.stdout.write(`\n=== scenario ${scenario.id}: ${produced.length} parts in ${(ms / 1000).toFixed(1)} s\n`)
    for (const r of produced) {
      printResult(r)
      results.push(r)
    }
  }
  // Anything of ours still running (found by the suite root in its command line) is a leak.
  const strays = processesMatching([root()])
  for (const p of strays) process.stdout.write(`stray process left by the suite: ${p.pid} ${p.args.slice(0, 200)}\n`)
  const leftovers = killMatching([root()])

  const line = `${pad("scenario", 58)} ${padL("attempts", 8)} ${padL("survived", 8)} ${padL("lost", 5)}  result`
  process.stdout.write(`\n${line}\n${"-".repeat(line.length + 4)}\n`)
  for (const r of results) {
    const na = r.verdict === "PENDING" || r.verdict === "SKIP"
    process.stdout.write(
      `${pad(`${r.id}. ${r.title}`, 58)} ${padL(na ? "—" : String(r.attempts), 8)} ${padL(na ? "—" : String(r.survived), 8)} ${
        padL(na ? "—" : String(r.lost), 5)
      }  ${r.verdict}${r.verdict === "PENDING" ? " (not available yet)" : ""}\n`
    )
  }
  const failed = results.filter((r) => r.verdict === "FAIL")
  const lost = results.reduce((s, r) => s + r.lost, 0)
  process.stdout.write(
    `\n${results.length} scenarios, ${failed.length} failed, lost ${lost}, ${leftovers} stray processes killed at the end, ${
      ((performance.now() - started) / 1000).toFixed(0)
    } s\n`
  )
  if (!options.keep && failed.length === 0) rmSync(root(), { recursive: true, force: true })
  else process.stdout.write(`workspaces kept in ${root()}\n`)
  process.exit(failed.length > 0 || leftovers > 0 ? 1 : 0)
}

void main()
