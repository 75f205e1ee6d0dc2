import * as os from "node:os"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Cause, Config, Console, Effect, Either, Layer, Option, Redacted } from "effect"
import { loadRunConfig } from "../config/ConfigLoader.js"
import * as Overrides from "../config/Overrides.js"
import type { ServeFlags } from "../config/ServeFlags.js"
import * as Workspace from "../config/Workspace.js"
import * as ProgramDatabase from "../db/ProgramDatabase.js"
import { isPostgresUrl, redactDatabaseTarget } from "../domain/DatabaseTarget.js"
import { ConfigError } from "../domain/Errors.js"
import { applyHeapPolicy, serviceHeapGrowthPercent } from "../process/HeapGrowth.js"
import { restrictNewFiles } from "../process/PrivateFiles.js"
import * as Auth from "./Auth.js"
import * as RunPolicy from "./RunPolicy.js"
import { bindPolicy, isLoopback } from "./Security.js"
import * as Server from "./Server.js"

const defaultDatabase = ".evolve/evolve.db"

/** Where a generated token is written, next to the database. */
export const tokenFileName = "serve.token"

interface Given {
  readonly _tag: "Given"
  readonly token: Redacted.Redacted
  /** The file or variable it came from. */
  readonly from: string
}

type TokenSource = { readonly _tag: "None" } | { readonly _tag: "Generated"; readonly token: Redacted.Redacted } | Given

const bad = (message: string) => new ConfigError({ message })

/** The token: --token-file, else EVOLVE_TOKEN, else (loopback only) a random one; none with --no-token (loopback only). */
const tokenSource = (o: ServeFlags) =>
  Effect.gen(function*() {
    if (Option.isSome(o.token)) {
      return yield* bad(
        "--token: a token on the command line is visible to every local user (ps); put it in a file (--token-file FILE) or in EVOLVE_TOKEN"
      )
    }
    const fs = yield* FileSystem.FileSystem
    let given: Given | undefined
    if (Option.isSome(o.tokenFile)) {
      const file = o.tokenFile.value
      const text = yield* fs.readFileString(file).pipe(Effect.mapError((e) => bad(`--token-file ${file}: cannot read it (${e.message})`)))
      given = { _tag: "Given", token: Redacted.make(text.trim()), from: file }
    } else {
      const fromEnv = yield* Config.option(Config.redacted("EVOLVE_TOKEN")).pipe(Effect.orElseSucceed(() => Option.none()))
      if (Option.isSome(fromEnv) && Redacted.value(fromEnv.value) !== "") given = { _tag: "Given", token: fromEnv.value, from: "EVOLVE_TOKEN" }
    }
    const loopback = isLoopback(o.host)
    if (o.noToken) {
      if (given !== undefined) return yield* bad("--no-token, but a token is given (--token-file or EVOLVE_TOKEN): choose one")
      if (!loopback) return yield* bad(`--no-token: only on a loopback address, not ${o.host}`)
      return { _tag: "None" } satisfies TokenSource
    }
    if (given !== undefined) {
      if (Redacted.value(given.token).length < 16) return yield* bad("the token must be at least 16 characters long")
      return given
    }
    // Off loopback the token must be one the user chose: refused with bindPolicy's reason.
    const bind = bindPolicy(o.host, Option.none())
    if (Either.isLeft(bind)) return yield* bad(bind.left)
    return { _tag: "Generated", token: Redacted.make(yield* Auth.randomSecret) } satisfies TokenSource
  })

const splitList = (list: Option.Option<string>) =>
  Option.map(list, (text) => text.split(",").map((s) => s.trim()).filter((s) => s !== ""))

/**
 * The rules for runs created through the API. By default a run may use the API keys the
 * server's own config uses (the workspace's evolve.yaml, EVOLVE_* variables; OPENAI_API_KEY
 * when it names none) and send them to its base URLs or to loopback model servers.
 */
const runPolicy = (o: ServeFlags, workspace: Workspace.Workspace) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const ownFile = path.join(workspace.root, "evolve.yaml")
    const own = yield* loadRunConfig({
      file: (yield* fs.exists(ownFile).pipe(Effect.orElseSucceed(() => false))) ? ownFile : undefined,
      env: yield* Overrides.environment
    })
    const endpoints = RunPolicy.endpoints(own.llm)
    const keyEnv = Option.getOrElse(splitList(o.allowKeyEnv), () => endpoints.map((e) => e.keyEnv))
    const server = keyEnv.find(RunPolicy.isServerVariable)
    if (server !== undefined) return yield* bad(`--allow-key-env: ${server} is a variable of the server itself, never an API key`)
    const urls = splitList(o.allowBaseUrl)
    const origins = Option.getOrElse(urls, () => endpoints.map((e) => e.baseUrl)).map((url) => {
      const origin = RunPolicy.originOf(url)
      return origin === undefined ? Effect.fail(bad(`--allow-base-url: expected http(s) URLs, got ${JSON.stringify(url)}`)) : Effect.succeed(origin)
    })
    return {
      workspace,
      keyEnv: new Set(keyEnv),
      origins: new Set(yield* Effect.all(origins)),
      loopback: Option.isNone(urls)
    }
  })

