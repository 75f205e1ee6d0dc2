/**
 * The cluster's multi-process test (issue 16), real processes on loopback: a throwaway Postgres,
 * 2 control processes (`evolve serve`) and 3 workers (`evolve worker`), a run of N evaluations
 * (300; `--quick`: 90) submitted with `evolve run --db postgres://…` and a sleeping evaluator.
 * During it: kill -9 of a worker mid-evaluation (then a new worker joins), kill -9 of the control
 * process hosting the run, and `pg_ctl restart` (three times, 0.7 s apart). At the end: N
 * committed, no candidate committed twice, evaluator calls ≤ N + the killed worker's slots + the
 * killed controller's in-flight candidates, `evolve ls` consistent, no process left. Exit 0 when
 * every check passes.
 *
 * Every check holds whatever the timing (the machine may be loaded): the worker is killed while an
 * evaluation of its is frozen (SIGSTOP), so it is mid-evaluation at the kill by construction;
 * `evolve ls` is read once the killed worker's last heartbeat has left the alive window and every
 * live worker has beaten recently; the takeover's length is reported, never judged. Whatever
 * happens (a failed check, an exception, SIGINT/SIGTERM to this script), every process it started
 * and its Postgres server are stopped.
 *
 *   npm run test:cluster [-- --quick] [--keep]
 */
import { rmSync } from "node:fs"
import { performance } from "node:perf_hooks"
import {
  callLines, check, type Check, cliPath, type Database, descendants, kill9, leftovers, log, makeWorkspace, processInfo, type Proc, processEnv,
  sleep, startCli, startDatabase, stopCli, type Workspace
} from "./harness.js"
import { ALIVE_WINDOW_MILLIS, HEARTBEAT_MILLIS } from "../../src/db/WorkerStore.js"
import { freePort } from "../../test/support/postgresServer.js"

const quick = process.argv.includes("--quick")
const keep = process.argv.includes("--keep")
const evaluations = quick ? 90 : 300
const evalMs = quick ? 300 : 400
const slots = 3
const lockExpiration = "8 seconds"

/** An evaluation of the worker's: its evaluator script's shell (not the namespace's init `sh -c`). */
const isEvaluation = (cmdline: string) => /^(\S*\/)?sh \S*evaluator\.sh/.test(cmdline)

// What this script started, for the cleanup that runs however it ends.
const procs: Array<Proc> = []
const frozen = new Set<number>()
let db: Database | undefined
let workspace: Workspace | undefined
let cleanedUp = false

