/** A small HTTP/SSE client for `evolve serve`, and starting the service as a child process. */
import { type IncomingHttpHeaders, request as httpRequest } from "node:http"
import { type CliProcess, sleep, startCli } from "./harness.js"

export interface Reply {
  /** 0: no HTTP answer (connection refused, reset, timeout). */
  readonly status: number
  readonly body: string
  readonly headers?: IncomingHttpHeaders
  readonly error?: string
}

export interface RequestOptions {
  readonly method: string
  readonly path: string
  readonly headers?: Record<string, string>
  readonly body?: string | Buffer
  /** Send the body chunked (no content-length). */
  readonly chunked?: boolean
  readonly timeoutMs?: number
}

export const send = (base: string, options: RequestOptions): Promise<Reply> =>
  new Promise<Reply>((resolve) => sendWith(base, options, resolve)).catch((error) => ({ status: -1, body: "", error: String(error) }))

const sendWith = (base: string, options: RequestOptions, resolve: (reply: Reply) => void) => {
  try {
    sendUnsafe(base, options, resolve)
  } catch (error) {
    resolve({ status: -1, body: "", error: `the client refused to send it: ${String(error)}` })
  }
}

const sendUnsafe = (base: string, options: RequestOptions, resolve: (reply: Reply) => void) => {
  {
    const url = new URL(base)
    const headers: Record<string, string | number> = { ...options.headers }
    if (options.body !== undefined && !options.chunked) headers["content-length"] = Buffer.byteLength(options.body)
    let settled = false
    let status = 0
    const done = (reply: Reply) => {
      if (!settled) {
        settled = true
        resolve(reply)
      }
    }
    const req = httpRequest({
      host: url.hostname,
      port: url.port,
      method: options.method,
      path: options.path,
      headers,
      agent: false,
      timeout: options.timeoutMs ?? 10_000
    }, (res) => {
      status = res.statusCode ?? 0
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => {
        if (chunks.length < 2000) chunks.push(c)
      })
      res.on("end", () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }))
      res.on("error", (e) => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), error: String(e) }))
    })
    req.on("timeout", () => {
      req.destroy(new Error("timeout"))
    })
    // A server may answer (413) and close while the body is still being sent: keep its answer.
    req.on("error", (e) => done({ status, body: "", error: String(e) }))
    if (options.body !== undefined) {
      if (options.chunked) {
        const body = Buffer.from(options.body)
        for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024))
      } else {
        req.write(options.body)
      }
    }
    req.end()
  }
}

export interface Service {
  readonly proc: CliProcess
  readonly url: string
}

/** Starts `evolve serve --port 0` and waits (≤ 30 s) for its banner with the URL. */
export const startService = async (
  args: ReadonlyArray<string>,
  options: { cwd: string; env?: Record<string, string>; timeoutMs: number }
): Promise<Service | { readonly error: string }> => {
  const proc = startCli(["serve", "--port", "0", ...args], { cwd: options.cwd, env: options.env, timeoutMs: options.timeoutMs })
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const m = /evolve serve: (http:\/\/[^\s]+)/.exec(proc.output().stdout)
    if (m) return { proc, url: m[1]! }
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) break
    await sleep(50)
  }
  const out = proc.output()
  try {
    process.kill(-proc.pid, "SIGKILL")
  } catch {
    // gone
  }
  return { error: `no banner: ${out.stdout.slice(-500)} ${out.stderr.slice(-500)}` }
}

export const stopService = async (service: Service) => {
  try {
    process.kill(service.proc.pid, "SIGTERM")
  } catch {
    // gone
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-service.proc.pid, "SIGKILL")
    } catch {
      // gone
    }
  }, 30_000)
  const r = await service.proc.done
  clearTimeout(timer)
  return r
}

export interface SseSession {
  /** Event ids received, in order. */
  readonly ids: Array<number>
  /** Raw text received (for secret scans). */
  text: string
  readonly close: () => void
  readonly ended: Promise<void>
}

/** Connects to a run's event stream, from `lastEventId` on. */
export const sse = (base: string, runId: string, lastEventId: number | undefined, headers: Record<string, string> = {}): SseSession => {
  const url = new URL(base)
  const ids: Array<number> = []
  let buffer = ""
  const session: SseSession = {
    ids,
    text: "",
    close: () => req.destroy(),
    ended: Promise.resolve()
  }
  let endedResolve = () => {}
  ;(session as { ended: Promise<void> }).ended = new Promise<void>((r) => (endedResolve = r))
  const req = httpRequest({
    host: url.hostname,
    port: url.port,
    method: "GET",
    path: `/api/runs/${runId}/events`,
    headers: { accept: "text/event-stream", ...(lastEventId !== undefined ? { "last-event-id": String(lastEventId) } : {}), ...headers },
    agent: false
  }, (res) => {
    res.on("data", (c: Buffer) => {
      const s = c.toString("utf8")
      if (session.text.length < 2_000_000) session.text += s
      buffer += s
      let i: number
      while ((i = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, i)
        buffer = buffer.slice(i + 2)
        const id = /^id:\s*(\d+)/m.exec(block)
        if (id) ids.push(Number(id[1]))
      }
    })
    res.on("end", () => endedResolve())
    res.on("error", () => endedResolve())
  })
  req.on("error", () => endedResolve())
  req.on("close", () => endedResolve())
  req.end()
  return session
}
