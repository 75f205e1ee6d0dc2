/**
 * `npm run compat -- <OpenEvolve or ShinkaEvolve checkout> [--iterations N] [--only NAME] [--timeout S]`
 *
 * Runs every example directory of a peer's checkout through `evolve run`, unchanged, against the
 * fake OpenAI-compatible server (loopback), and prints a table: ran (evaluations, best score),
 * failed with the reason, or needs something this machine lacks (a Python module, a tool, data).
 * Each example is copied to a temporary directory first: the peer's files never enter this
 * repository. Not part of CI: it needs the peer's tree and its Python dependencies.
 */
import { spawn } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join, resolve } from "node:path"
import { startFakeOpenAiServer } from "../../test/support/FakeOpenAiServer.js"

const cliPath = resolve("dist/bin/evolve.mjs")

interface Layout {
  readonly program: string
  readonly evaluator: string
  readonly config: string | undefined
}

const pick = (dir: string, names: ReadonlyArray<string>) => names.find((n) => existsSync(join(dir, n)))

/** The program, evaluator and config of an example directory (OpenEvolve or ShinkaEvolve layout). */
export const layoutOf = (dir: string): Layout | string => {
  const files = readdirSync(dir)
  const program = files.find((f) => /^(initial_program|init_program|initial)\.\w+$/.test(f))
  const evaluator = pick(dir, ["evaluator.py", "evaluate.py", "evaluator.js", "evaluator.mjs"])
  if (program === undefined) return "no initial_program.* / init_program.* / initial.*"
  if (evaluator === undefined) return "no evaluator.py / evaluate.py"
  const configs = files.filter((f) => /\.ya?ml$/.test(f))
  const inConfigs = existsSync(join(dir, "configs")) && statSync(join(dir, "configs")).isDirectory()
    ? readdirSync(join(dir, "configs")).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join("configs", f))
    : []
  const config = pick(dir, ["config.yaml", "config.yml", "shinka_small.yaml"]) ?? configs.find((f) => /config/.test(f)) ?? inConfigs[0]
  return { program, evaluator, config }
}

interface Outcome {
  readonly name: string
  readonly verdict: "ran" | "failed" | "needs" | "skipped"
  readonly detail: string
}

const run = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string>, timeoutMs: number) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => {
      stderr += `\n(timed out after ${timeoutMs / 1000} s)`
      if (child.pid !== undefined) process.kill(-child.pid, "SIGINT")
    }, timeoutMs)
    child.on("exit", (code) => {
      clearTimeout(timer)
      done({ code, stdout, stderr })
    })
  })

/** What the example lacks, when its failure says so. */
export const needs = (text: string): string | undefined => {
  const module = /No module named '([\w.]+)'/.exec(text)
  if (module) return `python module ${module[1]}`
  const required = /Required tool not found: ([\w.-]+)|(\S+): not found/.exec(text)
  if (required) return `${required[1] ?? required[2]}`
  const tool = /"([^"]+)" is not an executable on PATH|(\S+): command not found|No such file or directory: '([^']+)'/.exec(text)
  if (tool) return `${tool[1] ?? tool[2] ?? tool[3]}`
  // Shinka's evaluators check for their compiler: "Go executable not found", "gfortran executable not found".
  const compiler = /(\w+) executable not found/.exec(text)
  if (compiler) return compiler[1]!.toLowerCase()
  // ShinkaEvolve's wolfram_gcd_sum: "`wolframscript` not found".
  const quoted = /`([\w.-]+)` not found/.exec(text)
  if (quoted) return quoted[1]
  // An LLM judge inside the evaluator (ShinkaEvolve's novelty_generator): evolve passes it no key.
  if (/needs OPENAI_API_KEY/.test(text)) return "an LLM key for its judges (evaluator.pass_env: [OPENAI_API_KEY])"
  if (/CUDA|cuda|GPU|mlx|Metal/.test(text) && /not available|no .*device|not found|unavailable/i.test(text)) return "a GPU / accelerator"
  return undefined
}

