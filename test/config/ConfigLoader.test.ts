import { NodeContext } from "@effect/platform-node"
import { FileSystem } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { decodeRunConfig, loadRunConfig } from "../../src/config/ConfigLoader.js"
import { resolveRunSpec } from "../../src/config/RunSpecs.js"

const withFile = (content: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped()
    const file = `${dir}/evolve.yaml`
    yield* fs.writeFileString(file, content)
    return file
  })

const errorOf = <A, E extends { message: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flip(effect).pipe(Effect.map((e) => e.message))

describe("loadRunConfig", () => {
  it.scoped("applies defaults < file < environment < flags", () =>
    Effect.gen(function*() {
      const file = yield* withFile("max_evaluations: 10\nconcurrency:\n  proposals: 3\n  evaluations: 3\nseed: 7\n")
      const fromFile = yield* loadRunConfig({ file })
      expect(fromFile.max_evaluations).toBe(10)
      expect(fromFile.concurrency.proposals).toBe(3)
      expect(fromFile.evaluator.timeout_seconds).toBe(60)

      const env = { EVOLVE_ITERATIONS: "20", EVOLVE_PARALLEL: "6", EVOLVE_LLM_CONCURRENCY: "9" }
      const fromEnv = yield* loadRunConfig({ file, env })
      expect(fromEnv.max_evaluations).toBe(20)
      expect(fromEnv.concurrency.evaluations).toBe(6)
      expect(fromEnv.concurrency.proposals).toBe(9)
      expect(fromEnv.seed).toBe(7)

      const fromFlags = yield* loadRunConfig({
        file,
        env,
        flags: [{ flag: "iterations", path: ["max_evaluations"], value: 30 }]
      })
      expect(fromFlags.max_evaluations).toBe(30)
      expect(fromFlags.concurrency.proposals).toBe(9)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("names the file, key path and expectation for each kind of bad input", () =>
    Effect.gen(function*() {
      const unknown = yield* withFile("concurrency:\n  proposal: 3\n")
      expect(yield* errorOf(loadRunConfig({ file: unknown }))).toMatch(/evolve\.yaml: concurrency\.proposal: unknown key/)

      const wrongType = yield* withFile("max_evaluations: lots\n")
      expect(yield* errorOf(loadRunConfig({ file: wrongType }))).toMatch(
        /evolve\.yaml: max_evaluations: expected .*number.*"lots"/
      )

      const outOfRange = yield* withFile("concurrency:\n  evaluations: 0\n")
      expect(yield* errorOf(loadRunConfig({ file: outOfRange }))).toMatch(
        /evolve\.yaml: concurrency\.evaluations: expected an integer from 1 to 1024, got 0/
      )

      const badYaml = yield* withFile("max_evaluations: [1, 2\n")
      expect(yield* errorOf(loadRunConfig({ file: badYaml }))).toMatch(/evolve\.yaml:\d+:\d+: invalid YAML/)

      const notMapping = yield* withFile("- 1\n- 2\n")
      expect(yield* errorOf(loadRunConfig({ file: notMapping }))).toMatch(/expected a mapping/)

      const badProvider = yield* withFile("llm:\n  provider: magic\n")
      expect(yield* errorOf(loadRunConfig({ file: badProvider }))).toMatch(/llm\.provider: expected "offline" \| "openai-chat"/)

      expect(yield* errorOf(loadRunConfig({ file: "/nonexistent/evolve.yaml" }))).toMatch(
        /\/nonexistent\/evolve\.yaml: cannot read config file/
      )
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("names the environment variable or flag a bad value came from", () =>
    Effect.gen(function*() {
      expect(yield* errorOf(loadRunConfig({ env: { EVOLVE_PARALLEL: "many" } }))).toBe(
        "environment variable EVOLVE_PARALLEL: expected an integer, got \"many\""
      )
      expect(yield* errorOf(loadRunConfig({ env: { EVOLVE_ITERATIONS: "-5" } }))).toMatch(
        /environment variable EVOLVE_ITERATIONS: max_evaluations: expected an integer from 1 to/
      )
      expect(
        yield* errorOf(loadRunConfig({ flags: [{ flag: "timeout", path: ["evaluator", "timeout_seconds"], value: -1 }] }))
      ).toMatch(/flag --timeout: evaluator\.timeout_seconds: expected a positive number, got -1/)
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("the LLM provider", () => {
  it.scoped("is inferred as openai-chat from a model or base URL given without one", () =>
    Effect.gen(function*() {
      const model = { flag: "model", path: ["llm", "model"], value: "qwen" }
      const baseUrl = { flag: "base-url", path: ["llm", "base_url"], value: "http://127.0.0.1:9/v1" }
      expect((yield* loadRunConfig({ flags: [model] })).llm.provider).toBe("openai-chat")
      expect((yield* loadRunConfig({ flags: [baseUrl] })).llm.provider).toBe("openai-chat")
      expect((yield* loadRunConfig({ env: { EVOLVE_MODEL: "qwen" } })).llm.provider).toBe("openai-chat")
      expect((yield* loadRunConfig({ file: yield* withFile("llm:\n  model: qwen\n") })).llm.provider).toBe("openai-chat")
      // An explicit provider wins; OPENAI_BASE_URL in the environment alone does not switch evolve online.
      const offline = { flag: "provider", path: ["llm", "provider"], value: "offline" }
      expect((yield* loadRunConfig({ flags: [offline, model] })).llm.provider).toBe("offline")
      expect((yield* loadRunConfig({ env: { OPENAI_BASE_URL: "http://127.0.0.1:9/v1" } })).llm.provider).toBe("offline")
      expect((yield* loadRunConfig({})).llm.provider).toBe("offline")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("an OpenEvolve config always means an OpenAI-compatible server", () =>
    Effect.gen(function*() {
      const file = yield* withFile("max_iterations: 3\nllm:\n  temperature: 0.5\n")
      expect((yield* loadRunConfig({ file })).llm.provider).toBe("openai-chat")
      expect((yield* loadRunConfig({ file: yield* withFile("max_iterations: 3\n") })).llm.provider).toBe("openai-chat")
    }).pipe(Effect.provide(NodeContext.layer)))
})

describe("resolveRunSpec", () => {
  it.scoped("inlines prompt template files, and refuses a missing one as a config error", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      yield* fs.writeFileString(`${dir}/program.py`, "x = 1\n")
      yield* fs.writeFileString(`${dir}/evaluator.py`, "print('{}')\n")
      yield* fs.writeFileString(`${dir}/system.txt`, "SYSTEM {{language}}")
      const config = yield* decodeRunConfig({ prompt: { system_template_file: "system.txt" } })
      // Relative to the working directory first, then the program's directory.
      const { spec } = yield* resolveRunSpec(`${dir}/program.py`, `${dir}/evaluator.py`, config, process.execPath)
      expect(spec.config.prompt.system_template).toBe("SYSTEM {{language}}")
      expect(spec.config.prompt.system_template_file).toBeUndefined()

      const missing = yield* decodeRunConfig({ prompt: { user_template_file: "nope.txt" } })
      const error = yield* Effect.flip(resolveRunSpec(`${dir}/program.py`, `${dir}/evaluator.py`, missing, process.execPath))
      expect(error.message).toMatch(/prompt\.user_template_file: cannot read .*nope\.txt/)
    }).pipe(Effect.provide(NodeContext.layer)))
})
