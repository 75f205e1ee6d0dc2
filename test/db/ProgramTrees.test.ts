/**
 * Multi-file programs are stored as content-addressed blobs plus a manifest per program: the
 * bytes stored for 1,000 candidates of a 50-file tree (each changing one file) are measured
 * against storing every file of every candidate.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as ProgramTree from "../../src/domain/ProgramTree.js"
import { ProgramId, RunId } from "../../src/domain/Ids.js"
import { allStores } from "../support/database.js"
import { enabledBackends } from "../support/postgres.js"
import { program, specWith } from "../support/runFixtures.js"

const runId = RunId.make("run_trees")

/** A 50-file project of about 2 KB per file. */
const baseFiles = Array.from({ length: 50 }, (_, i) => ({
  path: `pkg/module_${String(i).padStart(2, "0")}.py`,
  content: Array.from({ length: 60 }, (_, l) => `value_${l} = ${i * 1000 + l}  # line ${l} of module ${i}`).join("\n") + "\n"
}))

describe.each(enabledBackends)("program trees on $name", (backend) => {
  it.scoped("store each distinct file once: 1,000 candidates of a 50-file tree", () =>
    Effect.gen(function*() {
      const db = yield* allStores
      const sql = yield* SqlClient.SqlClient
      yield* db.createRun(runId, specWith(), 1)
      // An older single-file program stays as it was.
      yield* db.insertProgram(program({ id: "single", runId, code: "print(1)\n", createdAt: 1 }))
      let files = baseFiles
      let naive = 0
      const packedOf = new Map<string, string>()
      for (let k = 0; k < 1000; k++) {
        const i = (k * 7) % files.length
        files = files.map((f, j) => (j === i ? { ...f, content: f.content.replace(/= (\d+)/, `= ${k}`) } : f))
        const code = ProgramTree.pack(files)
        naive += files.reduce((n, f) => n + Buffer.byteLength(f.content), 0)
        if (k % 100 === 0) packedOf.set(`c${k}`, code)
        yield* db.insertProgram(program({ id: `c${k}`, runId, code, createdAt: 10 + k, parentId: k === 0 ? null : `c${k - 1}` }))
      }
      const [blobs] = yield* sql<{ n: number | string; bytes: number | string }>`SELECT COUNT(*) AS n, SUM(LENGTH(content)) AS bytes FROM blobs`
      const [codes] = yield* sql<{ bytes: number | string }>`SELECT SUM(LENGTH(code)) AS bytes FROM programs`
      const stored = Number(blobs!.bytes) + Number(codes!.bytes)
      console.log(
        `[${backend.name}] 1,000 candidates of a 50-file tree: ${stored} bytes stored (${Number(blobs!.n)} blobs) ` +
          `vs ${naive} bytes for every file of every candidate (${(naive / stored).toFixed(1)}x less)`
      )
      // 50 base files + 1,000 changed files + 1,000 manifests, not 50,000 files.
      expect(Number(blobs!.n)).toBeLessThanOrEqual(50 + 1000 + 1000)
      expect(stored * 10).toBeLessThan(naive)

      for (const [id, code] of packedOf) expect((yield* db.getProgram(id)).code).toBe(code)
      const read = yield* db.getPrograms(["c100", "single", "c900"])
      expect(read.map((p) => p.code)).toEqual([packedOf.get("c100"), "print(1)\n", packedOf.get("c900")])
      // A worker's start-and-read hands over the whole tree too.
      expect((yield* db.startPending(ProgramId.make("c900")))?.code).toBe(packedOf.get("c900"))
      const [row] = yield* sql<{ code: string; tree: string | null }>`SELECT code, tree FROM programs WHERE id = 'single'`
      expect(row).toEqual({ code: "print(1)\n", tree: null })
    }).pipe(Effect.provide(backend.layer)), { timeout: 60_000 })
})