/** Kills every process this script started (whole process groups) and stops the Postgres server; idempotent. */
const cleanup = () => {
  if (cleanedUp) return
  cleanedUp = true
  for (const pid of frozen) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // gone
    }
  }
  for (const p of procs) {
    try {
      process.kill(-p.pid, "SIGKILL")
    } catch {
      // gone
    }
  }
  try {
    db?.server.stop()
  } catch (error) {
    console.error(`could not stop Postgres: ${error instanceof Error ? error.message : String(error)}`)
  }
  if (!keep && workspace !== undefined) rmSync(workspace.dir, { recursive: true, force: true })
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping every process of this test and its Postgres`)
    cleanup()
    process.exit(signal === "SIGINT" ? 130 : 143)
  })
}
process.on("uncaughtException", (error) => {
  console.error(error)
  cleanup()
  process.exit(1)
})
process.on("unhandledRejection", (error) => {
  console.error(error)
  cleanup()
  process.exit(1)
})

/**
 * Waits (up to `timeoutMs`) until the worker runs an evaluation, then freezes it with SIGSTOP: a
 * stopped evaluator cannot finish, so the worker has that evaluation in flight until someone kills
 * it. The pid of the frozen evaluator (its state checked: T), or undefined when none came in time.
 */
const freezeEvaluation = async (worker: Proc, timeoutMs: number): Promise<number | undefined> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (worker.exitCode !== null || worker.signal !== null) return undefined
    const evaluation = descendants(worker.pid).find((p) => isEvaluation(p.cmdline))
    if (evaluation !== undefined) {
      try {
        process.kill(evaluation.pid, "SIGSTOP")
        frozen.add(evaluation.pid)
      } catch {
        // it ended before the signal: wait for the next one
      }
      for (let i = 0; i < 100; i++) {
        const info = processInfo(evaluation.pid)
        // Gone, or a zombie: it ended before the signal reached it.
        if (info === undefined || info.state === "Z" || !isEvaluation(info.cmdline)) break
        if (info.state === "T") return evaluation.pid
        await sleep(10)
      }
      frozen.delete(evaluation.pid)
    }
    await sleep(20)
  }
  return undefined
}

const main = async () => {
  const started = performance.now()
  const checks: Array<Check> = []
  const figures: Record<string, string | number> = {}
  try {
    db = await startDatabase("evolve-cluster-kill-pg-")
    const ws = makeWorkspace("evolve-cluster-kill-", { evalMs, evaluations, inFlight: 12 })
    workspace = ws
    const env = processEnv(ws, { EVOLVE_QUEUE_LOCK_EXPIRATION: lockExpiration })
    const cli = (name: string, args: ReadonlyArray<string>) => {
      const proc = startCli(name, args, ws.dir, env)
      procs.push(proc)
      return proc
    }
    const database = db
    log(`Postgres on port ${database.server.port}; workspace ${ws.dir}; ${evaluations} evaluations of ${evalMs} ms`)
    const controls: Array<Proc> = []
    for (const name of ["control-1", "control-2"]) {
      const port = await freePort()
      controls.push(cli(name, ["serve", "--db", database.url, "--port", "0", "--no-token", "--cluster-host", "127.0.0.1", "--cluster-port", String(port)]))
    }
    await Promise.all(controls.map((c) => c.until(/evolve serve: http/)))
    const workerLine = /evolve worker (\S+): \d+ slots/
    const workers = [1, 2, 3].map((i) => cli(`worker-${i}`, ["worker", "--db", database.url, "--slots", String(slots)]))
    const workerIds = await Promise.all(workers.map(async (w) => (await w.until(workerLine))[1]!))
    log("2 control processes and 3 workers up")

    const runStarted = performance.now()
    const submit = cli("run", ["run", "initial_program.mjs", "evaluator.sh", "--config", "evolve.yaml", "--db", database.url])
    const runId = (await submit.until(/run (\S+): submitted to the cluster/))[1]!
    log(`run ${runId} submitted`)

    /** Committed candidates of the run; undefined while the database does not answer. */
    const committed = () => {
      try {
        return database.scalar(`SELECT count(*) FROM programs WHERE run_id = '${runId}' AND status IN ('evaluated', 'failed')`)
      } catch {
        return undefined
      }
    }
    const waitCommitted = async (n: number, what: string) => {
      const deadline = Date.now() + 180_000
      for (;;) {
        const c = committed()
        if (c !== undefined && c >= n) return c
        if (submit.exitCode !== null) throw new Error(`evolve run exited (${submit.exitCode}) before ${what}: ${submit.output.slice(-2000)}`)
        if (Date.now() > deadline) throw new Error(`no ${n} committed within 180 s (before ${what}): ${c}`)
        await sleep(100)
      }
    }

    // 1. kill -9 a worker mid-evaluation, then a new worker joins. One of its evaluations is frozen
    // first (SIGSTOP, state T checked), so the worker has it in flight at the kill by construction.
    await waitCommitted(Math.round(evaluations * 0.15), "killing a worker")
    const victim = workers[0]!
    const victimId = workerIds[0]!
    const frozenPid = await freezeEvaluation(victim, 120_000)
    check(checks, "worker killed mid-evaluation", frozenPid !== undefined,
      frozenPid !== undefined
        ? `${victim.name} (pid ${victim.pid}) killed while its evaluation (evaluator pid ${frozenPid}) was frozen in flight`
        : `${victim.name} (pid ${victim.pid}) ran no evaluation within 120 s`)
    if (frozenPid === undefined) throw new Error(`${victim.name} never evaluated`)
    figures["committed when worker killed"] = committed() ?? "?"
    await kill9(victim)
    // The evaluation's pid namespace dies with its worker (pdeathsig); an evaluator still there
    // goes on as an orphan would.
    const orphan = processInfo(frozenPid)
    figures["frozen evaluator after the kill"] = orphan === undefined || orphan.state === "Z" ? "gone with its worker" : "orphaned, resumed"
    if (orphan !== undefined) {
      try {
        process.kill(frozenPid, "SIGCONT")
      } catch {
        // gone
      }
    }
    frozen.delete(frozenPid)
    log(`kill -9 ${victim.name}; starting worker-4`)
    const late = cli("worker-4", ["worker", "--db", database.url, "--slots", String(slots)])
    const lateId = (await late.until(workerLine))[1]!

    // 2. kill -9 the control process hosting the run (the one that said it drives it).
    await waitCommitted(Math.round(evaluations * 0.35), "killing the run's host")
    const hostPattern = new RegExp(`run ${runId}: driven by this control process`)
    const hostDeadline = Date.now() + 60_000
    let host = controls.find((c) => hostPattern.test(c.output))
    while (host === undefined && Date.now() < hostDeadline) {
      await sleep(100)
      host = controls.find((c) => hostPattern.test(c.output))
    }
    if (host === undefined) throw new Error(`no control process says it drives run ${runId}`)
    const inFlight = database.scalar(`SELECT count(*) FROM programs WHERE run_id = '${runId}' AND status = 'pending' AND code_hash <> ''`)
    figures["in flight when host killed"] = inFlight
    figures["committed when host killed"] = committed() ?? "?"
    await kill9(host)
    const other = controls.find((c) => c !== host)!
    log(`kill -9 ${host.name} (it drove the run; ${inFlight} candidates pending); waiting for ${other.name} to take over`)
    const takeoverFrom = performance.now()
    // How long the takeover takes is reported, not judged: the deadline only ends a test that hangs.
    await other.until(hostPattern, 300_000)
    figures["takeover (s)"] = ((performance.now() - takeoverFrom) / 1000).toFixed(1)
    log(`${other.name} drives the run after ${figures["takeover (s)"]} s`)

    // 3. restart Postgres, three times in a row (each cuts the statements in flight somewhere else).
    await waitCommitted(Math.round(evaluations * 0.6), "restarting Postgres")
    const restarts: Array<string> = []
    for (let i = 0; i < 3; i++) {
      if (i > 0) await sleep(700)
      const restartFrom = performance.now()
      database.server.restart()
      restarts.push(((performance.now() - restartFrom) / 1000).toFixed(1))
    }
    figures["pg_ctl restart (s)"] = restarts.join(", ")
    log(`pg_ctl restart done 3 times, in ${figures["pg_ctl restart (s)"]} s`)

    // The submitting CLI follows the run to its end (the deadline only ends a test that hangs).
    const deadline = Date.now() + (quick ? 300_000 : 600_000)
    while (submit.exitCode === null && submit.signal === null && Date.now() < deadline) await sleep(200)
    figures["run wall (s)"] = ((performance.now() - runStarted) / 1000).toFixed(1)
    check(checks, "evolve run followed the run to its end", submit.exitCode === 0 && /completed/.test(submit.output),
      `exit ${submit.exitCode ?? submit.signal ?? "still running"}; ${submit.output.trim().split("\n").at(-1)}`)

    // ---- the checks --------------------------------------------------------------------------
    const rows = database.query(`SELECT status, count(*) FROM programs WHERE run_id = '${runId}' AND code_hash <> '' GROUP BY status`)
    const byStatus = Object.fromEntries(rows.map(([s, n]) => [s!, Number(n)]))
    const done = (byStatus["evaluated"] ?? 0) + (byStatus["failed"] ?? 0)
    check(checks, `${evaluations} committed`, done === evaluations, JSON.stringify(byStatus))
    const [status, stopReason] = database.query(`SELECT status, stop_reason FROM runs WHERE id = '${runId}'`)[0] ?? []
    check(checks, "the run completed", status === "completed", `${status} (${stopReason})`)

    // A commit is one UPDATE … WHERE status = 'pending'; the run counts each candidate once: each
    // committed candidate has one evaluated event, and the run's own total matches the rows.
    const eventTypes = database.query(`SELECT type, count(*) FROM run_events WHERE run_id = '${runId}' GROUP BY type ORDER BY type`)
    figures["events"] = eventTypes.map(([t, n]) => `${t}=${n}`).join(" ")
    const twice = database.query(
      `SELECT data::json->>'programId' AS id, count(*) FROM run_events WHERE run_id = '${runId}' AND type IN ('CandidateEvaluated', 'CandidateFailed')
       GROUP BY 1 HAVING count(*) > 1`
    )
    check(checks, "no candidate committed twice", twice.length === 0, twice.length === 0 ? "each committed candidate reported once" : `${twice.length} twice: ${twice.slice(0, 5).join(" ")}`)

    // Each worker's count of the results it committed (the killed one's as of its last beat): together no more than the rows.
    const workerCommits = database.scalar(`SELECT coalesce(sum(done), 0) FROM workers`)
    check(checks, "workers' commits ≤ committed rows", workerCommits <= done, `${workerCommits} reported by the workers, ${done} rows`)

    const calls = callLines(ws).length
    const bound = evaluations + slots + inFlight
    figures["evaluator calls"] = calls
    check(checks, "evaluator calls within bound", calls <= bound, `${calls} calls ≤ ${evaluations} + ${slots} (killed worker's slots) + ${inFlight} (killed host's in-flight) = ${bound}`)
    const starts = database.scalar(`SELECT coalesce(sum(eval_starts), 0) FROM programs WHERE run_id = '${runId}'`)
    figures["evaluation starts recorded"] = starts

    // `evolve ls` lists the workers whose last heartbeat is within the alive window. What must hold
    // whatever the timing: once the killed worker's last beat (fixed since its death) has left the
    // window and each live worker has beaten within the last (window - one beat), ls lists exactly
    // the live ones. Both are waited for (by the heartbeats in the database), then ls runs.
    const liveIds = [workerIds[1]!, workerIds[2]!, lateId]
    const beatOf = (id: string) => {
      try {
        return database.scalar(`SELECT heartbeat_at FROM workers WHERE id = '${id}'`)
      } catch {
        return Number.NaN
      }
    }
    const settledBy = Date.now() + 120_000
    for (;;) {
      const now = Date.now()
      const victimBeat = beatOf(victimId)
      const victimGone = !(now - victimBeat <= ALIVE_WINDOW_MILLIS + 1_000)
      const liveFresh = liveIds.every((id) => now - beatOf(id) <= ALIVE_WINDOW_MILLIS - HEARTBEAT_MILLIS)
      if (victimGone && liveFresh) break
      if (now > settledBy) {
        throw new Error(`heartbeats never settled: killed ${victimId} beat ${now - victimBeat} ms ago; live ${liveIds.map((id) => `${id} ${now - beatOf(id)} ms ago`).join(", ")}`)
      }
      await sleep(250)
    }
    const ls = cli("ls", ["ls", "--db", database.url])
    await ls.exited
    const lsRow = ls.output.split("\n").find((l) => l.includes(runId.slice(0, 8))) ?? ""
    const listed = (id: string) => ls.output.split("\n").some((l) => l.startsWith(id))
    const lsProblems = [
      ...(ls.exitCode === 0 ? [] : [`exit ${ls.exitCode}`]),
      ...(/completed/.test(lsRow) && new RegExp(`\\b${evaluations}\\b`).test(lsRow) ? [] : ["the run's row is not completed with every evaluation"]),
      ...(/\b3 workers alive/.test(ls.output) ? [] : ["not 3 workers alive"]),
      ...liveIds.filter((id) => !listed(id)).map((id) => `live ${id} not listed`),
      ...(listed(victimId) ? [`killed ${victimId} listed`] : [])
    ]
    check(checks, "evolve ls consistent", lsProblems.length === 0,
      `${lsProblems.length === 0 ? "" : `${lsProblems.join("; ")} — `}${lsRow.trim()} | ${ls.output.split("\n").find((l) => /alive/.test(l))?.trim() ?? "no workers line"}`)

    // Everything still running stops on SIGINT, cleanly; then nothing of this test is left.
    await Promise.all(procs.map((p) => stopCli(p)))
    const unclean = procs.filter((p) => p !== victim && p !== host && p.exitCode !== 0 && p.exitCode !== 130)
    check(checks, "processes stopped cleanly", unclean.length === 0, unclean.map((p) => `${p.name}: ${p.exitCode ?? p.signal}`).join(", ") || "all exited on SIGINT")
    let left = leftovers([ws.dir, cliPath])
    for (const leftBy = Date.now() + 20_000; left.length > 0 && Date.now() < leftBy; left = leftovers([ws.dir, cliPath])) await sleep(200)
    check(checks, "no process left", left.length === 0, left.length === 0 ? "none" : left.map((p) => `${p.pid} ${p.cmdline.slice(0, 120)}`).join("; "))
  } catch (error) {
    check(checks, "the scenario ran to its end", false, error instanceof Error ? error.message : String(error))
  } finally {
    if (checks.some((c) => !c.ok) || keep) {
      for (const p of procs) console.log(`---- ${p.name} (exit ${p.exitCode ?? p.signal}) ----\n${p.output.split("\n").slice(-40).join("\n")}`)
    }
    cleanup()
  }
  figures["total (s)"] = ((performance.now() - started) / 1000).toFixed(1)
  console.log("\nfigures:")
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k}: ${v}`)
  const failed = checks.filter((c) => !c.ok)
  console.log(`\n${failed.length === 0 ? "PASS" : "FAIL"}: ${checks.length - failed.length}/${checks.length} checks`)
  process.exit(failed.length === 0 ? 0 : 1)
}

void main()