/** The last lines of `text` that say something (not stack frames, not the config summary line). */
const lastLines = (text: string, n: number) =>
  text.split("\n").map((l) => l.trim())
    .filter((l) => l !== "" && !/^at /.test(l) && !/read as an? (OpenEvolve|ShinkaEvolve) config|: ignored \(/.test(l))
    .slice(-n).join(" ⏎ ")

const tryExample = async (dir: string, baseUrl: string, iterations: number, timeoutS: number): Promise<Outcome> => {
  const name = basename(dir)
  const layout = layoutOf(dir)
  if (typeof layout === "string") return { name, verdict: "skipped", detail: layout }
  const work = mkdtempSync(join(tmpdir(), `evolve-compat-${name}-`))
  try {
    cpSync(dir, work, { recursive: true })
    const args = [
      "run", layout.program, layout.evaluator,
      ...(layout.config === undefined ? [] : ["--config", layout.config]),
      "--provider", "openai-chat", "--base-url", baseUrl, "--model", "fake-coder",
      "--iterations", String(iterations), "--max-seconds", String(Math.max(10, timeoutS - 30)), "--db", join(work, ".compat.db")
    ]
    const r = await run(args, work, { OPENAI_API_KEY: "sk-compat-fake" }, timeoutS * 1000)
    const text = `${r.stdout}\n${r.stderr}`
    if (r.code === 0) {
      const best = /best score\s+(\S+)/.exec(r.stdout)?.[1] ?? "?"
      const evals = /evaluations\s+(\d+ \(\d+ scored\))/.exec(r.stdout)?.[1] ?? "?"
      return { name, verdict: "ran", detail: `${evals}, best ${best}` }
    }
    const lacking = needs(text)
    if (lacking !== undefined) return { name, verdict: "needs", detail: lacking }
    // The run's own verdict ("run …: failed (why)") says more than the first lines of stderr.
    const verdict = /^run run_\S+: (?:failed|interrupted) \((.*)$/m.exec(r.stdout)?.[1]
    return { name, verdict: "failed", detail: `exit ${r.code}: ${(verdict ?? lastLines(r.stderr || r.stdout, 3)).slice(0, 300)}` }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

const main = async () => {
  const argv = process.argv.slice(2)
  const flag = (name: string) => {
    const i = argv.indexOf(name)
    return i >= 0 ? argv.splice(i, 2)[1] : undefined
  }
  const iterations = Number(flag("--iterations") ?? "4")
  const timeoutS = Number(flag("--timeout") ?? "300")
  const only = flag("--only")
  const checkout = argv[0]
  if (checkout === undefined || !existsSync(join(checkout, "examples"))) {
    console.error("usage: npm run compat -- <OpenEvolve or ShinkaEvolve checkout> [--iterations N] [--only NAME] [--timeout S]")
    process.exit(2)
  }
  if (!existsSync(cliPath)) {
    console.error(`${cliPath} is missing: npm run build`)
    process.exit(2)
  }
  const directories = (dir: string) =>
    readdirSync(dir).map((e) => join(dir, e)).filter((d) => statSync(d).isDirectory()).sort()
  // A directory of problems (algotune, alphaevolve_math_problems) holds one example per subdirectory.
  const examples = directories(join(checkout, "examples"))
    .flatMap((d) => {
      if (typeof layoutOf(d) !== "string") return [d]
      const inner = directories(d).filter((sub) => typeof layoutOf(sub) !== "string")
      return inner.length > 0 ? inner : [d]
    })
    .filter((d) => only === undefined || basename(d) === only || d.includes(`/${only}/`))
  const server = await startFakeOpenAiServer({ seed: 19, latency: { meanMs: 20, jitterMs: 10 } })
  const outcomes: Array<Outcome> = []
  try {
    for (const dir of examples) {
      const outcome = await tryExample(dir, server.url, iterations, timeoutS)
      outcomes.push(outcome)
      console.error(`${outcome.name}: ${outcome.verdict} ${outcome.detail}`)
    }
  } finally {
    await server.close()
  }
  const width = Math.max(...outcomes.map((o) => o.name.length), 7)
  console.log(`\n| ${"example".padEnd(width)} | outcome | detail |`)
  console.log(`|${"-".repeat(width + 2)}|---------|--------|`)
  for (const o of outcomes) console.log(`| ${o.name.padEnd(width)} | ${o.verdict.padEnd(7)} | ${o.detail.replace(/\|/g, "\\|")} |`)
  const count = (v: Outcome["verdict"]) => outcomes.filter((o) => o.verdict === v).length
  console.log(`\n${outcomes.length} examples: ${count("ran")} ran, ${count("failed")} failed, ${count("needs")} need something missing here, ${count("skipped")} skipped`)
}

if (process.argv[1]?.endsWith(join("compat", "index.js"))) void main()
