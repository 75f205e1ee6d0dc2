/**
 * The cluster's multi-process test (issue 16), real processes on loopback: a throwaway Postgres,
 * 2 control processes (`evolve serve`) and 3 workers (`evolve worker`), a run of N evaluations
 * (300; `--quick`: 90) submitted with `evolve run --db postgres://…` and a sleeping evaluator.
 * During it: kill -9 of a worker mid-evaluation (then a new worker joins), kill -9 of the control
 * process hosting the run, and `pg_ctl restart`. At the end: N committed, no candidate committed
 * twice, evaluator calls ≤ N + the killed worker's slots + the killed controller's in-flight
 * candidates, `evolve ls` consistent, no process left. Exit 0 when every check passes.
 *
 *   npm run test:cluster [-- --quick] [--keep]
 */
import { rmSync } from "node:fs"
import { performance } from "node:perf_hooks"
import {
  callLines, check, type Check, cliPath, descendants, kill9, leftovers, log, makeWorkspace, type Proc, processEnv, sleep, startCli,
  startDatabase, stopCli
} from "./harness.js"
import { ALIVE_WINDOW_MILLIS } from "../../src/db/WorkerStore.js"
import { freePort } from "../../test/support/postgresServer.js"

const quick = process.argv.includes("--quick")
const keep = process.argv.includes("--keep")
const evaluations = quick ? 90 : 300
const evalMs = quick ? 300 : 400
const slots = 3
const lockExpiration = "8 seconds"

