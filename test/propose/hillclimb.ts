/**
 * A minimal hill-climb over an example, used by tests (and by hand with EVOLVE_HILLCLIMB_N):
 * OfflineModel proposes a diff on a prompt from buildPrompt, Edits applies it, the example's
 * evaluator scores it in a child process, and the best program is kept.
 */
import { LanguageModel } from "@effect/ai"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Effect, Either, Random } from "effect"
import * as OfflineModel from "../../src/llm/OfflineModel.js"
import { applyResponse } from "../../src/propose/Edits.js"
import { buildPrompt } from "../../src/propose/Prompt.js"

export interface Scored {
  readonly score: number
  readonly metrics: Record<string, number>
}

export const evaluateFile = (command: ReadonlyArray<string>, cwd: string, path: string): Scored | { error: string } => {
  try {
    const out = execFileSync(command[0]!, [...command.slice(1), path], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 })
    const last = out.trim().split("\n").at(-1)!
    const metrics = JSON.parse(last) as Record<string, number>
    return { score: metrics["combined_score"]!, metrics }
  } catch (error) {
    const e = error as { stderr?: string; message: string }
    return { error: (e.stderr || e.message).slice(-300) }
  }
}

export interface ClimbResult {
  readonly initial: Scored
  readonly best: Scored & { readonly code: string; readonly at: number }
  readonly evaluations: number
  readonly patchFailures: number
  readonly evalFailures: number
  readonly history: ReadonlyArray<number>
}

export const hillClimb = (options: {
  readonly dir: string
  readonly program: string
  readonly command: ReadonlyArray<string>
  readonly language: string
  readonly evaluations: number
  readonly seed: number
}) =>
  Effect.gen(function*() {
    const model = yield* LanguageModel.LanguageModel
    const tmp = mkdtempSync(join(tmpdir(), "evolve-climb-"))
    const ext = options.program.slice(options.program.lastIndexOf("."))
    try {
      const initialCode = readFileSync(join(options.dir, options.program), "utf8")
      const initial = evaluateFile(options.command, options.dir, resolve(options.dir, options.program))
      if ("error" in initial) throw new Error(`initial program failed: ${initial.error}`)
      let best = { ...initial, code: initialCode, at: 0 }
      const failures: Array<{ kind: string; message: string }> = []
      const history: Array<number> = []
      let evaluations = 0
      let patchFailures = 0
      let evalFailures = 0
      for (let attempt = 0; evaluations < options.evaluations && attempt < options.evaluations * 3; attempt++) {
        const prompt = buildPrompt({
          goal: "Minimise the function",
          language: options.language,
          editFormat: "diff",
          parent: { code: best.code, metrics: best.metrics, score: best.score, feedback: null },
          inspirations: [],
          recentFailures: failures.slice(-5)
        })
        const response = yield* model.generateText({
          prompt: [
            { role: "system", content: prompt.system },
            { role: "user", content: [{ type: "text", text: prompt.user }] }
          ]
        })
        const applied = applyResponse(best.code, response.text, { format: "diff", maxCodeBytes: 1 << 20 })
        if (Either.isLeft(applied)) {
          patchFailures++
          failures.push({ kind: "patch", message: applied.left.message })
          continue
        }
        evaluations++
        const file = join(tmp, `candidate_${evaluations}${ext}`)
        writeFileSync(file, applied.right.code)
        const result = evaluateFile(options.command, options.dir, file)
        if ("error" in result) {
          evalFailures++
          failures.push({ kind: "evaluation", message: result.error })
          history.push(best.score)
          continue
        }
        if (result.score > best.score) best = { ...result, code: applied.right.code, at: evaluations }
        history.push(best.score)
      }
      return { initial, best, evaluations, patchFailures, evalFailures, history } satisfies ClimbResult
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  }).pipe(Effect.provide(OfflineModel.layer), Effect.withRandom(Random.make(options.seed)))
