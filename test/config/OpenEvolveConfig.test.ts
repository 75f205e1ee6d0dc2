import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
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
  })

  it.effect("maps what has a meaning in evolve and warns about the rest", () =>
    Effect.gen(function*() {
      const { config, warnings } = OpenEvolveConfig.map({
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
        database: { num_islands: 5, population_size: 100, random_seed: 1 }
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
        extra_body: { top_p: 0.9 }
      })
      expect(decoded.evaluator).toMatchObject({
        contract: "openevolve",
        timeout_seconds: 90,
        cascade_evaluation: true,
        cascade_thresholds: [0.4, 0.8],
        memory_mb: 1024
      })
      expect(decoded.concurrency.evaluations).toBe(3)
      expect(warnings.join("\n")).toMatch(/^log_level: ignored/m)
      expect(warnings.join("\n")).toMatch(/^prompt.num_top_programs: ignored/m)
      expect(warnings.join("\n")).toMatch(/^llm.retry_delay: ignored/m)
      expect(warnings.join("\n")).toMatch(/^evaluator.max_retries: ignored/m)
      expect(warnings.join("\n")).toMatch(/^evaluator.use_llm_feedback: ignored/m)
      expect(warnings.join("\n")).toMatch(/^database.num_islands: ignored/m)
      expect(warnings.join("\n")).toMatch(/^database.population_size: ignored/m)
      expect(warnings.some((w) => w.startsWith("llm.api_key"))).toBe(false)
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
})