const main = async () => {
  const started = performance.now()
  const checks: Array<Check> = []
  const db = await startDatabase("evolve-cluster-kill-pg-")
  const workspace = makeWorkspace("evolve-cluster-kill-", { evalMs, evaluations, inFlight: 12 })
  const env = processEnv(workspace, { EVOLVE_QUEUE_LOCK_EXPIRATION: lockExpiration })
  const procs: Array<Proc> = []
  const cli = (name: string, args: ReadonlyArray<string>) => {
    const proc = startCli(name, args, workspace.dir, env)
    procs.push(proc)
    return proc
  }
  const figures: Record<string, string | number> = {}
  try {
    log(`Postgres on port ${db.server.port}; workspace ${workspace.dir}; ${evaluations} evaluations of ${evalMs} ms`)
    const controls: Array<Proc> = []
    for (const name of ["control-1", "control-2"]) {
      const port = await freePort()
      controls.push(cli(name, ["serve", "--db", db.url, "--port", "0", "--no-token", "--cluster-host", "127.0.0.1", "--cluster-port", String(port)]))
    }
    await Promise.all(controls.map((c) => c.until(/evolve serve: http/)))
    const workers = [1, 2, 3].map((i) => cli(`worker-${i}`, ["worker", "--db", db.url, "--slots", String(slots)]))
    await Promise.all(workers.map((w) => w.until(/evolve worker \S+: \d+ slots/)))
    log("2 control processes and 3 workers up")

    const runStarted = performance.now()
    const submit = cli("run", ["run", "initial_program.mjs", "evaluator.sh", "--config", "evolve.yaml", "--db", db.url])
    const runId = (await submit.until(/run (\S+): submitted to the cluster/))[1]!
    log(`run ${runId} submitted`)

    /** Committed candidates of the run; undefined while the database does not answer. */
    const committed = () => {
      try {
        return db.scalar(`SELECT count(*) FROM programs WHERE run_id = '${runId}' AND status IN ('evaluated', 'failed')`)
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

    // 1. kill -9 a worker while it evaluates (one of its evaluator processes is running), then a new worker joins.
    await waitCommitted(Math.round(evaluations * 0.15), "killing a worker")
    const victim = workers[0]!
    for (let i = 0; i < 1500 && !descendants(victim.pid).some((p) => p.cmdline.includes("evaluator.sh")); i++) await sleep(20)
    const evaluating = descendants(victim.pid).filter((p) => /^(\S*\/)?sh \S*evaluator\.sh/.test(p.cmdline)).length
    check(checks, "worker killed mid-evaluation", evaluating > 0, `${victim.name} (pid ${victim.pid}) was running ${evaluating} evaluation(s)`)
    figures["committed when worker killed"] = committed() ?? "?"
    await kill9(victim)
    const victimKilledAt = performance.now()
    log(`kill -9 ${victim.name}; starting worker-4`)
    const late = cli("worker-4", ["worker", "--db", db.url, "--slots", String(slots)])
    await late.until(/evolve worker \S+: \d+ slots/)

    // 2. kill -9 the control process hosting the run.
    await waitCommitted(Math.round(evaluations * 0.35), "killing the run's host")
    const hostPattern = new RegExp(`run ${runId}: driven by this control process`)
    const host = controls.find((c) => hostPattern.test(c.output))
    if (host === undefined) throw new Error(`no control process says it drives run ${runId}`)
    const inFlight = db.scalar(`SELECT count(*) FROM programs WHERE run_id = '${runId}' AND status = 'pending' AND code_hash <> ''`)
    figures["in flight when host killed"] = inFlight
    figures["committed when host killed"] = committed() ?? "?"
    await kill9(host)
    const other = controls.find((c) => c !== host)!
    log(`kill -9 ${host.name} (it drove the run; ${inFlight} candidates pending); waiting for ${other.name} to take over`)
    const takeoverFrom = performance.now()
    await other.until(hostPattern, 120_000)
    figures["takeover (s)"] = ((performance.now() - takeoverFrom) / 1000).toFixed(1)
    log(`${other.name} drives the run after ${figures["takeover (s)"]} s`)

    // 3. restart Postgres.
    await waitCommitted(Math.round(evaluations * 0.6), "restarting Postgres")
    const restartFrom = performance.now()
    db.server.restart()
    figures["pg_ctl restart (s)"] = ((performance.now() - restartFrom) / 1000).toFixed(1)
    log(`pg_ctl restart done in ${figures["pg_ctl restart (s)"]} s`)

    // The submitting CLI follows the run to its end.
    const deadline = Date.now() + (quick ? 100_000 : 300_000)
    while (submit.exitCode === null && submit.signal === null && Date.now() < deadline) await sleep(200)
    figures["run wall (s)"] = ((performance.now() - runStarted) / 1000).toFixed(1)
    check(checks, "evolve run followed the run to its end", submit.exitCode === 0 && /completed/.test(submit.output),
      `exit ${submit.exitCode ?? submit.signal ?? "still running"}; ${submit.output.trim().split("\n").at(-1)}`)

    // ---- the checks --------------------------------------------------------------------------
    const rows = db.query(`SELECT status, count(*) FROM programs WHERE run_id = '${runId}' AND code_hash <> '' GROUP BY status`)
    const byStatus = Object.fromEntries(rows.map(([s, n]) => [s!, Number(n)]))
    const done = (byStatus["evaluated"] ?? 0) + (byStatus["failed"] ?? 0)
    check(checks, `${evaluations} committed`, done === evaluations, JSON.stringify(byStatus))
    const [status, stopReason] = db.query(`SELECT status, stop_reason FROM runs WHERE id = '${runId}'`)[0] ?? []
    check(checks, "the run completed", status === "completed", `${status} (${stopReason})`)

    // A commit is one UPDATE … WHERE status = 'pending'; the run counts each candidate once: each
    // committed candidate has one evaluated event, and the run's own total matches the rows.
    const eventTypes = db.query(`SELECT type, count(*) FROM run_events WHERE run_id = '${runId}' GROUP BY type ORDER BY type`)
    figures["events"] = eventTypes.map(([t, n]) => `${t}=${n}`).join(" ")
    const twice = db.query(
      `SELECT data::json->>'programId' AS id, count(*) FROM run_events WHERE run_id = '${runId}' AND type IN ('CandidateEvaluated', 'CandidateFailed')
       GROUP BY 1 HAVING count(*) > 1`
    )
    check(checks, "no candidate committed twice", twice.length === 0, twice.length === 0 ? "each committed candidate reported once" : `${twice.length} twice: ${twice.slice(0, 5).join(" ")}`)

    // Each worker's count of the results it committed (the killed one's as of its last beat): together no more than the rows.
    const workerCommits = db.scalar(`SELECT coalesce(sum(done), 0) FROM workers`)
    check(checks, "workers' commits ≤ committed rows", workerCommits <= done, `${workerCommits} reported by the workers, ${done} rows`)

    const calls = callLines(workspace).length
    const bound = evaluations + slots + inFlight
    figures["evaluator calls"] = calls
    check(checks, "evaluator calls within bound", calls <= bound, `${calls} calls ≤ ${evaluations} + ${slots} (killed worker's slots) + ${inFlight} (killed host's in-flight) = ${bound}`)
    const starts = db.scalar(`SELECT coalesce(sum(eval_starts), 0) FROM programs WHERE run_id = '${runId}'`)
    figures["evaluation starts recorded"] = starts

    const ls = startCli("ls", ["ls", "--db", db.url], workspace.dir, env)
    await ls.exited
    const lsRow = ls.output.split("\n").find((l) => l.includes(runId.slice(0, 8))) ?? ""
    // The killed worker counts as alive until its last heartbeat is older than the alive window.
    const victimMayLookAlive = performance.now() - victimKilledAt < ALIVE_WINDOW_MILLIS + 1000
    const aliveLine = victimMayLookAlive ? /[34] workers? alive/ : /3 workers? alive/
    check(checks, "evolve ls consistent", ls.exitCode === 0 && /completed/.test(lsRow) && new RegExp(`\\b${evaluations}\\b`).test(lsRow) && aliveLine.test(ls.output),
      `exit ${ls.exitCode}: ${lsRow.trim()} | ${ls.output.split("\n").find((l) => /alive/.test(l))?.trim() ?? "no workers line"}`)

    // Everything still running stops on SIGINT, cleanly; then nothing of this test is left.
    await Promise.all(procs.map((p) => stopCli(p)))
    const unclean = procs.filter((p) => p !== victim && p !== host && p.exitCode !== 0 && p.exitCode !== 130)
    check(checks, "processes stopped cleanly", unclean.length === 0, unclean.map((p) => `${p.name}: ${p.exitCode ?? p.signal}`).join(", ") || "all exited on SIGINT")
    await sleep(2_000)
    const left = leftovers([workspace.dir, cliPath])
    check(checks, "no process left", left.length === 0, left.length === 0 ? "none" : left.map((p) => `${p.pid} ${p.cmdline.slice(0, 120)}`).join("; "))
  } catch (error) {
    check(checks, "the scenario ran to its end", false, error instanceof Error ? error.message : String(error))
  } finally {
    for (const p of procs) {
      try {
        process.kill(-p.pid, "SIGKILL")
      } catch {
        // gone
      }
    }
    if (checks.some((c) => !c.ok) || keep) {
      for (const p of procs) console.log(`---- ${p.name} (exit ${p.exitCode ?? p.signal}) ----\n${p.output.split("\n").slice(-40).join("\n")}`)
    }
    db.server.stop()
    if (!keep) rmSync(workspace.dir, { recursive: true, force: true })
  }
  figures["total (s)"] = ((performance.now() - started) / 1000).toFixed(1)
  console.log("\nfigures:")
  for (const [k, v] of Object.entries(figures)) console.log(`  ${k}: ${v}`)
  const failed = checks.filter((c) => !c.ok)
  console.log(`\n${failed.length === 0 ? "PASS" : "FAIL"}: ${checks.length - failed.length}/${checks.length} checks`)
  process.exit(failed.length === 0 ? 0 : 1)
}

void main()
