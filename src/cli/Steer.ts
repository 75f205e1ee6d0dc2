/** What `evolve steer` does (SteerCommand.ts): each action one request to the server's steering API. */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Path from "@effect/platform/Path"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Config, Console, Effect, Option } from "effect"
import { ConfigError } from "../domain/Errors.js"
import { CliExit } from "./CliExit.js"

/** The flags of `evolve steer` (SteerCommand.ts). */
export interface SteerArgs {
  readonly runId: string
  readonly server: Option.Option<string>
  readonly tokenFile: Option.Option<string>
  readonly db: Option.Option<string>
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

/** Where `evolve serve` keeps its database by default (its serve.token is written next to it). */
const defaultDatabase = ".evolve/evolve.db"

const bad = (message: string) => new ConfigError({ message })
const envOption = (name: string) => Config.option(Config.string(name)).pipe(Effect.orElseSucceed(() => Option.none<string>()))

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

/** The token: --token-file, else EVOLVE_TOKEN, else the serve.token the server wrote next to its database; none when there is none. */
const token = (args: SteerArgs) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    if (Option.isSome(args.tokenFile)) {
      const file = args.tokenFile.value
      return Option.some((yield* fs.readFileString(file).pipe(Effect.mapError((e) => bad(`--token-file ${file}: ${e.message}`)))).trim())
    }
    const fromEnv = yield* envOption("EVOLVE_TOKEN")
    if (Option.isSome(fromEnv) && fromEnv.value !== "") return fromEnv
    const dbPath = Option.isSome(args.db) ? args.db.value : Option.getOrElse(yield* envOption("EVOLVE_DB"), () => defaultDatabase)
    const file = path.join(path.dirname(path.resolve(dbPath)), "serve.token")
    return yield* fs.readFileString(file).pipe(Effect.map((t) => Option.some(t.trim())), Effect.orElseSucceed(() => Option.none<string>()))
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
    const server = (Option.isSome(args.server) ? args.server.value : Option.getOrElse(yield* envOption("EVOLVE_SERVER"), () => "http://127.0.0.1:8765"))
      .replace(/\/+$/, "")
    const bearer = yield* token(args)
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest((r) => (Option.isSome(bearer) ? HttpClientRequest.bearerToken(r, bearer.value) : r))
    )
    const send = (method: "GET" | "POST" | "DELETE", path: string, body?: unknown) =>
      Effect.gen(function*() {
        const request = HttpClientRequest.make(method)(`${server}${path}`).pipe(
          HttpClientRequest.setHeader("accept", "application/json"),
          body === undefined ? (r) => r : HttpClientRequest.setBody(HttpBody.unsafeJson(body))
        )
        const response = yield* client.execute(request).pipe(
          Effect.mapError((e) => bad(`cannot reach evolve serve at ${server}: ${e.message}`))
        )
        const json: any = yield* response.json.pipe(Effect.orElseSucceed(() => ({})))
        return { status: response.status, json }
      }).pipe(Effect.scoped)
    for (const step of todo) {
      const { json, status } = yield* send(step.method, step.path, step.body)
      if (status >= 300) {
        yield* Console.error(`evolve steer: ${step.label}: HTTP ${status}: ${json.message ?? "refused"}`)
        return yield* new CliExit({ code: 1 })
      }
      yield* Console.log(step.label === "inject" ? `injected program ${json.programId}` : `${step.label}: done`)
    }
    const run = `/api/runs/${encodeURIComponent(args.runId)}`
    const read = (path: string) =>
      Effect.flatMap(send("GET", path), ({ json, status }) =>
        status < 300 ? Effect.succeed(json) : Effect.zipRight(Console.error(`evolve steer: HTTP ${status}: ${json.message ?? "refused"}`), new CliExit({ code: 1 })))
    if (Option.isSome(args.extend)) {
      // N more evaluations than the run has, or may have: a completed run runs again.
      const detail = yield* read(run)
      const max = Math.max(detail.maxEvaluations, detail.evaluated) + args.extend.value
      const { json, status } = yield* send("POST", `${run}/extend`, { max_evaluations: max })
      if (status >= 300) {
        yield* Console.error(`evolve steer: extend: HTTP ${status}: ${json.message ?? "refused"}`)
        return yield* new CliExit({ code: 1 })
      }
      yield* Console.log(`extended to ${max} evaluations (run ${json.status})`)
    }
    yield* Console.log(describeSteering(yield* read(`${run}/steering`)))
  }).pipe(Effect.provide(NodeHttpClient.layerUndici))
