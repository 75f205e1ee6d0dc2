import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { type Context, Effect, Either, Layer, Option, type Redacted } from "effect"
import { createServer, type Server as NodeServer } from "node:http"
import * as ProgramDatabase from "../db/ProgramDatabase.js"
import { ConfigError, type DatabaseError } from "../domain/Errors.js"
import { isPostgresUrl } from "../domain/DatabaseTarget.js"
import * as ClusterRuntime from "../engine/ClusterRuntime.js"
import * as RunManager from "../engine/RunManager.js"
import { ApiLive } from "./Handlers.js"
import * as Auth from "./Auth.js"
import * as Metrics from "./Metrics.js"
import { RunPolicy } from "./RunPolicy.js"
import * as Security from "./Security.js"
import * as Ui from "./Ui.js"

export interface ServeOptions {
  /** Address to bind; anything but loopback requires `token`. */
  readonly host: string
  /** 0 picks a free port. */
  readonly port: number
  readonly databasePath: string
  /** Required by every request (bearer header or a login session); none: no authentication, loopback only. */
  readonly token: Option.Option<Redacted.Redacted>
  /** Wrong tokens allowed per client address (default `Auth.defaultLoginLimit`). */
  readonly loginLimit?: Auth.LoginLimit | undefined
  /** What runs created through the API may read, run and send keys to. */
  readonly runPolicy: Context.Tag.Service<RunPolicy>
  /** Shared limits across all hosted runs. */
  readonly llmConcurrency: number
  readonly evaluationConcurrency: number
  readonly resumeOnStart: boolean
  readonly maxBodyBytes: number
  /** Log "Listening on http://…" once bound. */
  readonly logAddress?: boolean | undefined
  /** With a Postgres database: this process joins the cluster as a runner at this address. */
  readonly cluster?: ClusterRuntime.RunnerOptions | undefined
}

export const defaults = {
  host: "127.0.0.1",
  port: 8765,
  llmConcurrency: 16,
  evaluationConcurrency: 8,
  maxBodyBytes: 1024 * 1024
} as const

/**
 * The whole service as one layer: database, RunManager, HttpApi (+ /openapi.json, /docs), web UI,
 * /metrics, behind the security middleware. Its output includes the bound HttpServer (address).
 * Fails with a ConfigError when the bind policy refuses the address.
 */
export const layer = (
  options: ServeOptions
): Layer.Layer<HttpServer.HttpServer, ConfigError | DatabaseError | HttpServerError.ServeError> => {
  const policy = Security.bindPolicy(options.host, options.token)
  if (Either.isLeft(policy)) return Layer.fail(new ConfigError({ message: policy.left }))
  // A Postgres database makes this process a runner of the cluster: it hosts the runs of its
  // shards, and workers elsewhere evaluate their candidates.
  const core = options.cluster !== undefined && isPostgresUrl(options.databasePath)
    ? ClusterRuntime.serve(options.databasePath, options.cluster).pipe(
      Layer.mapError((e) =>
        e instanceof ConfigError || e._tag === "DatabaseError"
          ? e
          : new ConfigError({ message: `cannot join the cluster at ${options.cluster!.host}:${options.cluster!.port}: ${e.message}` })
      )
    )
    : RunManager.layer({
      llmConcurrency: options.llmConcurrency,
      evaluationConcurrency: options.evaluationConcurrency,
      resumeOnStart: options.resumeOnStart,
      databasePath: options.databasePath
    }).pipe(Layer.provideMerge(ProgramDatabase.layer(options.databasePath)))
  const routes = Layer.mergeAll(
    HttpApiSwagger.layer({ path: "/docs" }),
    HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" }),
    Ui.routes
  )
  const auth = Option.match(options.token, { onNone: () => Auth.open, onSome: (token) => Auth.layer(token, options.loginLimit) })
  const app = HttpApiBuilder.serve(Security.middleware({ host: options.host, maxBodyBytes: options.maxBodyBytes })).pipe(
    Layer.provide(routes),
    Layer.provide(ApiLive),
    Layer.provide([auth, Layer.succeed(RunPolicy, options.runPolicy)]),
    Layer.provide(Metrics.layer),
    Layer.provide(core)
  )
  const logged = options.logAddress === true ? HttpServer.withLogAddress(app) : app
  // On shutdown, once the runs have stopped and the event streams ended, drop the remaining
  // (keep-alive) connections: server.close() alone would wait for their idle timeouts.
  let nodeServer: NodeServer | undefined
  const dropConnections = Layer.scopedDiscard(Effect.addFinalizer(() => Effect.sync(() => nodeServer?.closeAllConnections())))
  return logged.pipe(
    Layer.provide(dropConnections),
    Layer.provideMerge(NodeHttpServer.layer(() => (nodeServer = createServer()), { port: options.port, host: options.host }))
  )
}

/** The bound address as a base URL (for tests and the serve command's banner). */
export const baseUrl = Effect.map(HttpServer.HttpServer, (server) => {
  const address = server.address
  if (address._tag === "UnixAddress") return `unix:${address.path}`
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname
  return `http://${host}:${address.port}`
})
