/**
 * A multi-file candidate reaches every contract as a directory: its files in place, made of
 * links into a cache (or copies as root), and a candidate writing into its files never changes
 * what the next candidate gets.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import { tmpdir } from "node:os"
import * as NodePath from "node:path"
import * as ProgramTree from "../../src/domain/ProgramTree.js"
import * as CommandEvaluator from "../../src/evaluate/CommandEvaluator.js"
import { Evaluator } from "../../src/evaluate/Evaluator.js"
import * as TreeMaterializer from "../../src/evaluate/TreeMaterializer.js"
import { expectScored, withPythonEvaluator } from "../support/evaluatorFixtures.js"

const tree = (k: number) =>
  ProgramTree.pack([
    { path: "pkg/__init__.py", content: "" },
    { path: "pkg/value.py", content: `K = ${k}\n` },
    { path: "main.py", content: "from pkg.value import K\n\ndef run():\n    return {'score': K}\n" }
  ])

/** Imports the candidate directory as a package root, and scribbles over its file afterwards. */
const importing = (arg: string) => `
import importlib, os, sys
def score(program_path):
    assert os.path.isdir(program_path), program_path
    sys.path.insert(0, program_path)
    for name in [m for m in sys.modules if m == "main" or m.startswith("pkg")]:
        del sys.modules[name]
    result = importlib.import_module("main").run()
    try:
        with open(os.path.join(program_path, "pkg", "value.py"), "w") as f:
            f.write("K = -1\\n")
    except OSError:
        pass
    return result
${arg}`

describe("multi-file candidates", () => {
  const commandDir = NodeFs.mkdtempSync(NodePath.join(tmpdir(), "evolve-tree-eval-"))
  NodeFs.writeFileSync(NodePath.join(commandDir, "eval.py"), importing("import json\nprint(json.dumps(score(sys.argv[1])))\n"))
  it.scopedLive("command contract: the evaluator gets the directory", () =>
    Effect.gen(function*() {
      const evaluator = yield* Evaluator
      for (const k of [3, 3, 5]) {
        const outcome = yield* evaluator.evaluate({ programId: `p${k}`, code: tree(k), extension: "" })
        expect(expectScored(outcome).score).toBe(k)
      }
    }).pipe(Effect.provide(CommandEvaluator.layer({
      command: ["python3", "eval.py"],
      cwd: commandDir,
      timeoutMs: 10_000,
      killGraceMs: 200,
      outputCapBytes: 64 * 1024,
      primaryMetric: "score",
      keepArtifacts: false
    }).pipe(Layer.provide(NodeContext.layer)))))

  for (const contract of ["openevolve", "shinka"] as const) {
    it.scopedLive(`${contract} contract: the evaluator gets the directory`, () =>
      withPythonEvaluator(
        contract === "openevolve"
          ? { "evaluator.py": importing("def evaluate(program_path):\n    return score(program_path)\n") }
          : {
            "evaluate.py": importing(`
import argparse, json
if __name__ == "__main__":
    p = argparse.ArgumentParser(); p.add_argument("--program_path"); p.add_argument("--results_dir"); a = p.parse_args()
    r = score(a.program_path)
    json.dump({"combined_score": r["score"]}, open(os.path.join(a.results_dir, "metrics.json"), "w"))
    json.dump({"correct": True}, open(os.path.join(a.results_dir, "correct.json"), "w"))
`)
          },
        { contract, timeoutMs: 10_000 },
        (evaluate) =>
          Effect.gen(function*() {
            for (const k of [4, 4, 6]) expect(expectScored(yield* evaluate(tree(k))).score).toBe(k)
          })
      ))
  }

  it.scoped("the materialiser links (or copies) a 50-file tree and leaves the cache intact", () =>
    Effect.gen(function*() {
      const root = NodeFs.mkdtempSync(NodePath.join(tmpdir(), "evolve-tree-mat-"))
      for (const mode of ["link", "copy"] as const) {
        const m = yield* TreeMaterializer.make(NodePath.join(root, `cache-${mode}`), mode)
        const files = Array.from({ length: 50 }, (_, i) => ({ path: `d${i % 5}/f${i}.py`, content: `x = ${i}\n` }))
        yield* m.materialize(ProgramTree.pack(files), NodePath.join(root, `${mode}-1`))
        yield* m.materialize(ProgramTree.pack(files), NodePath.join(root, `${mode}-2`))
        expect(NodeFs.readFileSync(NodePath.join(root, `${mode}-2`, "d3", "f13.py"), "utf8")).toBe("x = 13\n")
        const a = NodeFs.statSync(NodePath.join(root, `${mode}-1`, "d3", "f13.py"))
        const b = NodeFs.statSync(NodePath.join(root, `${mode}-2`, "d3", "f13.py"))
        expect(a.ino === b.ino).toBe(mode === "link")
        const bad = yield* Effect.exit(m.materialize(ProgramTree.pack([{ path: "../x", content: "" }]), NodePath.join(root, `${mode}-3`)))
        expect(bad._tag).toBe("Failure")
      }
    }).pipe(Effect.provide(NodeContext.layer)))
})
