import { Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync, realpathSync, rmSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import * as Server from "../../src/server/Server.js"

export const example = (file: string) => resolve(__dirname, "../../examples/function_minimization", file)

/** The repository: the test servers' workspace (the examples live there). */
export const repository = realpathSync(resolve(__dirname, "../.."))

export interface Running {
  readonly url: string
  readonly dir: string
  readonly dbPath: string
  /** The bearer token every request needs (undefined: a `--no-token` server). */
  readonly token: string | undefined
  /** The Authorization header, for the helpers below or fetch. */
  readonly auth: Record<string, string>
  /** `json`, `post`, `readEvents` and `rawRequest` on a path of this server, with its token. */
  readonly json: (path: string, init?: RequestInit) => ReturnType<typeof json>
  readonly post: (path: string, body?: unknown, headers?: Record<string, string>) => ReturnType<typeof json>
  readonly events: (path: string, until: (events: ReadonlyArray<SseEvent>) => boolean, options?: EventOptions) => Promise<Array<SseEvent>>
  readonly raw: (path: string, options?: RawOptions) => ReturnType<typeof rawRequest>
  readonly close: () => Promise<void>
}

export const tempDir = () => mkdtempSync(join(tmpdir(), "evolve-serve-"))

/** Starts the whole service on 127.0.0.1, port 0, with a database in `dir`, a random token (`token: null`: none), the repository as its workspace. */
export const startServer = async (options: {
  readonly dir?: string
  readonly token?: string | null
  readonly workspace?: string
  readonly allowKeyEnv?: ReadonlyArray<string>
  readonly allowOrigins?: ReadonlyArray<string>
  readonly loginLimit?: { readonly failures: number; readonly windowMs: number }
  readonly llmConcurrency?: number
  readonly evaluationConcurrency?: number
  readonly resumeOnStart?: boolean
  readonly maxBodyBytes?: number
  /** The database (default: evolve.db in `dir`); a Postgres URL serves it without joining a cluster. */
  readonly databasePath?: string
} = {}): Promise<Running> => {
  const dir = options.dir ?? tempDir()
  const dbPath = options.databasePath ?? join(dir, "evolve.db")
  const scope = Effect.runSync(Scope.make())
  const token = options.token === null ? undefined : options.token ?? randomBytes(24).toString("base64url")
  const layer = Server.layer({
    host: "127.0.0.1",
    port: 0,
    databasePath: dbPath,
    token: token === undefined ? Option.none() : Option.some(Redacted.make(token)),
    loginLimit: options.loginLimit,
    runPolicy: {
      workspace: { root: realpathSync(options.workspace ?? repository) },
      keyEnv: new Set(options.allowKeyEnv ?? ["OPENAI_API_KEY"]),
      origins: new Set(options.allowOrigins ?? ["https://api.openai.com"]),
      loopback: options.allowOrigins === undefined
    },
    llmConcurrency: options.llmConcurrency ?? 4,
    evaluationConcurrency: options.evaluationConcurrency ?? 2,
    resumeOnStart: options.resumeOnStart ?? true,
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024
  })
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  const url = Effect.runSync(Effect.provide(Server.baseUrl, context))
  const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` }
  const withAuth = (init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } })
  return {
    url,
    dir,
    dbPath,
    token,
    auth,
    json: (path, init) => json(`${url}${path}`, withAuth(init)),
    post: (path, body, headers = {}) => post(`${url}${path}`, body, { ...auth, ...headers }),
    events: (path, until, eventOptions = {}) => readEvents(`${url}${path}`, until, { ...eventOptions, headers: { ...auth, ...eventOptions.headers } }),
    raw: (path, rawOptions = {}) => rawRequest(`${url}${path}`, { ...rawOptions, headers: { ...auth, ...rawOptions.headers } }),
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true })
    }
  }
}

export interface SseEvent {
  readonly id: number | null
  readonly event: string
  readonly data: any
}

/**
 * Reads Server-Sent Events until `until` returns true (or the timeout), then closes the stream.
 * Uses the platform fetch of the test process (not in src/).
 */
export interface EventOptions {
  readonly lastEventId?: number
  readonly timeoutMs?: number
  readonly headers?: Record<string, string>
}

export const readEvents = async (
  url: string,
  until: (events: ReadonlyArray<SseEvent>) => boolean,
  options: EventOptions = {}
): Promise<Array<SseEvent>> => {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 30_000)
  const events: Array<SseEvent> = []
  try {
    const response = await fetch(url, {
      signal: controller.signal,
      headers: { accept: "text/event-stream", ...options.headers, ...(options.lastEventId !== undefined ? { "last-event-id": String(options.lastEventId) } : {}) }
    })
    if (response.status !== 200) throw new Error(`SSE ${url}: HTTP ${response.status} ${await response.text()}`)
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ""
    while (!until(events)) {
      const { done, value } = await reader.read()
      if (done) break
      buffer += value
      let cut: number
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut)
        buffer = buffer.slice(cut + 2)
        let id: number | null = null
        let event = "message"
        let data = ""
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) id = Number(line.slice(4))
          else if (line.startsWith("event: ")) event = line.slice(7)
          else if (line.startsWith("data: ")) data += line.slice(6)
        }
        if (data !== "") events.push({ id, event, data: JSON.parse(data) })
        if (until(events)) break
      }
    }
    await reader.cancel().catch(() => undefined)
  } catch (e) {
    if (!controller.signal.aborted) throw e
  } finally {
    clearTimeout(timer)
    controller.abort()
  }
  return events
}

export const json = async (url: string, init: RequestInit = {}) => {
  const response = await fetch(url, init)
  const text = await response.text()
  let body: any = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON
  }
  return { status: response.status, body, headers: response.headers }
}

export const post = (url: string, body?: unknown, headers: Record<string, string> = {}) =>
  json(url, {
    method: "POST",
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })

/** A raw HTTP request (node:http), for headers fetch will not send as given (Host). */
export interface RawOptions {
  readonly method?: string
  readonly headers?: Record<string, string>
  readonly body?: string
}

export const rawRequest = (url: string, options: RawOptions = {}) =>
  new Promise<{ status: number; body: string; headers: Record<string, string | Array<string> | undefined> }>((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? "GET", headers: options.headers ?? {} }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (chunk) => (body += chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
    })
    req.on("error", reject)
    req.end(options.body)
  })
