/**
 * Content-Security-Policy for answers that do not set their own: a page with inline scripts
 * (the API docs at /docs, 1.9 MB of Swagger UI inline) is allowed exactly those scripts, by
 * hash; anything else gets a policy that allows nothing.
 */
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { createHash } from "node:crypto"

export const none = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

const hash = (text: string) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`

/** Scripts that run: inline <script> elements without src, except data blocks (JSON). */
const inlineScripts = (html: string) =>
  [...html.matchAll(/<script(\s[^>]*)?>([\s\S]*?)<\/script>/gi)]
    .filter(([, attributes = ""]) => !/\ssrc\s*=/i.test(attributes) && !/type\s*=\s*["']?application\/(ld\+)?json/i.test(attributes))
    .map(([, , body = ""]) => body)

/** The policy of an HTML page: its own inline scripts by hash; styles (inline too), images and fetches from this origin. */
export const forHtml = (html: string) =>
  [
    "default-src 'none'",
    `script-src 'self' ${inlineScripts(html).map(hash).join(" ")}`.trim(),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'"
  ].join("; ")

// Pages are built once (the docs page at start-up): their policy is computed once per body.
const cache = new WeakMap<Uint8Array, string>()

export const forResponse = (response: HttpServerResponse.HttpServerResponse): string => {
  const type = response.headers["content-type"] ?? (response.body._tag === "Uint8Array" ? response.body.contentType : "")
  if (!type.includes("text/html") || response.body._tag !== "Uint8Array") return none
  const body = response.body.body
  let policy = cache.get(body)
  if (policy === undefined) {
    policy = forHtml(new TextDecoder().decode(body))
    cache.set(body, policy)
  }
  return policy
}
