/**
 * Materialising a multi-file candidate (evaluate/TreeMaterializer.ts): a 50-file project of
 * about 2 KB per file, one file changed per candidate, written as a directory per candidate
 * (hard links into the cache, or copies), then removed as an evaluation's temp dir is.
 */
import { NodeContext } from "@effect/platform-node"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import * as ProgramTree from "../../src/domain/ProgramTree.js"
import * as TreeMaterializer from "../../src/evaluate/TreeMaterializer.js"

export const timeMaterialize = (mode: TreeMaterializer.Mode, runs: number): Promise<Array<number>> =>
  Effect.gen(function*() {
    const root = mkdtempSync(join(tmpdir(), "evolve-bench-tree-"))
    try {
      const m = yield* TreeMaterializer.make(join(root, "cache"), mode)
      let files = Array.from({ length: 50 }, (_, i) => ({
        path: `pkg/sub${i % 5}/module_${i}.py`,
        content: Array.from({ length: 50 }, (_, l) => `value_${l} = ${i * 1000 + l}  # line ${l}`).join("\n") + "\n"
      }))
      const times: Array<number> = []
      for (let k = -2; k < runs; k++) {
        const i = ((k + 2) * 7) % files.length
        files = files.map((f, j) => (j === i ? { ...f, content: `${f.content}# candidate ${k}\n` } : f))
        const code = ProgramTree.pack(files)
        const target = join(root, `c${k + 2}`)
        const t0 = performance.now()
        yield* m.materialize(code, target)
        const t1 = performance.now()
        rmSync(target, { recursive: true, force: true })
        if (k >= 0) times.push(t1 - t0)
      }
      return times
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  }).pipe(Effect.provide(NodeContext.layer), Effect.runPromise)
