/**
 * 7. Disk trouble mid-run, with the database on its own small filesystem:
 *
 * - full: a size-limited tmpfs (`mount -t tmpfs -o size=…`) is filled up while the run writes;
 * - read-only: the database files and their directory are made immutable (`chattr +i`; a
 *   read-only remount of a filesystem with files open for writing fails with EBUSY, and root
 *   ignores permission bits, so immutability is how "the disk became read-only" is simulated).
 *
 * evolve must stop the run with a clear message (not hang, no stack trace), lose nothing already
 * committed, and `resume` must finish the run once the trouble is fixed. Needs root (mount,
 * chattr); otherwise the scenario reports SKIP with the reason.
 */
import { execFileSync } from "node:child_process"
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs"
import { join } from "node:path"
import {
  check,
  committedEvaluations,
  committedRows,
  configFile,
  countingEvaluator,
  integrityCheck,
  killMatching,
  looksLikeStackTrace,
  lostOrChanged,
  newResult,
  runCli,
  type ScenarioResult,
  startCli,
  waitFor,
  workspace
} from "../harness.js"
import type { Options } from "../options.js"
import { writeFileSync } from "node:fs"

const sh = (cmd: string, args: ReadonlyArray<string>) => execFileSync(cmd, args as Array<string>, { stdio: "pipe", timeout: 20_000 })

const fillUp = (dir: string) => {
  const fd = openSync(join(dir, "filler"), "w")
  const chunk = Buffer.alloc(64 * 1024, 1)
  try {
    for (let i = 0; i < 100_000; i++) writeSync(fd, chunk)
  } catch {
    // ENOSPC: full
  } finally {
    closeSync(fd)
  }
}

interface Trouble {
  readonly name: "full" | "read-only"
  readonly start: (dbDir: string, db: string) => void
  readonly fix: (dbDir: string, db: string) => void
}

const full: Trouble = {
  name: "full",
  start: (dbDir) => fillUp(dbDir),
  fix: (dbDir) => rmSync(join(dbDir, "filler"), { force: true })
}

/**
 * The database, its WAL and its directory. Not the -shm file: SQLite maps it into memory, and a
 * write fault on an immutable mapping kills the process with SIGBUS (measured: exit 135), which
 * says more about chattr than about evolve.
 */
const immutable = (on: boolean, dbDir: string, db: string) => {
  for (const f of [db, `${db}-wal`, dbDir]) {
    try {
      sh("chattr", [on ? "+i" : "-i", f])
    } catch {
      // a file that does not exist (-shm/-wal) or an unsupported filesystem
    }
  }
}

const readOnly: Trouble = {
  name: "read-only",
  start: (dbDir, db) => immutable(true, dbDir, db),
  fix: (dbDir, db) => immutable(false, dbDir, db)
}

