import { NodeContext } from "@effect/platform-node"
import { FileSystem } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { vi } from "vitest"
import * as NodePath from "node:path"
import { decodeRunConfig, loadRunConfig } from "../../src/config/ConfigLoader.js"
import * as ShinkaConfig from "../../src/config/ShinkaConfig.js"
import { fixtureDir } from "../support/processFixtures.js"

/** A run config in the style of ShinkaEvolve's shinka_small.yaml. */
const shinkaYaml = `
max_evaluation_jobs: 3
max_proposal_jobs: 6
max_db_workers: 4
db_config:
  num_islands: 2
  archive_size: 40
  migration_interval: 10
  migration_rate: 0.2
  num_top_k_inspirations: 1
  num_archive_inspirations: 3
  parent_selection_strategy: weighted
  parent_selection_lambda: 8
evo_config:
  task_sys_msg: "Pack circles."
  patch_types: [diff, full, cross]
  patch_type_probs: [0.6, 0.3, 0.1]
  num_generations: 40
  max_api_costs: 2.5
  max_patch_attempts: 3
  language: python
  llm_models: [model-a, model-b]
  llm_kwargs: { temperatures: [0.2, 0.8], max_tokens: 2048 }
  llm_dynamic_selection: ucb1
  llm_dynamic_selection_kwargs: { exploration_coef: 0.5 }
  meta_rec_interval: null
  results_dir: results/x
job_config:
  time: "00:05:00"
`

const shinkaEvaluator = `
import argparse
if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--program_path", type=str, default="initial.py")
    parser.add_argument("--results_dir", type=str, default="results")
`

describe("ShinkaConfig", () => {
  it("detects Shinka run configs, and not evolve's or OpenEvolve's", () => {
    expect(ShinkaConfig.detect({ max_evaluation_jobs: 2 })).toBe(true)
    expect(ShinkaConfig.detect({ evo_config: {} })).toBe(true)
    expect(ShinkaConfig.detect({ db: { num_islands: 2 } })).toBe(true)
    expect(ShinkaConfig.detect({ max_evaluations: 2, evaluator: { contract: "shinka" } })).toBe(false)
    expect(ShinkaConfig.detect({ max_iterations: 2, database: { num_islands: 2 } })).toBe(false)
  })

  it.scoped("loadRunConfig maps a shinka_small.yaml-style file, warns on the rest, and flags still win", () =>
    Effect.gen(function*() {
      const dir = yield* fixtureDir({ "shinka_small.yaml": shinkaYaml })
      const config = yield* loadRunConfig({
        file: NodePath.join(dir, "shinka_small.yaml"),
        flags: [{ flag: "eval-concurrency", path: ["concurrency", "evaluations"], value: 5 }]
      })
      expect(config.evaluator.contract).toBe("shinka")
      expect(config.evaluator.timeout_seconds).toBe(300)
      expect(config.concurrency).toMatchObject({ evaluations: 5, proposals: 6 })
      expect(config.population).toMatchObject({
        islands: 2,
        migration_interval: 10,
        migration_fraction: 0.2,
        selection: "fitness_weighted",
        weight_sharpness: 8,
        inspirations: { top: 1, diverse: 3 }
      })
      expect(config.goal).toBe("Pack circles.")
      expect(config.max_evaluations).toBe(40)
      expect(config.budget_usd).toBe(2.5)
      expect(config.edit_format).toBe("diff")
      expect(config.search.max_patch_retries).toBe(2)
      expect(config.llm).toMatchObject({
        provider: "openai-chat",
        temperature: 0.2,
        max_tokens: 2048,
        selection: "bandit",
        bandit_exploration: 0.5,
        models: [{ model: "model-a" }, { model: "model-b" }]
      })
    }).pipe(Effect.provide(NodeContext.layer)))

  it("names every key it does not map: ignored keys apart from values read differently", () => {
    const { ignored, warnings } = ShinkaConfig.map({
      max_db_workers: 4,
      db_config: { archive_size: 40, parent_selection_strategy: "sequential" },
      evo_config: { patch_types: ["diff", "cross"], results_dir: "r", meta_rec_interval: null, evolve_prompts: false }
    })
    expect(ignored).toEqual([
      { key: "max_db_workers", why: "evolve writes its database from one fiber" },
      { key: "db_config.archive_size", why: "no equivalent in evolve" },
      { key: "evo_config.results_dir", why: "evolve takes the program from the command line and keeps results in its database" }
    ])
    expect(warnings).toEqual([
      "db_config.parent_selection_strategy: ignored (evolve has no \"sequential\" selection; population.selection stays)",
      "evo_config.patch_types: cross: ignored (evolve has no crossover edits)"
    ])
  })

  it.scoped("a Shinka config prints one summary line for its ignored keys; --verbose lists them", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped()
      const file = `${dir}/shinka_small.yaml`
      yield* fs.writeFileString(
        file,
        "max_evaluation_jobs: 2\nmax_db_workers: 4\ndb_config:\n  archive_size: 40\n  num_islands: 2\nevo_config:\n  results_dir: r\n  use_text_feedback: true\n  num_generations: 10\n"
      )
      const printed = (verbose: boolean) =>
        Effect.gen(function*() {
          const lines: Array<string> = []
          const spy = vi.spyOn(console, "error").mockImplementation((...args) => void lines.push(args.join(" ")))
          yield* loadRunConfig({ file, env: {}, verbose }).pipe(Effect.ensuring(Effect.sync(() => spy.mockRestore())))
          return lines
        })
      const quiet = yield* printed(false)
      expect(quiet).toHaveLength(1)
      expect(quiet[0]).toMatch(/read as a ShinkaEvolve config .*; 4 keys with no meaning in evolve ignored \(max_db_workers, db_config.archive_size, .*--verbose says why\)/)
      const verbose = yield* printed(true)
      expect(verbose).toHaveLength(5)
      expect(verbose[1]).toMatch(/max_db_workers: ignored \(evolve writes its database from one fiber\)/)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("one model becomes llm.model, so --model can replace it", () =>
    Effect.gen(function*() {
      const config = yield* decodeRunConfig(ShinkaConfig.map({ evo_config: { llm_models: ["only"] } }).config)
      expect(config.llm.model).toBe("only")
      expect(config.llm.models).toBeUndefined()
    }))

  it.scoped("an evaluate.py taking --program_path and --results_dir implies the shinka contract without a config", () =>
    Effect.gen(function*() {
      const dir = yield* fixtureDir({ "evaluate.py": shinkaEvaluator, "evaluator.py": "def evaluate(program_path):\n    return {}\n" })
      const inferred = yield* loadRunConfig({ evaluator: NodePath.join(dir, "evaluate.py") })
      expect(inferred.evaluator.contract).toBe("shinka")
      const plain = yield* loadRunConfig({ evaluator: NodePath.join(dir, "evaluator.py") })
      expect(plain.evaluator.contract).toBe("command")
      const explicit = yield* loadRunConfig({ evaluator: NodePath.join(dir, "evaluate.py"), base: { evaluator: { contract: "command" } } })
      expect(explicit.evaluator.contract).toBe("command")
    }).pipe(Effect.provide(NodeContext.layer)))
})
