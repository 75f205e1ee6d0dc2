/**
 * The log the benchmark's evaluators append to, one line per evaluation:
 *
 *     <benchVariant of the candidate> <start, epoch ns> <end, epoch ns> [<CPU time at entry, ns>
 *     <start of the evaluator process, epoch ns>]
 *
 * It says which candidates were evaluated (the variant is the fake server's request index + 1;
 * 0 is the initial program) and when each evaluation ran, from the evaluator's side: no reading
 * of evolve's database, whose schema evolve may change.
 */
import { spawn } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import { epochOffsetMs, nsToMs } from "./clock.js"
import { mean, median } from "./stats.js"

export interface LoggedEvaluation {
  readonly variant: number
  /** This process's `performance.now()` clock, ms. */
  readonly start: number
  readonly end: number
  /** CPU time the evaluator process had used when the evaluation began (Python evaluators). */
  readonly cpuAtEntryMs: number | undefined
  /** When the evaluator process started, to a clock tick (Python evaluators). */
  readonly processStart: number | undefined
}

/** The log's lines, on this process's `performance.now()` clock. */
export const readEvaluationLog = (file: string): Array<LoggedEvaluation> => {
  if (!existsSync(file)) return []
  const offset = epochOffsetMs()
  return readFileSync(file, "utf8").split("\n").flatMap((line) => {
    const [variant, start, end, cpu, processStart] = line.trim().split(/\s+/)
    if (variant === undefined || start === undefined || end === undefined || !/^\d+$/.test(start + end)) return []
    return [{
      variant: Number(variant),
      start: nsToMs(start) - offset,
      end: nsToMs(end) - offset,
      cpuAtEntryMs: cpu !== undefined && /^\d+$/.test(cpu) ? Number(cpu) / 1e6 : undefined,
      processStart: processStart !== undefined && /^\d+$/.test(processStart) ? nsToMs(processStart) - offset : undefined
    }]
  })
}

export const clearEvaluationLog = (file: string): void => writeFileSync(file, "")

export interface BareEvaluator {
  /** Spawn to exit of each bare run, ms: the evaluation time of the ideal. */
  readonly wallMs: ReadonlyArray<number>
  /** Mean time from spawn to the logged start (interpreter start-up), ms. */
  readonly beforeLogMs: number
  /** Mean time from the logged end to exit, ms. */
  readonly afterLogMs: number
  /** Median CPU time a bare run had used at its logged start (evaluators that log it), ms. */
  readonly cpuAtEntryMs: number | undefined
}

const runOnce = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  new Promise<{ readonly spawned: number; readonly exited: number }>((resolve, reject) => {
    const spawned = performance.now()
    const child = spawn(command, args, {
      cwd,
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: cwd },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let exited = 0
    child.stdout.resume()
    child.stderr.resume()
    child.on("error", reject)
    child.on("exit", () => (exited = performance.now()))
    child.on("close", (code) =>
      code === 0 ? resolve({ spawned, exited }) : reject(new Error(`${command} ${args.join(" ")} exited with ${code}`))
    )
  })

/**
 * `runs` sequential bare runs of a logging evaluator (after one warm-up that fills the page
 * cache), timed from spawn to exit, with what the log misses at either end; the log is emptied
 * afterwards so that it holds only the run's evaluations.
 */
export const timeBareEvaluator = async (
  command: string,
  args: ReadonlyArray<string>,
  cwd: string,
  runs: number,
  logFile: string
): Promise<BareEvaluator> => {
  await runOnce(command, args, cwd)
  clearEvaluationLog(logFile)
  const times: Array<{ readonly spawned: number; readonly exited: number }> = []
  for (let i = 0; i < runs; i++) times.push(await runOnce(command, args, cwd))
  const logged = readEvaluationLog(logFile)
  clearEvaluationLog(logFile)
  if (logged.length !== runs) throw new Error(`the evaluator logged ${logged.length} of ${runs} bare runs in ${logFile}`)
  return {
    wallMs: times.map((t) => t.exited - t.spawned),
    beforeLogMs: Math.max(0, mean(times.map((t, i) => logged[i]!.start - t.spawned))),
    afterLogMs: Math.max(0, mean(times.map((t, i) => t.exited - logged[i]!.end))),
    cpuAtEntryMs: logged.every((l) => l.cpuAtEntryMs !== undefined) ? median(logged.map((l) => l.cpuAtEntryMs!)) : undefined
  }
}
