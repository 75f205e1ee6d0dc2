/**
 * What `evolve steer`, `evolve prompts` and `evolve answer` do (SteerCommand.ts): requests to the
 * steering API of `evolve serve` (ServerClient.ts).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { Console, Effect, Option } from "effect"
import { bad, connect, type ServerFlags, withHttp } from "./ServerClient.js"

/** The flags of `evolve steer` (SteerCommand.ts). */
export interface SteerArgs extends ServerFlags {
  readonly runId: string
  readonly hint: Option.Option<string>
  readonly replaceGuidance: boolean
  readonly clearHint: Option.Option<number>
  readonly pin: ReadonlyArray<string>
  readonly unpin: boolean
  readonly ban: ReadonlyArray<string>
  readonly inject: Option.Option<string>
  readonly note: Option.Option<string>
  readonly parallel: Option.Option<number>
  readonly evalConcurrency: Option.Option<number>
  readonly modelWeight: ReadonlyArray<string>
  readonly extend: Option.Option<number>
}

interface Step {
  readonly label: string
  readonly method: "POST" | "DELETE"
  readonly path: string
  readonly body?: unknown
}

/** The requests the flags ask for, in a fixed order. */
export const steps = (args: SteerArgs, injected: Option.Option<string>) =>
  Effect.gen(function*() {
    const out: Array<Step> = []
    const run = `/api/runs/${encodeURIComponent(args.runId)}`
    if (Option.isSome(args.clearHint)) out.push({ label: `clear hint ${args.clearHint.value}`, method: "DELETE", path: `${run}/hints/${args.clearHint.value}` })
    if (Option.isSome(args.hint)) {
      out.push({ label: args.replaceGuidance ? "replace the guidance" : "add a hint", method: "POST", path: `${run}/hints`, body: { text: args.hint.value, replace: args.replaceGuidance } })
    } else if (args.replaceGuidance) return yield* bad("--replace-guidance needs --hint")
    if (args.unpin) out.push({ label: "unpin", method: "POST", path: `${run}/unpin` })
    if (args.pin.length > 0) out.push({ label: `pin ${args.pin.join(", ")}`, method: "POST", path: `${run}/pin`, body: { programIds: args.pin } })
    for (const id of args.ban) out.push({ label: `ban ${id}`, method: "POST", path: `${run}/ban`, body: { programId: id } })
    for (const pair of args.modelWeight) {
      const match = /^(.+)=([0-9]*\.?[0-9]+)$/.exec(pair)
      if (match === null) return yield* bad(`--model-weight: expected NAME=WEIGHT (a non-negative number), got ${JSON.stringify(pair)}`)
      out.push({ label: `model ${match[1]} weight ${match[2]}`, method: "POST", path: `${run}/model-weight`, body: { model: match[1], weight: Number(match[2]) } })
    }
    if (Option.isSome(args.parallel) || Option.isSome(args.evalConcurrency)) {
      const body = { proposals: Option.getOrUndefined(args.parallel), evaluations: Option.getOrUndefined(args.evalConcurrency) }
      out.push({ label: "set concurrency", method: "POST", path: `${run}/concurrency`, body })
    }
    if (Option.isSome(injected)) {
      out.push({ label: "inject", method: "POST", path: `${run}/inject`, body: { code: injected.value, note: Option.getOrUndefined(args.note) } })
    }
    if (Option.isSome(args.extend) && args.extend.value < 1) return yield* bad("--extend: expected a positive number of evaluations")
    return out
  })

const describeSteering = (s: any): string => {
  const lines: Array<string> = []
  const active = (s.guidance as Array<any>).filter((h) => h.clearedAt === null)
  lines.push(active.length === 0 ? "guidance: none" : `guidance:\n${active.map((h) => `  [${h.version}] ${h.text}`).join("\n")}`)
  if (s.pinned.length > 0) lines.push(`pinned parents: ${s.pinned.join(", ")}`)
  if (s.banned.length > 0) lines.push(`banned parents: ${s.banned.join(", ")}`)
  const weights = Object.entries(s.modelWeights as Record<string, number>)
  if (weights.length > 0) lines.push(`model weights: ${weights.map(([m, w]) => `${m}=${w}`).join(", ")}`)
  return lines.join("\n")
}

export const steerRun = (args: SteerArgs) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const injected = yield* Effect.transposeOption(Option.map(args.inject, (file) =>
      fs.readFileString(file).pipe(Effect.mapError((e) => bad(`--inject ${file}: ${e.message}`)))))
    const todo = yield* steps(args, injected)
    const { call } = yield* connect(args, "steer")
    for (const step of todo) {
      const json = yield* call(step.label, step.method, step.path, step.body)
      yield* Console.log(step.label === "inject" ? `injected program ${json.programId}` : `${step.label}: done`)
    }
    const run = `/api/runs/${encodeURIComponent(args.runId)}`
    if (Option.isSome(args.extend)) {
      // N more evaluations than the run has, or may have: a completed run runs again.
      const detail = yield* call("read the run", "GET", run)
      const max = Math.max(detail.maxEvaluations, detail.evaluated) + args.extend.value
      const extended = yield* call("extend", "POST", `${run}/extend`, { max_evaluations: max })
      yield* Console.log(`extended to ${max} evaluations (run ${extended.status})`)
    }
    yield* Console.log(describeSteering(yield* call("read the steering", "GET", `${run}/steering`)))
  }).pipe(withHttp)

/** `evolve prompts <run>`: the prompts of the run's human models waiting for an answer. */
export const listPrompts = (args: ServerFlags & { readonly runId: string }) =>
  Effect.gen(function*() {
    const { call } = yield* connect(args, "prompts")
    const prompts: Array<any> = yield* call("list prompts", "GET", `/api/runs/${encodeURIComponent(args.runId)}/prompts`)
    if (prompts.length === 0) return yield* Console.log("no prompt waits for an answer")
    for (const p of prompts) yield* Console.log(`=== prompt ${p.id} (model ${p.model}, ${new Date(p.at).toISOString()})\n${p.user}\n`)
    yield* Console.log("answer one with: evolve answer <prompt-id> <file>  (SEARCH/REPLACE blocks, or the whole program)")
  }).pipe(withHttp)

/** `evolve answer <prompt-id> <file>`: the file is the answer; a bare program is sent as a fenced code block. */
export const answerPrompt = (args: ServerFlags & { readonly promptId: string; readonly file: string }) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(args.file).pipe(Effect.mapError((e) => bad(`${args.file}: ${e.message}`)))
    const answer = /^(```|~~~)/m.test(text) || /^<{7} SEARCH/m.test(text) ? text : "```\n" + text.replace(/\n?$/, "\n") + "```\n"
    const { call } = yield* connect(args, "answer")
    yield* call(`answer ${args.promptId}`, "POST", `/api/prompts/${encodeURIComponent(args.promptId)}/answer`, { text: answer })
    yield* Console.log(`answered ${args.promptId}`)
  }).pipe(withHttp)
