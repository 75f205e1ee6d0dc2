/**
 * The evaluator's directory shipped with a cluster run: what is collected (and what never is),
 * the size cap's error, the copy a worker writes in its cache (once, checked against the hashes),
 * and the spec pointing at that copy.
 */
import { NodeContext } from "@effect/platform-node"
import { FileSystem } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Duration, Effect, Option, TestClock } from "effect"
import { EvaluatorFileStore } from "../../src/db/EvaluatorFileStore.js"
import * as Db from "../../src/db/ProgramDatabase.js"
import { RunStore } from "../../src/db/RunStore.js"
import { RunId } from "../../src/domain/Ids.js"
import * as EvaluatorShipping from "../../src/engine/EvaluatorShipping.js"
import { specWith } from "../support/runFixtures.js"

/** An evaluator directory: the evaluator, a helper package, data, and what must not travel. */
const evaluatorDir = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const dir = yield* fs.makeTempDirectoryScoped()
  const root = `${dir}/ev`
  for (const sub of ["pkg", ".git", "__pycache__", "node_modules/x"]) yield* fs.makeDirectory(`${root}/${sub}`, { recursive: true })
  yield* fs.writeFileString(`${root}/evaluate.py`, "import pkg.helper\n")
  yield* fs.chmod(`${root}/evaluate.py`, 0o755)
  yield* fs.writeFileString(`${root}/pkg/helper.py`, "X = 1\n")
  yield* fs.writeFileString(`${root}/data.txt`, "1 2 3\n")
  yield* fs.writeFileString(`${root}/.env`, "SECRET=1\n")
  yield* fs.writeFileString(`${root}/.git/HEAD`, "ref\n")
  yield* fs.writeFileString(`${root}/__pycache__/helper.pyc`, "x")
  yield* fs.writeFileString(`${root}/node_modules/x/index.js`, "x")
  yield* fs.writeFileString(`${root}/run.db`, "x")
  yield* fs.writeFileString(`${root}/run.db-wal`, "x")
  return { dir, root }
})

