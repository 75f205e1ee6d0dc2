import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect, Layer } from "effect"
import { createRequire } from "node:module"
import { ServerMetrics } from "./Metrics.js"
import { APP_CSS, APP_JS, INDEX_HTML } from "./ui/assets.js"

const require = createRequire(import.meta.url)

/**
 * Third-party browser assets, served from the installed packages (runtime dependencies, so
 * present after `npm install` from a clean clone and in a packed install). No CDN.
 */
const vendor: Record<string, { readonly module: string; readonly type: string }> = {
  "uplot.js": { module: "uplot/dist/uPlot.iife.min.js", type: "text/javascript; charset=utf-8" },
  "uplot.css": { module: "uplot/dist/uPlot.min.css", type: "text/css; charset=utf-8" },
  "diff2html.js": { module: "diff2html/bundles/js/diff2html-ui-slim.min.js", type: "text/javascript; charset=utf-8" },
  "diff2html.css": { module: "diff2html/bundles/css/diff2html.min.css", type: "text/css; charset=utf-8" },
  "hljs.css": { module: "highlight.js/styles/github.css", type: "text/css; charset=utf-8" }
}

const own: Record<string, { readonly body: string; readonly type: string }> = {
  "app.js": { body: APP_JS, type: "text/javascript; charset=utf-8" },
  "app.css": { body: APP_CSS, type: "text/css; charset=utf-8" }
}

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
        const mine = own[name]
        if (mine !== undefined) {
          return HttpServerResponse.text(mine.body, { contentType: mine.type, headers: { "cache-control": "no-cache" } })
        }
        const asset = vendor[name]
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
