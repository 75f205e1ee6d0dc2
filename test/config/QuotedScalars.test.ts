import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { parseConfigText } from "../../src/config/ConfigLoader.js"

// An OpenEvolve-style config with quoted scalars whose continuation lines are not indented past
// their key (as OpenEvolve's attention_optimization config.yaml). `expected` is PyYAML's reading.
const pyYamlStyle = `# An OpenEvolve-style config, as PyYAML reads it
max_iterations: 20
llm:
  primary_model: "o3"
  temperature: 0.7
prompt:
  system_message: "
  You are an expert in \\"MLIR\\" compilers.
    Tile sizes:
    - **Small** (16x16): locality

  Keep it correct.
  "
  other: 'it''s
  fine'
  num_top_programs: 3
seq:
  - "a
  b"
evaluator:
  timeout: 60
`
const expected = {
  max_iterations: 20,
  llm: { primary_model: "o3", temperature: 0.7 },
  prompt: {
    system_message: " You are an expert in \"MLIR\" compilers. Tile sizes: - **Small** (16x16): locality\nKeep it correct. ",
    other: "it's fine",
    num_top_programs: 3
  },
  seq: ["a b"],
  evaluator: { timeout: 60 }
}

const parse = (text: string) => parseConfigText(text, "config.yaml", { maxBytes: 1 << 20 })

describe("config YAML as PyYAML reads it", () => {
  it.effect("quoted scalars with continuation lines at their key's indentation", () =>
    Effect.gen(function*() {
      expect(yield* parse(pyYamlStyle)).toEqual(expected)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("still refuses YAML that is broken, naming the line", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(parse("prompt:\n  system_message: \"never closed\n  num: 3\n"))
      expect(error.message).toMatch(/^config\.yaml:\d+:\d+: invalid YAML: Missing closing "quote/)
    }))

  it.effect("an alias bomb is a config error, not a crash", () =>
    Effect.gen(function*() {
      const lines = ["l0: &l0 [x, x]", ...Array.from({ length: 30 }, (_, i) => `l${i + 1}: &l${i + 1} [*l${i}, *l${i}]`)]
      const error = yield* Effect.flip(parse(lines.join("\n")))
      expect(error._tag).toBe("ConfigError")
      expect(error.message).toMatch(/config\.yaml: invalid YAML: .*alias/i)
    }))
})
