/**
 * 3. Crash and resume: `kill -9` the CLI at seeded random moments of a run (from process start:
 * module loading, migrations, run creation, proposals, evaluations, commits), resuming each time.
 * At the end: evaluations committed = the target, no candidate evaluated after its result was
 * committed, no committed result lost or changed, `PRAGMA integrity_check` = ok.
 *
 * The evaluator wrapper logs `<sha256 of the candidate> <epoch ms> <pid>` when an evaluation
 * starts. A candidate whose evaluation was in flight at a kill is legitimately evaluated again
 * after resume (its result was never committed): those are counted separately. A log entry for a
 * committed candidate that starts after its commit time is a violation.
 *
 * 3b reproduces the database state of a kill between "run created" and "initial program stored"
 * (a window too narrow to hit by chance) and checks that resume does not hang.
 */
import { existsSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { startFakeOpenAiServer } from "../../../test/support/FakeOpenAiServer.js"
import {
  analyzeEvaluationLog,
  check,
  committedEvaluations,
  committedRows,
  type CommittedRow,
  configFile,
  countingEvaluator,
  fmtMs,
  integrityCheck,
  killMatching,
  lostOrChanged,
  newResult,
  processesMatching,
  query,
  rng,
  runCli,
  type ScenarioResult,
  sleep,
  startCli,
  waitFor,
  withDb,
  workspace
} from "../harness.js"
import type { Options } from "../options.js"

const safeRows = (db: string): Map<string, CommittedRow> => {
  try {
    return existsSync(db) ? committedRows(db) : new Map()
  } catch {
    return new Map() // tables not created yet (killed before or during migrations)
  }
}

const hasRun = (db: string) => {
  try {
    return existsSync(db) && query<{ n: number }>(db, "SELECT COUNT(*) AS n FROM runs")[0]!.n > 0
  } catch {
    return false
  }
}

export const crashResume = async (options: Options): Promise<Array<ScenarioResult>> => {
  const kills = options.quick ? 5 : 20
  // Large enough that every kill lands before the run could complete: a session lasts at most 3 s,
  // up to ~40 evaluations on a quiet machine (500 was too few once evaluations got cheaper).
  const target = options.quick ? 200 : 1200
  const result = newResult("3", `Crash and resume (kill -9 × ${kills}, ${target} evaluations)`)
  const ws = workspace("crash")
  const log = join(ws.dir, "evaluated.log")
  writeFileSync(join(ws.dir, "counting_evaluator.mjs"), countingEvaluator(log))
  const server = await startFakeOpenAiServer({ latency: { meanMs: 40, jitterMs: 30 }, seed: 21 })
  const random = rng(options.seed)
  const snapshot = new Map<string, CommittedRow>()
  const survivorsAtKill: Array<number> = []
  const survivorsAfter2s: Array<number> = []
  const integrity: Array<string> = []
  const lostAfterKill: Array<string> = []
  const moments: Array<number> = []
  let killed = 0
  let completedEarly = false
  try {
    writeFileSync(
      join(ws.dir, "rel.yaml"),
      configFile({
        max_evaluations: target,
        llm: { provider: "openai-chat", base_url: server.url, model: "fake-coder", timeout_seconds: 5 },
        concurrency: { proposals: 4, evaluations: 3 }
      })
    )
    const env = { OPENAI_API_KEY: "sk-crash-test" }
    for (let session = 0; killed < kills && session < kills + 5; session++) {
      const args = hasRun(ws.db)
        ? ["resume", "--db", ws.db]
        : ["run", "initial_program.mjs", "counting_evaluator.mjs", "--config", "rel.yaml", "--db", ws.db]
      const proc = startCli(args, { cwd: ws.dir, env, timeoutMs: 120_000 })
      const delay = Math.round(50 + random() * 2950)
      const finished = await Promise.race([proc.done.then(() => true), sleep(delay).then(() => false)])
      if (finished) {
        completedEarly = true
        result.notes.push(`session ${session + 1} ended by itself before its kill at ${delay} ms: ${(await proc.done).code}`)
        break
      }
      // Snapshot the committed rows, then kill at once.
      const before = safeRows(ws.db)
      process.kill(proc.pid, "SIGKILL")
      await proc.done
      killed++
      moments.push(delay)
      for (const [id, row] of before) if (!snapshot.has(id)) snapshot.set(id, row)
      // Evaluator processes of the dead CLI (their own process groups) still running?
      survivorsAtKill.push(processesMatching([ws.tmp]).length)
      await sleep(2000)
      survivorsAfter2s.push(processesMatching([ws.tmp]).length)
      killMatching([ws.tmp])
      if (existsSync(ws.db)) {
        const verdict = integrityCheck(ws.db)
        if (verdict !== "ok") integrity.push(`after kill ${killed}: ${verdict}`)
        lostAfterKill.push(...lostOrChanged(snapshot, safeRows(ws.db)).map((s) => `after kill ${killed}: ${s}`))
      }
    }
    // Finish the run.
    let final = await runCli(hasRun(ws.db) ? ["resume", "--db", ws.db] : ["run", "initial_program.mjs", "counting_evaluator.mjs", "--config", "rel.yaml", "--db", ws.db], {
      cwd: ws.dir,
      env,
      timeoutMs: 10 * 60_000
    })
    if (completedEarly && final.code === 2 && /completed/.test(final.stdout + final.stderr)) {
      final = { ...final, code: 0 } // the run had already completed: nothing left to resume
    }
    check(result, "final resume completes the run (exit 0)", final.code === 0, `exit ${final.code}\n${(final.stdout + final.stderr).slice(-1500)}`)
  } finally {
    await server.close()
  }

  result.attempts = killed
  check(result, `${kills} kills at random moments`, killed === kills, `${killed} kills${completedEarly ? " (the run completed before the last kill)" : ""}`)
  const finalRows = committedRows(ws.db)
  const lostAtEnd = lostOrChanged(snapshot, finalRows)
  const allLost = [...new Set([...lostAfterKill, ...lostAtEnd])]
  result.lost = new Set(allLost.map((s) => s.split(" ").find((w) => w.startsWith("p_")))).size
  result.survived = killed - new Set(lostAfterKill.map((s) => s.split(":")[0])).size - integrity.length
  check(result, "no committed result lost or changed by a kill or a resume", allLost.length === 0, allLost.slice(0, 10).join("\n"))
  check(result, "PRAGMA integrity_check = ok after every kill", integrity.length === 0, integrity.join("\n"))
  const finalIntegrity = integrityCheck(ws.db)
  check(result, "PRAGMA integrity_check = ok at the end", finalIntegrity === "ok", finalIntegrity)
  const evaluations = committedEvaluations(ws.db)
  check(result, `evaluations committed = ${target}`, evaluations === target, `${evaluations}`)
  const pending = query<{ n: number }>(ws.db, "SELECT COUNT(*) AS n FROM programs WHERE status = 'pending'")[0]!.n
  check(result, "no candidate left pending", pending === 0, `${pending}`)
  const runs = query<{ status: string }>(ws.db, "SELECT status FROM runs")
  check(result, "one run, completed", runs.length === 1 && runs[0]!.status === "completed", JSON.stringify(runs))

  const a = analyzeEvaluationLog(ws.db, log)
  check(result, "no candidate evaluated again after its result was committed", a.afterCommit === 0, a.violations.slice(0, 10).join("\n"))
  check(result, "no code hash appears twice among committed results", a.duplicateCommits === 0, `${a.duplicateCommits}`)
  check(result, "every committed result has a logged evaluation", a.unlogged === 0, `${a.unlogged} without`)
  const orphanDirs = readdirSync(ws.tmp).filter((d) => d.startsWith("evolve-")).length

  result.figures["kill moments (ms after start)"] = moments.join(", ")
  result.figures["evaluator log entries / committed evaluations"] = `${a.entries} / ${a.committed}`
  result.figures["re-evaluated after a kill (in flight, never committed)"] = a.inFlightAgain
  result.figures["evaluator processes alive right after each kill"] = survivorsAtKill.join(", ")
  result.figures["… and 2 s later"] = survivorsAfter2s.join(", ")
  result.figures["candidate temp dirs left behind by the kills"] = orphanDirs
  check(result, "no candidate temp dir left behind (a later evolve sweeps those of dead ones)", orphanDirs === 0, `${orphanDirs}`)
  if (survivorsAtKill.some((n) => n > 0)) {
    result.notes.push(
      "after kill -9 of the CLI some of its evaluators were still alive: without the per-evaluation pid namespace " +
        "(whose pdeathsig kills them with evolve) they are orphaned and run to their end, and a hung one would survive the crash " +
        "indefinitely (no timeout applies any more)."
    )
  }

  // 3b: the state a kill leaves between run creation and the initial program's insert.
  const b = newResult("3b", "Resume of a run killed before its initial program was stored")
  const wsB = workspace("crash-initial")
  const made = await runCli(["run", "initial_program.mjs", "evaluator.mjs", "--config", "evolve.yaml", "--iterations", "3", "--db", wsB.db], {
    cwd: wsB.dir,
    timeoutMs: 60_000
  })
  if (check(b, "set-up run", made.code === 0, `${made.code} ${made.stderr}`)) {
    withDb(wsB.db, (db) => {
      db.exec("DELETE FROM llm_calls; DELETE FROM programs; UPDATE runs SET status = 'running', stop_reason = NULL")
    }, false)
    const resumed = await runCli(["resume", "--db", wsB.db], { cwd: wsB.dir, timeoutMs: options.quick ? 20_000 : 30_000 })
    b.attempts = 1
    const ok = !resumed.timedOut
    b.survived = ok ? 1 : 0
    b.lost = 0
    check(
      b,
      "resume terminates (does not wait forever for a parent that does not exist)",
      ok,
      resumed.timedOut ? `still running after ${fmtMs(resumed.ms)}: killed` : `exit ${resumed.code}`
    )
    if (ok) check(b, "resume completes the run (re-evaluates the initial program from the run's program file)", resumed.code === 0, `exit ${resumed.code}: ${resumed.stderr.slice(0, 300)}`)
    await waitFor(() => processesMatching([wsB.dir]).length === 0, 3000)
  }
  return [result, b]
}
