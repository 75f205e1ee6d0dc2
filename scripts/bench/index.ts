/**
 * `npm run bench`: runs each scenario in its own process, prints a table of every figure
 * against its target, and writes bench/results.json. A full run also writes
 * docs/performance-chart.svg and the results section of docs/performance.md.
 *
 *   node dist/scripts/bench/index.js [--quick] [--only orchestration,startup]
 *
 * `--quick` (CI) runs every scenario small and fast to keep the suite working; it asserts no
 * timing. The exit code is non-zero only when a scenario crashed.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { performance } from "node:perf_hooks"
import { chart } from "./chart.js"
import { gitInfo, machineInfo } from "./machine.js"
import { docsDir, resultsFile, scenarioModule } from "./paths.js"
import type { ScenarioResult } from "./protocol.js"
import { type BenchResults, markdownSection, type ScenarioOutcome, table } from "./report.js"

const scenarios = ["orchestration", "workload", "startup", "overhead", "database", "evaluation", "llmBatch"] as const

const BEGIN = "<!-- bench:results:begin -->"
const END = "<!-- bench:results:end -->"

const load = () => Number(loadavg()[0]!.toFixed(2))

const runScenario = (name: string, quick: boolean, dir: string): Promise<ScenarioOutcome> =>
  new Promise((resolve) => {
    const out = join(dir, `${name}.json`)
    const before = load()
    const started = performance.now()
    process.stderr.write(`\n▶ ${name}\n`)
    const child = spawn(process.execPath, [scenarioModule(name), "--out", out, ...(quick ? ["--quick"] : [])], {
      stdio: ["ignore", "inherit", "inherit"]
    })
    const finish = (error?: string) =>
      resolve({
        name,
        durationS: Number(((performance.now() - started) / 1000).toFixed(1)),
        loadAverage: { before, after: load() },
        ...(error === undefined
          ? { result: JSON.parse(readFileSync(out, "utf8")) as ScenarioResult }
          : { error })
      })
    child.on("error", (e) => finish(e.message))
    child.on("close", (code) => finish(code === 0 && existsSync(out) ? undefined : `exited with ${code}`))
  })

const updateDocs = (results: BenchResults) => {
  mkdirSync(docsDir, { recursive: true })
  writeFileSync(join(docsDir, "performance-chart.svg"), chart(results))
  const doc = join(docsDir, "performance.md")
  const section = `${BEGIN}\n${markdownSection(results)}\n${END}`
  const current = existsSync(doc) ? readFileSync(doc, "utf8") : "# Performance\n"
  const start = current.indexOf(BEGIN)
  const end = current.indexOf(END)
  const next = start >= 0 && end > start
    ? current.slice(0, start) + section + current.slice(end + END.length)
    : `${current.trimEnd()}\n\n## Latest results\n\n${section}\n`
  writeFileSync(doc, next)
}

const main = async () => {
  const argv = process.argv.slice(2)
  const quick = argv.includes("--quick")
  const onlyIndex = argv.indexOf("--only")
  const only = onlyIndex >= 0 ? (argv[onlyIndex + 1] ?? "").split(",") : undefined
  const unknown = only?.filter((name) => !(scenarios as ReadonlyArray<string>).includes(name)) ?? []
  if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(", ")}; known: ${scenarios.join(", ")}`)

  const machine = machineInfo()
  const dir = mkdtempSync(join(tmpdir(), "evolve-bench-results-"))
  const outcomes: Array<ScenarioOutcome> = []
  try {
    for (const name of scenarios) {
      if (only === undefined || only.includes(name)) outcomes.push(await runScenario(name, quick, dir))
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const results: BenchResults = {
    generatedAt: new Date().toISOString(),
    mode: quick ? "quick" : "full",
    machine,
    git: gitInfo(),
    scenarios: outcomes
  }
  mkdirSync(dirname(resultsFile), { recursive: true })
  writeFileSync(resultsFile, JSON.stringify(results, null, 2))
  process.stdout.write(`\n${table(results)}\n\nwrote ${resultsFile}\n`)
  if (!quick && only === undefined) {
    updateDocs(results)
    process.stdout.write(`wrote ${join(docsDir, "performance.md")} and performance-chart.svg\n`)
  }
  const busiest = Math.max(machine.loadAverage, ...outcomes.flatMap((o) => [o.loadAverage.before, o.loadAverage.after]))
  if (busiest > machine.cores) {
    process.stdout.write(`note: the load average reached ${busiest} on ${machine.cores} cores: other work shared the CPUs\n`)
  }
  process.exitCode = outcomes.some((o) => o.error !== undefined) ? 1 : 0
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
})
