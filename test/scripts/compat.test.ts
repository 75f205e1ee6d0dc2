import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { layoutOf, needs } from "../../scripts/compat/index.js"

const example = (files: ReadonlyArray<string>) => {
  const dir = mkdtempSync(join(tmpdir(), "evolve-compat-layout-"))
  for (const f of files) {
    mkdirSync(join(dir, f, ".."), { recursive: true })
    writeFileSync(join(dir, f), "")
  }
  return dir
}

describe("npm run compat: example layouts", () => {
  it("finds OpenEvolve's and ShinkaEvolve's program, evaluator and config", () => {
    expect(layoutOf(example(["initial_program.rs", "evaluator.py", "config.yaml", "README.md"]))).toEqual({
      program: "initial_program.rs",
      evaluator: "evaluator.py",
      config: "config.yaml"
    })
    expect(layoutOf(example(["initial.py", "evaluate.py", "shinka_small.yaml"]))).toEqual({
      program: "initial.py",
      evaluator: "evaluate.py",
      config: "shinka_small.yaml"
    })
    expect(layoutOf(example(["initial_program.py", "evaluator.py"]))).toEqual({ program: "initial_program.py", evaluator: "evaluator.py", config: undefined })
    expect(layoutOf(example(["README.md"]))).toBe("no initial_program.* / init_program.* / initial.*")
    expect(layoutOf(example(["init_program.py", "evaluator.py", "configs/b.yaml", "configs/a.yaml"]))).toEqual({
      program: "init_program.py",
      evaluator: "evaluator.py",
      config: "configs/a.yaml"
    })
  })

  it("tells what an example lacks from its failure, and a plain failure from a missing thing", () => {
    expect(needs("ModuleNotFoundError: No module named 'jax.numpy'")).toBe("python module jax.numpy")
    expect(needs("evaluator reported Go executable not found")).toBe("go")
    expect(needs("evaluator reported `wolframscript` not found. Install Wolfram Engine")).toBe("wolframscript")
    expect(needs("shinka.llm (evolve's stand-in) needs OPENAI_API_KEY for https://api.openai.com/v1")).toMatch(/LLM key/)
    expect(needs("AssertionError: wrong answer")).toBeUndefined()
  })
})
