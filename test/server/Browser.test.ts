import { existsSync, mkdirSync } from "node:fs"
import { resolve } from "node:path"
import { type Browser, chromium } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { example, type Running, startServer } from "./support.js"

// Debian's chromium (installed by .ci/run). Locally without it the suite is skipped; in CI it must run.
const executablePath = process.env["EVOLVE_CHROMIUM"] ?? "/usr/bin/chromium"
const available = existsSync(executablePath)
const artifacts = resolve(__dirname, "../../test-artifacts")

describe.skipIf(!available && process.env["CI"] === undefined)("web UI in headless Chromium", () => {
  let server: Running
  let browser: Browser
  beforeAll(async () => {
    mkdirSync(artifacts, { recursive: true })
    server = await startServer()
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: [
        "--no-sandbox",
        "--headless",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run"
      ]
    })
  })
  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  it("starts a run, plots it live, pauses and resumes it, and shows a program's diff", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
    const problems: Array<string> = []
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`))
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`)
    })
    page.on("request", (r) => {
      if (!r.url().startsWith(server.url)) problems.push(`external request: ${r.url()}`)
    })

    // The server asks for its token: the login page, then the UI.
    await page.goto(server.url)
    await page.fill("#token", "not-the-token")
    await page.click("#login-button")
    await page.waitForFunction(() => (document.querySelector(".error")?.textContent ?? "").includes("wrong token"))
    await page.fill("#token", server.token!)
    await page.click("#login-button")
    await page.waitForSelector("#runs-table")
    expect(problems.splice(0)).toEqual([
      "console: Failed to load resource: the server responded with a status of 401 (Unauthorized)",
      "console: Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ])
    await page.fill("#program-input", example("initial_program.mjs"))
    await page.fill("#evaluator-input", example("evaluator.mjs"))

    // A bad config is refused with the field path, and nothing starts.
    await page.fill("#config-input", "max_evaluations: lots\n")
    await page.click("#start-button")
    await page.waitForFunction(() => (document.querySelector("#new-run-error")?.textContent ?? "").includes("max_evaluations"))
    expect(problems.splice(0)).toEqual(["console: Failed to load resource: the server responded with a status of 400 (Bad Request)"])

    await page.fill(
      "#config-input",
      "max_evaluations: 100000\nseed: 3\nconcurrency:\n  proposals: 2\n  evaluations: 2\nllm:\n  provider: offline\n"
    )
    await page.click("#start-button")
    await page.waitForURL(/#\/runs\/run_/)
    const runId = decodeURIComponent(page.url().split("#/runs/")[1]!)

    // The plot fills in live from the SSE stream.
    const points = () => page.$eval("#plot", (e) => Number(e.getAttribute("data-points") ?? "0"))
    await page.waitForSelector("#plot .uplot canvas")
    await page.waitForFunction(() => Number(document.querySelector("#plot")?.getAttribute("data-points") ?? "0") >= 5)
    const before = await points()
    await page.waitForFunction(
      (n) => Number(document.querySelector("#plot")?.getAttribute("data-points") ?? "0") > n,
      before
    )
    expect(await points()).toBeGreaterThan(before)
    await page.waitForSelector("#lineage li.me a.program-link")
    await page.waitForSelector("#models-table td.mono")
    expect(await page.textContent("#success-rate")).toMatch(/%/)

    // Pause, then resume, with the buttons.
    await page.click("#pause-button")
    await page.waitForFunction(() => document.querySelector("#run-status")?.textContent === "paused")
    await page.click("#resume-button")
    await page.waitForFunction(() => document.querySelector("#run-status")?.textContent === "running")
    const afterResume = await points()
    await page.waitForFunction(
      (n) => Number(document.querySelector("#plot")?.getAttribute("data-points") ?? "0") > n,
      afterResume
    )
    await page.screenshot({ path: resolve(artifacts, "ui-run.png"), fullPage: true })

    // The best program's diff against its parent, and its highlighted code.
    await page.click("#lineage li.me a.program-link")
    await page.waitForURL(/#\/programs\/p_/)
    await page.waitForSelector("#diff-view .d2h-wrapper")
    expect(await page.$$eval("#diff-view .d2h-ins, #diff-view .d2h-del", (e) => e.length)).toBeGreaterThan(0)
    await page.screenshot({ path: resolve(artifacts, "ui-program-diff.png"), fullPage: true })
    await page.click("#show-code")
    expect(await page.$$eval("#code-view .hljs-keyword", (e) => e.length)).toBeGreaterThan(0)

    // Back on the run page, Stop ends the run.
    await page.goto(`${server.url}/#/runs/${runId}`)
    await page.waitForSelector("#stop-button:not([disabled])")
    await page.click("#stop-button")
    await page.waitForFunction(() => document.querySelector("#run-status")?.textContent === "interrupted")
    await page.goto(`${server.url}/#/`)
    await page.waitForSelector(`#runs-table tr.run-row[data-id="${runId}"]`)
    await page.screenshot({ path: resolve(artifacts, "ui-runs.png"), fullPage: true })
    expect(problems).toEqual([])
    await page.close()

    // A login link (as `evolve serve` prints it) leaves no token in the address bar.
    const fresh = await browser.newContext()
    const linked = await fresh.newPage()
    await linked.goto(`${server.url}/?token=${server.token}`)
    await linked.waitForSelector(`#runs-table tr.run-row[data-id="${runId}"]`)
    expect(linked.url()).toBe(`${server.url}/`)
    // The API docs run under their CSP (their inline scripts allowed by hash).
    const violations: Array<string> = []
    linked.on("console", (m) => {
      if (m.type() === "error") violations.push(m.text())
    })
    await linked.goto(`${server.url}/docs`)
    await linked.waitForSelector(".swagger-ui .opblock")
    expect(violations).toEqual([])
    await fresh.close()
    // Idempotence check on the API side: the run is not active any more.
    expect((await server.post(`/api/runs/${runId}/stop`)).status).toBe(409)
  })
})
