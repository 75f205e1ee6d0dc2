/**
 * The evaluator's directory shipped with a cluster run: what is collected (and what never is),
 * the size cap's error, the copy a worker writes in its cache (once, checked against the hashes),
 * and the spec pointing at that copy.
 */
import { NodeContext } from "@effect/platform-node"
import { FileSystem } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Option } from "effect"
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
})
