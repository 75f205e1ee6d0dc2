import { RunConfig, type RunSpec } from "../../src/domain/RunConfig.js"
import { ProgramId, RunId } from "../../src/domain/Ids.js"
import type { Program } from "../../src/domain/Program.js"

export const specWith = (config: Partial<typeof RunConfig.Encoded> = {}): RunSpec => ({
  programPath: "/tmp/program.py",
  evaluatorPath: "/tmp/evaluator.py",
  config: RunConfig.make(config as never)
})

export const program = (
  overrides: Omit<Partial<Program>, "id" | "runId" | "parentId"> & { id: string; runId: string; parentId?: string | null }
): Program => ({
  island: 0,
  generation: 0,
  code: `print(${JSON.stringify(overrides.id)})`,
  codeHash: `hash-${overrides.id}`,
  patch: null,
  status: "pending",
  metrics: null,
  score: null,
  failure: null,
  feedback: null,
  createdAt: 0,
  evaluatedAt: null,
  evalMs: null,
  llm: null,
  ...overrides,
  id: ProgramId.make(overrides.id),
  runId: RunId.make(overrides.runId),
  parentId: overrides.parentId ? ProgramId.make(overrides.parentId) : null
})

