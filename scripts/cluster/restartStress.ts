/**
 * The cluster under a Postgres that keeps restarting: one control process (`evolve serve`), one
 * worker and a following `evolve run`, with `pg_ctl restart -m fast` every 0.15–0.5 s for the
 * first `restarts` (default 40) of the run. Each restart cuts whatever statements are in flight,
 * somewhere else each time; the kill test restarts three times only. It passes when the run
 * completes with every evaluation committed, the CLI followed it to its end and nothing crashed.
 * Found the CLI's and the run actor's gaps of 2026-12-07 (docs/cluster.md).
 *
 *   npm run build && node dist/scripts/cluster/restartStress.js [restarts]
 */
import { rmSync } from "node:fs"
import { freePort } from "../../test/support/postgresServer.js"
import { check, type Check, type Database, log, makeWorkspace, type Proc, processEnv, sleep, startCli, startDatabase, stopCli } from "./harness.js"

const restarts = Number(process.argv[2] ?? 40)
const evaluations = 120

const main = async () => {
  const checks: Array<Check> = []
  const procs: Array<Proc> = []
  let db: Database | undefined
  const ws = makeWorkspace("evolve-restart-stress-", { evalMs: 300, evaluations, inFlight: 12 })
  try {
    db = await startDatabase("evolve-restart-stress-pg-")
    const database = db
    const env = processEnv(ws)
    const cli = (name: string, args: ReadonlyArray<string>) => {
      const proc = startCli(name, args, ws.dir, env)
      procs.push(proc)
      return proc
    }
    const port = await freePort()
    const control = cli("control", ["serve", "--db", database.url, "--port", "0", "--no-token", "--cluster-host", "127.0.0.1", "--cluster-port", String(port)])
    await control.until(/evolve serve: http/)
    const worker = cli("worker", ["worker", "--db", database.url, "--slots", "3"])
    await worker.until(/evolve worker (\S+): \d+ slots/)
    const submit = cli("run", ["run", "initial_program.mjs", "evaluator.sh", "--config", "evolve.yaml", "--db", database.url])
    const runId = (await submit.until(/run (\S+): submitted to the cluster/))[1]!
    let done = 0
    for (; done < restarts && submit.exitCode === null; done++) {
      await sleep(150 + (done % 7) * 60)
      database.server.restart()
    }
    log(`${done} restarts of Postgres`)
    const deadline = Date.now() + 300_000
    while (submit.exitCode === null && submit.signal === null && Date.now() < deadline) await sleep(200)
    check(checks, "evolve run followed the run to its end", submit.exitCode === 0 && /completed/.test(submit.output), submit.output.trim().split("\n").at(-1) ?? "")
    const committed = database.scalar(`SELECT count(*) FROM programs WHERE run_id = '${runId}' AND status IN ('evaluated', 'failed')`)
    check(checks, `${evaluations} committed`, committed === evaluations, `${committed}`)
    const resumed = control.output.split("\n").filter((l) => /its actor ended/.test(l)).length
    log(`the run's actor ended with a cut statement and was resumed ${resumed} times`)
    await Promise.all([control, worker].map((p) => stopCli(p)))
    check(checks, "control and worker stopped cleanly", [control, worker].every((p) => p.exitCode === 0 || p.exitCode === 130),
      `control ${control.exitCode ?? control.signal}, worker ${worker.exitCode ?? worker.signal}`)
  } catch (error) {
    check(checks, "the scenario ran to its end", false, error instanceof Error ? error.message : String(error))
  } finally {
    if (checks.some((c) => !c.ok)) for (const p of procs) console.log(`---- ${p.name} (exit ${p.exitCode ?? p.signal}) ----\n${p.output.split("\n").slice(-40).join("\n")}`)
    for (const p of procs) {
      try {
        process.kill(-p.pid, "SIGKILL")
      } catch {
        // gone
      }
    }
    db?.server.stop()
    rmSync(ws.dir, { recursive: true, force: true })
  }
  const failed = checks.filter((c) => !c.ok)
  console.log(`\n${failed.length === 0 ? "PASS" : "FAIL"}: ${checks.length - failed.length}/${checks.length} checks`)
  process.exit(failed.length === 0 ? 0 : 1)
}

void main()
