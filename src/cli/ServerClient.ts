/**
 * How the CLI talks to `evolve serve` (evolve steer, prompts, answer): its URL (--server, else
 * $EVOLVE_SERVER, else http://127.0.0.1:8765) and its token (--token-file, else $EVOLVE_TOKEN,
 * else the serve.token the server wrote next to its database).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Path from "@effect/platform/Path"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Config, Console, Effect, Option } from "effect"
import { ConfigError } from "../domain/Errors.js"
import { CliExit } from "./CliExit.js"

export interface ServerFlags {
  readonly server: Option.Option<string>
  readonly tokenFile: Option.Option<string>
  readonly db: Option.Option<string>
}

/** Where `evolve serve` keeps its database by default (its serve.token is written next to it). */
const defaultDatabase = ".evolve/evolve.db"

export const bad = (message: string) => new ConfigError({ message })
const envOption = (name: string) => Config.option(Config.string(name)).pipe(Effect.orElseSucceed(() => Option.none<string>()))

const token = (flags: ServerFlags) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    if (Option.isSome(flags.tokenFile)) {
      const file = flags.tokenFile.value
      return Option.some((yield* fs.readFileString(file).pipe(Effect.mapError((e) => bad(`--token-file ${file}: ${e.message}`)))).trim())
    }
    const fromEnv = yield* envOption("EVOLVE_TOKEN")
    if (Option.isSome(fromEnv) && fromEnv.value !== "") return fromEnv
    const dbPath = Option.isSome(flags.db) ? flags.db.value : Option.getOrElse(yield* envOption("EVOLVE_DB"), () => defaultDatabase)
    const file = path.join(path.dirname(path.resolve(dbPath)), "serve.token")
    return yield* fs.readFileString(file).pipe(Effect.map((t) => Option.some(t.trim())), Effect.orElseSucceed(() => Option.none<string>()))
  })

/**
 * A client of the server. `call` answers the JSON of a 2xx response; any other status is printed
 * (`evolve <command>: <label>: HTTP <status>: <message>`) and ends the command with exit code 1.
 */
export const connect = (flags: ServerFlags, command: string) =>
  Effect.gen(function*() {
    const server = (Option.isSome(flags.server) ? flags.server.value : Option.getOrElse(yield* envOption("EVOLVE_SERVER"), () => "http://127.0.0.1:8765"))
      .replace(/\/+$/, "")
    const bearer = yield* token(flags)
    const client = (yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest((r) => (Option.isSome(bearer) ? HttpClientRequest.bearerToken(r, bearer.value) : r))
    )
    const call = (label: string, method: "GET" | "POST" | "DELETE", path: string, body?: unknown) =>
      Effect.gen(function*() {
        const request = HttpClientRequest.make(method)(`${server}${path}`).pipe(
          HttpClientRequest.setHeader("accept", "application/json"),
          body === undefined ? (r) => r : HttpClientRequest.setBody(HttpBody.unsafeJson(body))
        )
        const response = yield* client.execute(request).pipe(Effect.mapError((e) => bad(`cannot reach evolve serve at ${server}: ${e.message}`)))
        const json: any = yield* response.json.pipe(Effect.orElseSucceed(() => ({})))
        if (response.status < 300) return json
        yield* Console.error(`evolve ${command}: ${label}: HTTP ${response.status}: ${json?.message ?? "refused"}`)
        return yield* new CliExit({ code: 1 })
      }).pipe(Effect.scoped)
    return { call }
  })

/** The HTTP client a command's requests go through (its connection pool lives as long as the command). */
export const withHttp = Effect.provide(NodeHttpClient.layerUndici)
