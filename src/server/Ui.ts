import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Layer } from "effect"
import { createRequire } from "node:module"
import { ServerMetrics } from "./Metrics.js"
import APP_CSS from "./ui/embedded/app.css.generated.js"
import APP_JS from "./ui/app/main.js.bundle.generated.js"
import INDEX_HTML from "./ui/embedded/index.html.generated.js"

const require = createRequire(import.meta.url)

/**
 * Third-party browser assets, served from the installed packages (runtime dependencies, so
 * present after `npm install` from a clean clone and in a packed install). No CDN.
 */
const javascript = "text/javascript; charset=utf-8"
const css = "text/css; charset=utf-8"

// Maps, not object literals: a name like "constructor" or "__proto__" must find nothing.
const vendor = new Map<string, { readonly module: string; readonly type: string }>([
  ["uplot.js", { module: "uplot/dist/uPlot.iife.min.js", type: javascript }],
  ["uplot.css", { module: "uplot/dist/uPlot.min.css", type: css }],
  ["diff2html.js", { module: "diff2html/bundles/js/diff2html-ui-slim.min.js", type: javascript }],
  ["diff2html.css", { module: "diff2html/bundles/css/diff2html.min.css", type: css }],
  ["hljs.css", { module: "highlight.js/styles/github.css", type: css }]
])

const own = new Map<string, { readonly body: string; readonly type: string }>([
  ["app.js", { body: APP_JS, type: javascript }],
  ["app.css", { body: APP_CSS, type: css }]
])

const csp = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'"
].join("; ")

/** The web UI (/, /assets/*) and Prometheus metrics (/metrics), next to the HttpApi routes. */
export const routes = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const metrics = yield* ServerMetrics
    const cache = new Map<string, Uint8Array>()

    const page = HttpServerResponse.html(INDEX_HTML).pipe(
      HttpServerResponse.setHeaders({ "content-security-policy": csp, "cache-control": "no-cache" })
    )
    yield* router.get("/", Effect.succeed(page))
    yield* router.get("/favicon.ico", Effect.succeed(HttpServerResponse.empty({ status: 204 })))

    yield* router.get(
      "/assets/:name",
      Effect.gen(function*() {
        const params = yield* HttpRouter.params
        const name = params["name"] ?? ""
        const mine = own.get(name)
        if (mine !== undefined) {
          return HttpServerResponse.text(mine.body, { contentType: mine.type, headers: { "cache-control": "no-cache" } })
        }
        const asset = vendor.get(name)
        if (asset === undefined) {
          return HttpServerResponse.unsafeJson({ _tag: "NotFound", message: `no asset ${name}` }, { status: 404 })
        }
        let body = cache.get(name)
        if (body === undefined) {
          body = yield* fs.readFile(require.resolve(asset.module)).pipe(Effect.orDie)
          cache.set(name, body)
        }
        return HttpServerResponse.uint8Array(body, {
          contentType: asset.type,
          headers: { "cache-control": "public, max-age=3600" }
        })
      })
    )

    yield* router.get(
      "/metrics",
      Effect.map(metrics.render, (text) =>
        HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" }))
    )
  })
).pipe(Layer.provide(NodeContext.layer))