/**
 * Writes a generated token next to the database (0600), removed again when the server stops. A
 * Postgres database has no directory (and its URL, password included, must never become one):
 * the token goes under the working directory's .evolve/.
 */
const writeTokenFile = (databasePath: string, token: Redacted.Redacted) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = isPostgresUrl(databasePath) ? path.resolve(".evolve") : path.dirname(path.resolve(databasePath))
    const file = path.join(dir, tokenFileName)
    const fail = (e: { readonly message: string }) => bad(`cannot write the token to ${file}: ${e.message}`)
    yield* fs.makeDirectory(dir, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(fail))
    yield* fs.writeFileString(file, `${Redacted.value(token)}\n`, { mode: 0o600 }).pipe(Effect.mapError(fail))
    yield* fs.chmod(file, 0o600).pipe(Effect.mapError(fail))
    yield* Effect.addFinalizer(() => Effect.ignore(fs.remove(file)))
    return file
  })

/** Runs the service until interrupted (SIGINT/SIGTERM): hosted runs then stop gracefully and resume at the next start. */
export const serve = (o: ServeFlags) =>
  Effect.gen(function*() {
    if (o.port < 0 || o.port > 65535) return yield* bad(`flag --port: expected 0 to 65535, got ${o.port}`)
    if (o.llmConcurrency < 1) return yield* bad("flag --llm-concurrency: expected an integer ≥ 1")
    if (o.evalConcurrency < 1) return yield* bad("flag --eval-concurrency: expected an integer ≥ 1")
    const source = yield* tokenSource(o)
    const workspace = yield* Workspace.make(Option.getOrElse(o.workspace, () => "."))
    const policy = yield* runPolicy(o, workspace)
    // A service runs for days: its heap is kept near its live data (see HeapGrowth); its files are private.
    yield* applyHeapPolicy(serviceHeapGrowthPercent)
    yield* restrictNewFiles
    const envDb = yield* Config.option(Config.string("EVOLVE_DB")).pipe(Effect.orElseSucceed(() => Option.none()))
    const databasePath = Option.getOrElse(Option.orElse(o.db, () => envDb), () => defaultDatabase)
    // A Postgres URL that cannot serve (bad, wrong password, server down) is bad input: one line, exit 2.
    if (isPostgresUrl(databasePath)) yield* ProgramDatabase.check(databasePath)
    yield* Effect.scoped(Effect.gen(function*() {
      const tokenFile = source._tag === "Generated" ? yield* writeTokenFile(databasePath, source.token) : undefined
      const context = yield* Layer.build(Server.layer({
        host: o.host,
        port: o.port,
        databasePath,
        token: source._tag === "None" ? Option.none() : Option.some(source.token),
        runPolicy: policy,
        llmConcurrency: o.llmConcurrency,
        evaluationConcurrency: o.evalConcurrency,
        resumeOnStart: !o.noResume,
        maxBodyBytes: Server.defaults.maxBodyBytes,
        cluster: isPostgresUrl(databasePath)
          ? { host: Option.getOrElse(o.clusterHost, () => os.hostname()), port: o.clusterPort }
          : undefined
      })).pipe(
        Effect.catchTag("ServeError", (e) =>
          bad(`cannot listen on ${o.host}:${o.port}: ${Cause.pretty(Cause.fail(e.cause)).split("\n")[0]}`))
      )
      const url = yield* Effect.provide(Server.baseUrl, context)
      yield* Console.log(
        `evolve serve: ${url}  (database ${redactDatabaseTarget(databasePath)}${
          isPostgresUrl(databasePath) ? `, a cluster runner at ${Option.getOrElse(o.clusterHost, () => os.hostname())}:${o.clusterPort}` : ""
        }; workspace ${workspace.root}; shared limits: ${o.llmConcurrency} LLM calls, ${o.evalConcurrency} evaluations${
          source._tag === "None" ? "" : "; bearer token required"
        })`
      )
      switch (source._tag) {
        case "Generated":
          yield* Console.log(`evolve serve: log in at ${url}/?token=${Redacted.value(source.token)}  (the token is also in ${tokenFile})`)
          break
        case "Given":
          yield* Console.log(`evolve serve: log in at ${url}/ with the token from ${source.from}`)
          break
        case "None":
          yield* Console.error(
            `evolve serve: warning: --no-token: no authentication. Any local user or process can start runs (which execute commands) and read the files under ${workspace.root}.`
          )
      }
      return yield* Effect.never
    }))
  })