const scenario = async (trouble: Trouble, options: Options): Promise<ScenarioResult> => {
  const target = options.quick ? 60 : 150
  const result = newResult(trouble.name === "full" ? "7a" : "7b", `Disk trouble: database ${trouble.name === "full" ? "disk full" : "read-only"} mid-run`)
  const ws = workspace(`disk-${trouble.name}`)
  const dbDir = join(ws.dir, "dbfs")
  mkdirSync(dbDir, { recursive: true })
  const db = join(dbDir, "run.db")
  const log = join(ws.dir, "evaluated.log")
  writeFileSync(join(ws.dir, "counting_evaluator.mjs"), countingEvaluator(log))
  writeFileSync(join(ws.dir, "rel.yaml"), configFile({ max_evaluations: target, concurrency: { proposals: 4, evaluations: 3 }, llm: { provider: "offline" } }))
  let mounted = false
  try {
    if (trouble.name === "full") {
      try {
        sh("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", dbDir])
        mounted = true
      } catch (error) {
        result.verdict = "SKIP"
        result.notes.push(`cannot mount a size-limited tmpfs here (${String(error).split("\n")[0]}): needs root`)
        return result
      }
    } else {
      try {
        writeFileSync(join(dbDir, "probe"), "x")
        sh("chattr", ["+i", join(dbDir, "probe")])
        sh("chattr", ["-i", join(dbDir, "probe")])
        rmSync(join(dbDir, "probe"))
      } catch (error) {
        result.verdict = "SKIP"
        result.notes.push(`chattr +i is not available here (${String(error).split("\n")[0]}): needs root and ext2/3/4, xfs or btrfs`)
        return result
      }
    }
    const proc = startCli(["run", "initial_program.mjs", "counting_evaluator.mjs", "--config", "rel.yaml", "--db", db], {
      cwd: ws.dir,
      timeoutMs: 5 * 60_000
    })
    const progressed = await waitFor(() => {
      try {
        return committedEvaluations(db) >= 15
      } catch {
        return false
      }
    }, 60_000)
    check(result, "run makes progress before the trouble", progressed)
    const before = committedRows(db)
    trouble.start(dbDir, db)
    const stopped = await Promise.race([proc.done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 60_000))])
    const out = proc.output()
    const message = (out.stdout + out.stderr).trim().split("\n").slice(-4).join(" | ")
    if (!stopped) {
      process.kill(-proc.pid, "SIGKILL")
      await proc.done
    }
    const exit = stopped ? (await proc.done).code : null
    result.attempts = 1
    // The reason may come as an error on stderr or as the run's summary ("failed (…)") on stdout.
    const said = `${out.stdout}\n${out.stderr}`.split("\n").filter((l) =>
      /database error|: failed \(/.test(l) && /database|statement/i.test(l) &&
      /(full|space|read-?only|permission|not permitted|disk|I\/O)/i.test(l.replace(/\/\S+/g, ""))
    )
    const stoppedClearly = stopped && exit === 1 && said.length > 0
    check(result, "evolve stops the run (does not hang) within 60 s", stopped, stopped ? `exit ${exit}` : "still running after 60 s: killed")
    check(result, "with exit 1 and a clear message naming the database and the cause", stoppedClearly, message.slice(0, 400))
    check(result, "no stack trace", !looksLikeStackTrace(out.stderr), out.stderr.slice(-600))
    result.figures["exit"] = stopped ? `${exit}${(await proc.done).signal ? ` (${(await proc.done).signal})` : ""}` : "still running after 60 s"
    result.figures["message"] = (said[0] ?? message).trim().slice(0, 300)
    killMatching([ws.tmp])

    trouble.fix(dbDir, db)
    const lost = lostOrChanged(before, committedRows(db))
    check(result, "nothing committed before the trouble is lost", lost.length === 0, lost.slice(0, 5).join("\n"))
    const resumed = await runCli(["resume", "--db", db], { cwd: ws.dir, timeoutMs: 5 * 60_000 })
    check(result, "resume finishes the run once fixed", resumed.code === 0, `${resumed.code}: ${(resumed.stdout + resumed.stderr).slice(-600)}`)
    const lostAfter = lostOrChanged(before, committedRows(db))
    check(result, "nothing committed is lost after resume", lostAfter.length === 0, lostAfter.slice(0, 5).join("\n"))
    const evaluations = committedEvaluations(db)
    check(result, `evaluations committed = ${target}`, evaluations === target, `${evaluations}`)
    const verdict = integrityCheck(db)
    check(result, "PRAGMA integrity_check = ok", verdict === "ok", verdict)
    result.lost = new Set([...lost, ...lostAfter]).size
    result.survived = result.verdict === "FAIL" ? 0 : 1
    result.figures["committed before the trouble / at the end"] = `${before.size} rows / ${evaluations} evaluations`
    return result
  } finally {
    killMatching([ws.tmp, ws.dir])
    if (trouble.name === "read-only") immutable(false, dbDir, db)
    if (mounted) {
      try {
        sh("umount", ["-l", dbDir])
      } catch {
        // already unmounted
      }
    }
  }
}

export const diskTrouble = async (options: Options): Promise<Array<ScenarioResult>> => [
  await scenario(full, options),
  await scenario(readOnly, options)
]
