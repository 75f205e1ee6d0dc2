import type { Browser, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type FakeOpenAiServer, startFakeOpenAiServer } from "../support/FakeOpenAiServer.js"
import { browserAvailable, launch, shot, watchedPage } from "./browser.js"
import { type Running, startServer } from "./support.js"

const evaluations = (page: Page) => page.$eval("#plot", (e) => Number(e.getAttribute("data-points") ?? "0"))
const attr = (page: Page, selector: string, name: string) => page.$eval(selector, (e, n) => e.getAttribute(n) ?? "", name)

const searchYaml = `seed: 3
population:
  islands: 2
  migration_interval: 10
  map_elites:
    features: [{ name: code_length, bins: 6 }, { name: mean_value, bins: 5 }]
  objectives: [{ metric: combined_score }, { metric: mean_value, direction: minimize }]
`

describe.skipIf(!browserAvailable)("web UI in headless Chromium", () => {
  let server: Running
  let llm: FakeOpenAiServer
  let browser: Browser
  beforeAll(async () => {
    llm = await startFakeOpenAiServer({ latency: { meanMs: 120, jitterMs: 60 }, seed: 5 })
    server = await startServer()
    browser = await launch()
  })
  afterAll(async () => {
    await browser?.close()
    await server?.close()
    await llm?.close()
  })

  it("starts a run from the form, follows it live (plot, lineage graph), sorts and filters its programs, shows and compares programs", async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } })
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url })
    const { page, problems } = await watchedPage(context, server.url)

    // The server asks for its token: the login page, then the UI.
    await page.goto(server.url)
    await page.fill("#token", "not-the-token")
    await page.click("#login-button")
    await page.waitForFunction(() => (document.querySelector(".error")?.textContent ?? "").includes("wrong token"))
    await page.fill("#token", server.token!)
    await page.click("#login-button")
    await page.waitForSelector("#runs-table")
    expect(problems.splice(0)).toEqual(Array(2).fill("console: Failed to load resource: the server responded with a status of 401 (Unauthorized)"))
    expect(await page.textContent("#runs-table")).toContain("No runs yet")

    // New run: program and evaluator picked from the workspace, provider fields prefilled.
    await page.click("#new-run-link")
    await page.waitForSelector("#new-run-form")
    expect(await page.inputValue("#max-evaluations-input")).toBe("100")
    await page.click("#program-browse")
    await page.click('#file-picker button[data-path="examples"]')
    await page.click('#file-picker button[data-path="examples/function_minimization"]')
    await shot(page, "ui-file-picker")
    await page.click('#file-picker button[data-path="examples/function_minimization/initial_program.mjs"]')
    expect(await page.inputValue("#program-input")).toBe("examples/function_minimization/initial_program.mjs")
    await page.click("#evaluator-browse")
    await page.waitForSelector('#file-picker button[data-path="examples/function_minimization/evaluator.mjs"]') // opens beside the program
    await page.keyboard.press("Escape")
    await page.click("#evaluator-browse")
    await page.click('#file-picker button[data-path="examples/function_minimization/evaluator.mjs"]')
    await page.selectOption("#provider-input", "openai-chat")
    await page.fill("#model-input", "fake-model")
    await page.fill("#base-url-input", llm.url)
    await page.fill("#max-evaluations-input", "100000")
    await page.fill("#proposals-input", "3")
    // A bad setting is refused with its path, and nothing starts.
    await page.fill("#config-input", "population:\n  islands: many\n")
    await page.click("#start-button")
    await page.waitForFunction(() => (document.querySelector("#new-run-error")?.textContent ?? "").includes("population.islands"))
    expect(problems.splice(0)).toEqual(["console: Failed to load resource: the server responded with a status of 400 (Bad Request)"])
    await page.fill("#config-input", searchYaml)
    await shot(page, "ui-new-run")
    await page.click("#start-button")
    await page.waitForURL(/#\/runs\/run_/)
    const runId = decodeURIComponent(page.url().split("#/runs/")[1]!)

    // Overview: the plot fills in live from the event stream; the throughput timeline names the bottleneck.
    await page.waitForSelector("#plot .uplot canvas")
    await page.waitForFunction(() => Number(document.querySelector("#plot")?.getAttribute("data-points") ?? "0") >= 6)
    const before = await evaluations(page)
    await page.waitForFunction((n) => Number(document.querySelector("#plot")?.getAttribute("data-points") ?? "0") > n, before)
    await page.waitForSelector("#timeline .uplot canvas")
    expect(await attr(page, "#bottleneck", "data-bottleneck")).toMatch(/^(llm|evaluator|neither|unknown)$/)
    await page.selectOption("#metric-select", "mean_value")
    await page.selectOption("#x-select", "time")
    await page.waitForFunction(() => Number(document.querySelector("#plot")?.getAttribute("data-points") ?? "0") > 0)
    await shot(page, "ui-run-overview")

    // Lineage: every program, updated live.
    await page.click("#tab-lineage")
    await page.waitForSelector('#view[data-ready="lineage"]')
    const shown = Number(await attr(page, "#lineage-canvas", "data-total"))
    expect(shown).toBeGreaterThan(3)
    await page.waitForFunction((n) => Number(document.querySelector("#lineage-canvas")?.getAttribute("data-total") ?? "0") > n, shown, { timeout: 30_000 })

    // Pause and resume, then stop: the graph then holds every stored program.
    await page.click("#pause-button")
    await page.waitForFunction(() => document.querySelector("#run-status")?.textContent === "paused")
    await page.click("#resume-button")
    await page.waitForFunction(() => document.querySelector("#run-status")?.textContent === "running")
    await page.click("#stop-button")
    await page.waitForFunction(() => document.querySelector("#run-status")?.textContent === "interrupted")
    const total = (await server.json(`/api/runs/${runId}/programs?limit=1`)).body.total
    await page.waitForFunction((n) => document.querySelector("#lineage-canvas")?.getAttribute("data-total") === String(n), total, { timeout: 15_000 })
    await page.uncheck("#lineage-failed")
    const scored = (await server.json(`/api/runs/${runId}/programs?limit=1&status=evaluated`)).body.total
    expect(Number(await attr(page, "#lineage-canvas", "data-nodes"))).toBeGreaterThanOrEqual(scored)
    await page.check("#lineage-failed")
    await page.focus("#lineage-canvas")
    await page.keyboard.press("b")
    const bestId = await attr(page, "#lineage-canvas", "data-best")
    await page.waitForFunction((id) => document.querySelector("#lineage-panel")?.getAttribute("data-id") === id, bestId)
    await page.keyboard.press("ArrowUp") // walks to the parent
    const parentId = (await server.json(`/api/programs/${bestId}`)).body.parentId
    await page.waitForFunction((id) => document.querySelector("#lineage-panel")?.getAttribute("data-id") === id, parentId)
    await shot(page, "ui-run-lineage")

    // Programs: server-side sort and filters.
    await page.click("#tab-programs")
    await page.waitForSelector("#programs-table tr.program-row")
    await page.click('#programs-table button.sort[data-sort="score"]') // score descending → ascending
    await page.waitForSelector('#programs-table th[aria-sort="ascending"] button[data-sort="score"]')
    const scores = await page.$$eval("#programs-table tr.program-row td:nth-child(4)", (tds) => tds.map((td) => td.textContent))
    const numeric = scores.filter((s) => s !== "—").map(Number)
    expect(numeric.length).toBeGreaterThan(3)
    expect(numeric).toEqual([...numeric].sort((a, b) => a - b))
    await page.selectOption("#programs-status", "evaluated")
    await page.waitForFunction(() => Array.from(document.querySelectorAll("#programs-table tr.program-row .badge")).every((b) => b.textContent === "evaluated"))
    await page.click('#programs-table button.sort[data-sort="metric:mean_value"]')
    await page.waitForSelector('#programs-table th[aria-sort="descending"] button[data-sort="metric:mean_value"]')
    await page.fill("#programs-text", "no such text anywhere")
    await page.waitForFunction(() => document.querySelector("#programs-range")?.textContent === "0 programs")
    await page.fill("#programs-text", "")
    await page.waitForSelector("#programs-table tr.program-row")
    await shot(page, "ui-run-programs")
    const rows = await page.$$eval("#programs-table tr.program-row", (trs) => trs.slice(0, 2).map((tr) => tr.getAttribute("data-id")!))
    await page.check(`#programs-table input.pick[data-id="${rows[0]}"]`)
    await page.check(`#programs-table input.pick[data-id="${rows[1]}"]`)
    await page.click("#compare-programs")
    await page.waitForURL(new RegExp(`#/compare/${rows[0]}/${rows[1]}`))
    await page.waitForSelector("#compare-table")
    await page.waitForSelector("#compare-diff .d2h-wrapper, #same-code")
    await shot(page, "ui-compare-programs")

    // Search and LLM views.
    await page.goto(`${server.url}/#/runs/${runId}/search`)
    await page.waitForSelector("#islands-table tbody tr")
    expect(await page.$$eval("#islands-table tbody tr", (trs) => trs.length)).toBe(2)
    await page.waitForSelector("#map-elites svg.heatmap rect.cell")
    await page.waitForSelector("#pareto svg.scatter circle.front")
    await shot(page, "ui-run-search")
    await page.goto(`${server.url}/#/runs/${runId}/llm`)
    await page.waitForSelector("#bandit-table tbody tr")
    expect(await page.textContent("#models-table")).toContain("fake-model")
    await shot(page, "ui-run-llm")

    // The best program: prompt and response, patch, diff named after the file (no "RENAMED"), copy and download.
    // The run recorded what the proposal sent and what the fake model answered.
    const best = (await server.json(`/api/programs/${bestId}`)).body
    const parentCode: string = (await server.json(`/api/programs/${parentId}`)).body.code
    expect(best.transcripts.length).toBeGreaterThan(0)
    const exchange = best.transcripts[best.transcripts.length - 1]
    expect(exchange.user).toContain(parentCode.split("\n").find((l: string) => l.trim().length > 20)!.trim())
    expect(exchange.response).toContain("SEARCH")
    await page.goto(`${server.url}/#/programs/${bestId}`)
    await page.waitForSelector("#diff-view .d2h-wrapper")
    expect(await page.textContent("#diff-view .d2h-file-name")).toBe("initial_program.mjs")
    expect(await page.textContent("#diff-view")).not.toMatch(/RENAMED/i)
    expect(await page.$$eval("#diff-view .d2h-ins, #diff-view .d2h-del", (e) => e.length)).toBeGreaterThan(0)
    await page.click("#show-prompt")
    expect(await page.textContent("#prompt-text")).toContain(exchange.user.slice(0, 200))
    expect(await page.textContent("#response-text")).toContain(exchange.response.slice(0, 100))
    await page.click("#show-patch")
    expect(await page.textContent("#patch-view")).toMatch(/SEARCH|REPLACE|\S/)
    await page.click("#show-code")
    expect(await page.$$eval("#code-view .hljs-keyword", (e) => e.length)).toBeGreaterThan(0)
    await page.click("#copy-code")
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe((await server.json(`/api/programs/${bestId}`)).body.code)
    const download = await page.$eval("#download-code", (a) => a.getAttribute("href"))
    expect((await server.raw(download!)).headers["content-disposition"]).toMatch(/^attachment; filename=".*initial_program\.mjs"$/)
    await page.click("#show-prompt")
    await shot(page, "ui-program")
    await page.click("#show-diff")
    await shot(page, "ui-program-diff")
    expect(problems).toEqual([])
    await context.close()
  })

  it("extends a finished run, compares, archives and deletes runs; unknown ids; keyboard; narrow screens", async () => {
    const create = async (max: number) => {
      const created = await server.post("/api/runs", {
        program: "examples/function_minimization/initial_program.mjs",
        evaluator: "examples/function_minimization/evaluator.mjs",
        config: { max_evaluations: max, seed: max, llm: { provider: "offline" } }
      })
      expect(created.status).toBe(201)
      return created.body.id as string
    }
    const [finished, second] = await Promise.all([create(6), create(4)])
    for (const id of [finished, second]) {
      await server.events(`/api/runs/${id}/events`, (es) => es.some((e) => e.event === "RunStatusChanged" && e.data.status === "completed"))
    }
    const fresh = await browser.newContext()
    const { page, problems } = await watchedPage(fresh, server.url)
    await page.goto(`${server.url}/?token=${server.token}`)
    await page.waitForSelector(`#runs-table tr.run-row[data-id="${finished}"]`)

    // A finished run: elapsed shown, no dead Resume, Extend runs more evaluations.
    await page.goto(`${server.url}/#/runs/${finished}`)
    await page.waitForFunction(() => document.querySelector("#run-status")?.textContent === "completed")
    expect(await page.textContent("#elapsed")).not.toBe("—")
    expect(await page.isHidden("#resume-button")).toBe(true)
    await page.fill("#extend-by", "4")
    await page.click("#extend-button")
    await page.waitForFunction(() => document.querySelector("#eval-count")?.textContent?.endsWith("/ 10"))
    await page.waitForFunction(() => document.querySelector("#run-status")?.textContent === "completed", undefined, { timeout: 30_000 })
    expect((await server.json(`/api/runs/${finished}`)).body.evaluated).toBeGreaterThan(6)

    // The dashboard: compare two runs' curves, archive one, delete it.
    await page.goto(`${server.url}/#/`)
    await page.waitForSelector("#runs-table tr.run-row")
    const ids = await page.$$eval("#runs-table tr.run-row", (trs) => trs.map((tr) => tr.getAttribute("data-id")!))
    expect(ids).toEqual(expect.arrayContaining([finished, second]))
    await page.press("body", "/")
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("runs-filter")
    for (const id of [finished, second]) await page.check(`#runs-table tr[data-id="${id}"] input.pick`)
    await page.click("#compare-runs")
    await page.waitForSelector('#compare-plot[data-runs="2"] .uplot canvas')
    await shot(page, "ui-compare-runs")
    await page.goto(`${server.url}/#/`)
    await page.click(`#runs-table tr[data-id="${finished}"] button.archive`)
    await page.waitForSelector(`#runs-table tr[data-id="${finished}"]`, { state: "detached" })
    await page.check("#show-archived")
    await page.waitForSelector(`#runs-table tr[data-id="${finished}"]`)
    await shot(page, "ui-runs")
    await page.click(`#runs-table tr[data-id="${finished}"] button.delete`)
    await page.click("#confirm-no") // a cancelled confirmation deletes nothing
    expect((await server.json(`/api/runs/${finished}`)).status).toBe(200)
    await page.click(`#runs-table tr[data-id="${finished}"] button.delete`)
    await page.click("#confirm-yes")
    await page.waitForSelector(`#runs-table tr[data-id="${finished}"]`, { state: "detached" })
    expect((await server.json(`/api/runs/${finished}`)).status).toBe(404)
    expect((await server.json(`/api/runs/${finished}/programs`)).status).toBe(404)

    // Keyboard: a focused row opens with Enter.
    const other = second
    await page.focus(`#runs-table tr[data-id="${other}"]`)
    await page.keyboard.press("Enter")
    await page.waitForURL(new RegExp(`#/runs/${other}$`))

    // Unknown ids: a clear page, no controls.
    await page.goto(`${server.url}/#/runs/run_does_not_exist`)
    await page.waitForSelector("#not-found")
    expect(await page.$("#pause-button")).toBeNull()
    await shot(page, "ui-not-found")
    await page.goto(`${server.url}/#/programs/p_does_not_exist`)
    await page.waitForSelector("#not-found")
    expect(problems.splice(0).every((p) => p.includes("404 (Not Found)"))).toBe(true)

    // A narrow screen: nothing wider than the viewport.
    await page.setViewportSize({ width: 390, height: 844 })
    for (const [hash, ready] of [[`#/runs/${other}`, '#view[data-ready="overview"]'], [`#/`, "#runs-table"], [`#/new`, "#new-run-form"]] as const) {
      await page.goto(`${server.url}/${hash}`)
      await page.waitForSelector(ready)
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
      const wide = await page.evaluate(() => Array.from(document.querySelectorAll("body *")).filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5).map((e) => e.tagName + "." + e.className + "#" + e.id))
      expect(overflow, hash + " " + wide.join(" ")).toBeLessThanOrEqual(1)
    }
    await shot(page, "ui-narrow-new-run")
    await page.goto(`${server.url}/#/runs/${other}`)
    await page.waitForSelector('#view[data-ready="overview"]')
    await shot(page, "ui-narrow-run")
    expect(problems).toEqual([])
    await fresh.close()

    // The API docs run under their CSP (their inline scripts allowed by hash).
    const docs = await browser.newContext()
    const { page: docsPage, problems: docsProblems } = await watchedPage(docs, server.url)
    await docsPage.goto(`${server.url}/?token=${server.token}`)
    await docsPage.goto(`${server.url}/docs`)
    await docsPage.waitForSelector(".swagger-ui .opblock")
    expect(docsProblems).toEqual([])
    await docs.close()
  })
})
