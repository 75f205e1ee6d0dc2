import { NodeContext } from "@effect/platform-node"
import { describe, expect, it, vi } from "@effect/vitest"
import { FileSystem } from "@effect/platform"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as Yaml from "yaml"
import { decodeRunConfig, loadRunConfig } from "../../src/config/ConfigLoader.js"
import * as OpenEvolveConfig from "../../src/config/OpenEvolveConfig.js"

const readYaml = (file: string) => Yaml.parse(NodeFs.readFileSync(file, "utf8")) as Record<string, unknown>

describe("OpenEvolveConfig", () => {
  it("detects OpenEvolve files, and not evolve's own", () => {
    expect(OpenEvolveConfig.detect(readYaml("examples/circle_packing/config.yaml"))).toBe(true)
    expect(OpenEvolveConfig.detect(readYaml("examples/function_minimization_py/evolve.yaml"))).toBe(false)
    expect(OpenEvolveConfig.detect(readYaml("examples/shinka_spread_points/evolve.yaml"))).toBe(false)
    expect(OpenEvolveConfig.detect({ llm: { api_base: "http://x/v1" } })).toBe(true)
    expect(OpenEvolveConfig.detect({ llm: { models: [{ name: "m", weight: 1 }] } })).toBe(true)
    expect(OpenEvolveConfig.detect({ llm: { models: [{ model: "m" }] } })).toBe(false)
    expect(OpenEvolveConfig.detect({ evaluator: { cascade_evaluation: true } })).toBe(true)
    expect(OpenEvolveConfig.detect({ database: { num_islands: 3 } })).toBe(true)
    // Both have a prompt section; OpenEvolve's has keys evolve's lacks.
    expect(OpenEvolveConfig.detect({ prompt: { user_template_file: "t.md", max_failures: 3 } })).toBe(false)
    expect(OpenEvolveConfig.detect({ prompt: { system_message: "Be fast." } })).toBe(true)
  })

  it("keeps evolve's own prompt keys in a file that mixes both formats", () => {
    const { config, ignored } = OpenEvolveConfig.map({
      max_iterations: 3,
      prompt: { system_message: "Be fast.", num_top_programs: 3, user_template_file: "t.md" }
    })
    expect(config.goal).toBe("Be fast.")
    expect(config.prompt).toEqual({ user_template_file: "t.md" })
    expect(ignored.map((i) => i.key)).toContain("prompt.num_top_programs")
  })

  it.effect("maps what has a meaning in evolve and warns about the rest", () =>
    Effect.gen(function*() {
      const { config, ignored, warnings } = OpenEvolveConfig.map({
        max_iterations: 250,
        random_seed: 7,
        language: "python",
        diff_based_evolution: false,
        log_level: "INFO",
        goal: "kept: an evolve key in an OpenEvolve file",
        prompt: { system_message: "ignored: goal given", num_top_programs: 3 },
        llm: {
          api_base: "http://127.0.0.1:8000/v1",
          api_key: "${MY_KEY}",
          primary_model: "qwen",
          temperature: 0.3,
          max_tokens: 2048,
          timeout: 30,
          retries: 2,
          top_p: 0.9,
          retry_delay: 5
        },
        evaluator: {
          timeout: 90,
          cascade_evaluation: true,
          cascade_thresholds: [0.4, 0.8],
          parallel_evaluations: 3,
          memory_limit_mb: 1024,
          max_retries: 3,
          use_llm_feedback: false
        },
        database: { num_islands: 5, population_size: 100, random_seed: 1, log_prompts: false }
      })
      const decoded = yield* decodeRunConfig(config)
      expect(decoded.max_evaluations).toBe(250)
      expect(decoded.seed).toBe(7)
      expect(decoded.language).toBe("python")
      expect(decoded.edit_format).toBe("full")
      expect(decoded.goal).toBe("kept: an evolve key in an OpenEvolve file")
      expect(decoded.llm).toMatchObject({
        provider: "openai-chat",
        base_url: "http://127.0.0.1:8000/v1",
        api_key_env: "MY_KEY",
        model: "qwen",
        temperature: 0.3,
        max_tokens: 2048,
        timeout_seconds: 30,
        max_retries: 2,
        extra_body: { top_p: 0.9 },
        log_prompts: false
      })
      expect(decoded.evaluator).toMatchObject({
        contract: "openevolve",
        timeout_seconds: 90,
        cascade_evaluation: true,
        cascade_thresholds: [0.4, 0.8],
        memory_mb: 1024
      })
      expect(decoded.concurrency.evaluations).toBe(3)
      const keys = ignored.map((i) => i.key)
      expect(keys).toEqual(expect.arrayContaining([
        "log_level",
        "prompt.num_top_programs",
        "llm.retry_delay",
        "evaluator.max_retries",
        "evaluator.use_llm_feedback",
        "database.population_size"
      ]))
      expect(keys).not.toContain("database.num_islands")
      expect(decoded.population.islands).toBe(5)
      expect(warnings).toEqual([])
    }))

  it.effect("several models become an ensemble; a literal API key is refused with a warning", () =>
    Effect.gen(function*() {
      const { config, warnings } = OpenEvolveConfig.map({
        max_iterations: 10,
        llm: { models: [{ name: "a", weight: 0.7 }, { name: "b", weight: 0.3, api_base: "http://b/v1" }], api_key: "sk-literal" }
      })
      const decoded = yield* decodeRunConfig(config)
      expect(decoded.llm.models).toEqual([{ model: "a", weight: 0.7 }, { model: "b", weight: 0.3, base_url: "http://b/v1" }])
      expect(decoded.evaluator.cascade_thresholds).toEqual([0.5, 0.75, 0.9])
      expect(warnings.find((w) => w.startsWith("llm.api_key"))).toMatch(/never reads API keys from files/)
      expect(JSON.stringify(config)).not.toContain("sk-literal")
    }))

  it.effect("llm.provider: claude_code runs Claude Code as provider agent, with a warning naming the command", () =>
    Effect.gen(function*() {
      const single = OpenEvolveConfig.map({ max_iterations: 5, llm: { provider: "claude_code", primary_model: "sonnet" } })
      const decoded = yield* decodeRunConfig(single.config)
      expect(decoded.llm.provider).toBe("agent")
      expect(decoded.llm.agent).toMatchObject({
        command: ["claude", "-p", "--output-format", "json", "--permission-mode", "acceptEdits", "--model", "sonnet"],
        prompt: "stdin",
        pass_env: ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"]
      })
      expect(single.warnings.find((w) => w.startsWith("llm.provider: claude_code"))).toContain(
        "`claude -p --output-format json --permission-mode acceptEdits --model sonnet`"
      )
      const ensemble = OpenEvolveConfig.map({
        llm: { provider: "claude_code", models: [{ name: "opus", weight: 0.2 }, { name: "haiku", weight: 0.8 }] }
      })
      const models = (yield* decodeRunConfig(ensemble.config)).llm.models!
      expect(models.map((m) => m.agent?.command.at(-1))).toEqual(["opus", "haiku"])
      // A mixed file's own llm.agent wins, and the warning names it.
      const own = OpenEvolveConfig.map({ max_iterations: 5, llm: { provider: "claude_code", agent: { command: ["my-agent"] } } })
      expect((yield* decodeRunConfig(own.config)).llm.agent?.command).toEqual(["my-agent"])
      expect(own.warnings.join("\n")).toContain("`my-agent`")
    }))

  it.effect("loadRunConfig reads the circle packing example's config.yaml; flags still win", () =>
    Effect.gen(function*() {
      const config = yield* loadRunConfig({
        file: "examples/circle_packing/config.yaml",
        env: {},
        flags: [{ flag: "provider", path: ["llm", "provider"], value: "offline" }]
      })
      expect(config.max_evaluations).toBe(100)
      expect(config.evaluator.contract).toBe("openevolve")
      expect(config.evaluator.cascade_evaluation).toBe(false)
      expect(config.evaluator.timeout_seconds).toBe(60)
      expect(config.concurrency.evaluations).toBe(2)
      expect(config.llm.provider).toBe("offline")
      expect(config.goal).toMatch(/Pack 26 circles/)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("maps island, stopping and MAP-Elites settings instead of calling them ignored", () =>
    Effect.gen(function*() {
      const { config, ignored, warnings } = OpenEvolveConfig.map({
        max_iterations: 10,
        early_stopping_patience: 30,
        llm: {
          api_base: "",
          models: [{ name: "sonnet", weight: 0.8, max_budget_usd: 1 }, { name: "haiku", weight: 0.2, api_base: "" }]
        },
        database: {
          num_islands: 4,
          migration_interval: 20,
          migration_rate: 0.2,
          exploitation_ratio: 0.6,
          feature_dimensions: ["complexity", "diversity", "accuracy"],
          feature_bins: { complexity: 5, accuracy: 8 }
        }
      })
      const decoded = yield* decodeRunConfig(config)
      expect(decoded.patience).toBe(30)
      expect(decoded.population).toMatchObject({ islands: 4, migration_interval: 20, migration_fraction: 0.2, exploitation: 0.6 })
      expect(decoded.population.map_elites?.features).toEqual([
        { name: "code_length", bins: 5 },
        { name: "edit_distance", bins: 10 },
        { name: "accuracy", bins: 8 }
      ])
      expect(decoded.llm.base_url).toBe("https://api.openai.com/v1")
      expect(decoded.llm.provider).toBe("openai-chat")
      expect(decoded.llm.models).toEqual([{ model: "sonnet", weight: 0.8 }, { model: "haiku", weight: 0.2 }])
      expect(ignored).toEqual([])
      expect(warnings).toEqual(["llm.models.0.max_budget_usd: ignored (evolve's budget is per run: set budget_usd)"])
      // OpenEvolve's "never stop early" (arc_benchmark) is evolve's absent patience.
      const never = yield* decodeRunConfig(OpenEvolveConfig.map({ max_iterations: 3, early_stopping_patience: -1 }).config)
      expect(never.patience).toBeUndefined()
    }))

  it.scoped("errors name the file's own key; a flag overrides a bad value before it is validated", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const file = `${dir}/config.yaml`
      yield* fs.writeFileString(file, "max_iterations: 5\nllm:\n  provider: bedrock\n  api_base: \"not a url\"\n  primary_model: sonnet\n")
      const quiet = { env: {}, file }
      expect((yield* Effect.flip(loadRunConfig(quiet))).message).toContain(`${file}: llm.provider: expected "offline"`)
      const badUrl = { env: {}, file, flags: [{ flag: "provider", path: ["llm", "provider"], value: "openai-chat" }] }
      expect((yield* Effect.flip(loadRunConfig(badUrl))).message).toBe(
        `${file}: llm.api_base (evolve's llm.base_url): expected an http(s) URL, got "not a url"`
      )
      const loaded = yield* loadRunConfig({
        ...quiet,
        flags: [
          { flag: "provider", path: ["llm", "provider"], value: "openai-chat" },
          { flag: "base-url", path: ["llm", "base_url"], value: "http://127.0.0.1:1/v1" }
        ]
      })
      expect(loaded.llm).toMatchObject({ provider: "openai-chat", base_url: "http://127.0.0.1:1/v1", model: "sonnet" })
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scoped("one summary line for the ignored keys; --verbose lists them", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const file = `${dir}/config.yaml`
      yield* fs.writeFileString(file, "max_iterations: 5\nlog_level: INFO\ncheckpoint_interval: 2\nprompt:\n  num_top_programs: 3\n  use_template_stochasticity: true\ndatabase:\n  population_size: 9\n  archive_size: 3\n")
      const printed = (verbose: boolean) =>
        Effect.gen(function*() {
          const lines: Array<string> = []
          const spy = vi.spyOn(console, "error").mockImplementation((...args) => void lines.push(args.join(" ")))
          yield* loadRunConfig({ file, env: {}, verbose }).pipe(Effect.ensuring(Effect.sync(() => spy.mockRestore())))
          return lines
        })
      const quiet = yield* printed(false)
      expect(quiet).toHaveLength(1)
      expect(quiet[0]).toMatch(/read as an OpenEvolve config .*; 6 keys with no meaning in evolve ignored \(log_level, checkpoint_interval, .*--verbose says why\)/)
      const verbose = yield* printed(true)
      expect(verbose).toHaveLength(7)
      expect(verbose[1]).toMatch(/log_level: ignored \(evolve logs/)
    }).pipe(Effect.provide(NodeContext.layer)))
})
