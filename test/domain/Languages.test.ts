import { describe, expect, it } from "vitest"
import { languageOf } from "../../src/domain/Languages.js"

describe("languageOf", () => {
  it("names the languages of the peers' examples by extension, whatever the case", () => {
    const expected: Record<string, string> = {
      "kernel.f90": "fortran",
      "alu.sv": "systemverilog",
      "adder.v": "verilog",
      "regression.r": "r",
      "regression.R": "r",
      "solve.jl": "julia",
      "main.go": "go",
      "sort.rs": "rust",
      "pack.wl": "wolfram language",
      "attention.mlir": "mlir",
      "k.cu": "cuda",
      "initial_program.py": "python"
    }
    for (const [file, language] of Object.entries(expected)) expect([file, languageOf(file)]).toEqual([file, language])
    expect(languageOf("notes")).toBe("text")
    expect(languageOf("dir.v1/notes")).toBe("text")
  })
})