describe("shipping the evaluator's files", () => {
  it.scoped("collects the evaluator's directory without hidden files, caches and databases", () =>
    Effect.gen(function*() {
      const { root } = yield* evaluatorDir
      const { bundle, contents } = yield* EvaluatorShipping.collect(`${root}/evaluate.py`)
      expect(bundle.root).toBe(root)
      expect(bundle.entry).toBe("evaluate.py")
      expect(bundle.files.map((f) => [f.path, f.executable])).toEqual([["data.txt", false], ["evaluate.py", true], ["pkg/helper.py", false]])
      expect(contents.size).toBe(3)
      expect(bundle.bundleHash).toMatch(/^[0-9a-f]{64}$/)
      // The same files give the same identity; a changed file another one.
      expect((yield* EvaluatorShipping.collect(`${root}/evaluate.py`)).bundle.bundleHash).toBe(bundle.bundleHash)
      const fs = yield* FileSystem.FileSystem
      yield* fs.writeFileString(`${root}/data.txt`, "4 5 6\n")
      expect((yield* EvaluatorShipping.collect(`${root}/evaluate.py`)).bundle.bundleHash).not.toBe(bundle.bundleHash)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("refuses a directory over the cap, and a missing evaluator, with a clear error", () =>
    Effect.gen(function*() {
      const { root } = yield* evaluatorDir
      const big = yield* Effect.flip(EvaluatorShipping.collect(`${root}/evaluate.py`, { maxBytes: 20 }))
      expect(big.message).toBe(
        `the evaluator's directory ${root} holds more than 0.0 MB of files: a cluster run ships that directory to its workers; ` +
          `put the evaluator and the files it needs in a directory of their own`
      )
      const many = yield* Effect.flip(EvaluatorShipping.collect(`${root}/evaluate.py`, { maxFiles: 2 }))
      expect(many.message).toContain("holds more than 2 files")
      const missing = yield* Effect.flip(EvaluatorShipping.collect(`${root}/nope.py`))
      expect(missing.message).toBe(`the evaluator ${root}/nope.py is not a readable file`)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("writes the shipped directory once into the cache and points the spec at it", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { dir, root } = yield* evaluatorDir
      const runs = yield* RunStore
      const base = specWith()
      const spec = {
        ...base,
        config: {
          ...base.config,
          evaluator: {
            ...base.config.evaluator,
            command: ["python3", `${root}/evaluate.py`, "--data", `${root}/data.txt`, "/elsewhere"],
            env: { DATA: root, OTHER: "x" },
            python: `${root}/bin/python3`
          }
        }
      }
      const runId = RunId.make("run_ship")
      yield* runs.createRun(runId, { ...spec, evaluatorPath: `${root}/evaluate.py` }, 0)
      const collected = yield* EvaluatorShipping.collect(`${root}/evaluate.py`)
      yield* EvaluatorShipping.save(runId, collected)
      // The worker's machine has no such directory.
      yield* fs.rename(root, `${dir}/moved`)
      const cacheDir = `${dir}/cache`
      const local = yield* EvaluatorShipping.localSpec(runId, spec, cacheDir)
      const copy = `${cacheDir}/${collected.bundle.bundleHash}`
      expect(local.evaluatorPath).toBe(`${copy}/evaluate.py`)
      expect(local.config.evaluator.command).toEqual(["python3", `${copy}/evaluate.py`, "--data", `${copy}/data.txt`, "/elsewhere"])
      expect(local.config.evaluator.env).toEqual({ DATA: copy, OTHER: "x" })
      expect(local.config.evaluator.python).toBe(`${copy}/bin/python3`)
      expect(yield* fs.readFileString(`${copy}/pkg/helper.py`)).toBe("X = 1\n")
      expect(((yield* fs.stat(`${copy}/evaluate.py`)).mode & 0o111) !== 0).toBe(true)
      expect(((yield* fs.stat(`${copy}/data.txt`)).mode & 0o111) === 0).toBe(true)
      expect(yield* fs.readDirectory(cacheDir)).toEqual([collected.bundle.bundleHash])
      expect((yield* fs.stat(copy)).mode & 0o777).toBe(0o755)
      // Reused as it is: a file written into the copy (a cache of the evaluator's) stays.
      yield* fs.writeFileString(`${copy}/scratch`, "kept")
      yield* EvaluatorShipping.localSpec(runId, spec, cacheDir)
      expect(yield* fs.readFileString(`${copy}/scratch`)).toBe("kept")
      // A run that shipped nothing (stored before, or on one machine) keeps its spec.
      expect(yield* EvaluatorShipping.localSpec(RunId.make("run_other"), spec, cacheDir)).toBe(spec)
      // A blob altered in the database is refused, and no partial copy is left behind.
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE evaluator_blobs SET content = ${Buffer.from("tampered").toString("base64")}`
      const store = yield* EvaluatorFileStore
      const bundle = Option.getOrThrow(yield* store.getBundle(runId))
      const failure = yield* Effect.flip(EvaluatorShipping.materialise(`${dir}/cache2`, bundle))
      expect(failure.message).toMatch(/does not match its hash/)
      expect(yield* fs.readDirectory(`${dir}/cache2`)).toEqual([])
      // Once no run lists them, the janitor's prune deletes the blobs.
      expect(yield* store.pruneBlobs).toBe(0)
      yield* sql`DELETE FROM run_evaluator_files`
      expect(yield* store.pruneBlobs).toBe(3)
    }).pipe(Effect.provide(Db.layer(":memory:")), Effect.provide(NodeContext.layer)))

  it.scoped("bounds the cache to the most recently used copies, keeping those in use or used within the hour", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const cacheDir = `${yield* fs.makeTempDirectoryScoped()}/cache`
      const names = ["1", "2", "3", "4", "5", "6"].map((c) => c.repeat(64))
      const [c1, c2, c3, c4, c5, c6] = names as [string, string, string, string, string, string]
      for (const name of names) {
        yield* fs.makeDirectory(`${cacheDir}/${name}/pkg`, { recursive: true })
        yield* fs.writeFileString(`${cacheDir}/${name}/pkg/evaluate.py`, "x")
      }
      // A copy a killed worker was writing, and what is not the cache's own.
      const partial = `${c1}.partial-AbC123`
      yield* fs.makeDirectory(`${cacheDir}/${partial}`)
      yield* fs.makeDirectory(`${cacheDir}/notes`)
      yield* fs.writeFileString(`${cacheDir}/README`, "mine")
      // Used one after the other, a minute apart (the TestClock starts at 0).
      yield* EvaluatorShipping.touch(`${cacheDir}/${partial}`)
      for (const name of [c1, c2, c3, c4, c5]) {
        yield* EvaluatorShipping.touch(`${cacheDir}/${name}`)
        yield* TestClock.adjust(Duration.minutes(1))
      }
      yield* TestClock.adjust(Duration.hours(2))
      yield* EvaluatorShipping.touch(`${cacheDir}/${c6}`)
      const listing = Effect.map(fs.readDirectory(cacheDir), (n) => [...n].sort())

      // Within its bound the cache keeps everything but the stale partial write.
      expect(yield* EvaluatorShipping.prune(cacheDir, { keep: 6, inUse: new Set() })).toEqual([partial])
      expect(yield* listing).toEqual([...names, "README", "notes"].sort())

      // Bound to 2: c6 and c5 are the most recent; c1 is in use; c2..c4 go, least recently used first.
      expect(yield* EvaluatorShipping.prune(cacheDir, { keep: 2, inUse: new Set([c1]) })).toEqual([c2, c3, c4])
      expect(yield* listing).toEqual([c1, c5, c6, "README", "notes"].sort())

      // A copy used within the last hour stays beyond the bound: another worker of this machine may be evaluating with it.
      yield* TestClock.adjust(Duration.minutes(30))
      yield* EvaluatorShipping.touch(`${cacheDir}/${c1}`)
      yield* TestClock.adjust(Duration.minutes(10))
      expect(yield* EvaluatorShipping.prune(cacheDir, { keep: 1, inUse: new Set() })).toEqual([c5])
      expect(yield* listing).toEqual([c1, c6, "README", "notes"].sort())
      // Once it is an hour old, the bound holds.
      yield* TestClock.adjust(Duration.hours(1))
      expect(yield* EvaluatorShipping.prune(cacheDir, { keep: 1, inUse: new Set() })).toEqual([c6])
      expect(yield* listing).toEqual([c1, "README", "notes"].sort())
      // A missing cache directory is an empty cache.
      expect(yield* EvaluatorShipping.prune(`${cacheDir}/none`, { keep: 1, inUse: new Set() })).toEqual([])
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("marks a copy used each time a worker takes it from the cache", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { dir, root } = yield* evaluatorDir
      const runs = yield* RunStore
      const spec = specWith()
      const runId = RunId.make("run_used")
      yield* runs.createRun(runId, { ...spec, evaluatorPath: `${root}/evaluate.py` }, 0)
      const collected = yield* EvaluatorShipping.collect(`${root}/evaluate.py`)
      yield* EvaluatorShipping.save(runId, collected)
      const cacheDir = `${dir}/cache`
      yield* TestClock.adjust(Duration.hours(5))
      const first = yield* EvaluatorShipping.localRun(runId, spec, cacheDir)
      const copy = `${cacheDir}/${collected.bundle.bundleHash}`
      expect(first.copy).toEqual(Option.some({ dir: copy, name: collected.bundle.bundleHash }))
      const usedAt = Effect.map(fs.stat(copy), (info) => Option.map(info.mtime, (d) => d.getTime()))
      expect(yield* usedAt).toEqual(Option.some(Duration.toMillis(Duration.hours(5))))
      yield* TestClock.adjust(Duration.minutes(7))
      yield* EvaluatorShipping.localRun(runId, spec, cacheDir)
      expect(yield* usedAt).toEqual(Option.some(Duration.toMillis(Duration.hours(5)) + Duration.toMillis(Duration.minutes(7))))
      // A run that shipped nothing has no copy.
      expect((yield* EvaluatorShipping.localRun(RunId.make("run_none"), spec, cacheDir)).copy).toEqual(Option.none())
    }).pipe(Effect.provide(Db.layer(":memory:")), Effect.provide(NodeContext.layer)))
})
