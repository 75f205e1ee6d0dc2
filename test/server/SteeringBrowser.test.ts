/** The run page's steering tab and the programs tab's Pin/Ban buttons (issue 17), in headless Chromium. */
import type { Browser } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { browserAvailable, launch, shot, watchedPage } from "./browser.js"
import { example, type Running, startServer } from "./support.js"

describe.skipIf(!browserAvailable)("web UI: steering", () => {
  let server: Running
  let browser: Browser
  beforeAll(async () => {
    server = await startServer({ token: null })
    browser = await launch()
  })
  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  it("adds and clears guidance with its history, pins and bans from the programs table, injects a program, sets concurrency", async () => {
    const created = await server.post(`/api/runs`, {
      program: example("initial_program.mjs"),
      evaluator: example("evaluator.mjs"),
      config: { max_evaluations: 100_000, seed: 5, concurrency: { proposals: 2, evaluations: 2 }, llm: { provider: "offline" } }
    })
    const runId: string = created.body.id
    await server.events(`/api/runs/${runId}/events`, (es) => es.filter((e) => e.event === "CandidateEvaluated").length >= 3)
    const { page, problems } = await watchedPage(browser, server.url)
    const steering = () => server.json(`/api/runs/${runId}/steering`).then((r) => r.body)

    await page.goto(`${server.url}/#/runs/${runId}/steering`)
    await page.waitForSelector("#guidance-card")
    expect(await page.$eval("#steering-box", (e) => e.textContent ?? "")).not.toMatch(/^null/)
    expect(await page.$("#steer-inactive")).toBeNull()
    await page.fill("#hint-text", "Search the interval more finely.")
    await page.click("#hint-add")
    await page.waitForSelector('#hint-history li[data-version="1"].on')
    await page.fill("#hint-text", "Use fewer iterations.")
    await page.click("#hint-replace")
    await page.waitForSelector('#hint-history li[data-version="1"].off')
    await page.click('#hint-history li[data-version="2"] button')
    await page.waitForSelector('#hint-history li[data-version="2"].off')
    expect((await steering()).guidance.map((h: any) => h.clearedAt !== null)).toEqual([true, true])

    await page.fill("#inject-code", "export const x = 0.125 // by hand\n")
    await page.fill("#inject-note", "from the browser")
    await page.click("#inject-button")
    await page.waitForURL(/#\/programs\//)
    const injected = (await steering()).injected
    expect(injected).toHaveLength(1)
    expect(page.url()).toContain(injected[0])

    // A fresh load of the programs tab (not a hash change from the program page the inject opened).
    await page.goto(`${server.url}/#/runs/${runId}/programs`)
    await page.reload()
    await page.waitForSelector("#programs-table tr.program-row button.pin", { timeout: 60_000 })
    // The table re-renders as evaluations come in: read the id in one go.
    const first = await (await page.waitForFunction(() =>
      document.querySelector("#programs-table tr.program-row button.pin")?.closest("tr")?.getAttribute("data-id"))).jsonValue()
    await page.click(`#programs-table tr.program-row[data-id="${first}"] button.pin`)
    await page.waitForFunction(() => (document.querySelector("#steer-status")?.textContent ?? "").startsWith("pinned"))
    expect((await steering()).pinned).toEqual([first])
    await page.click(`#programs-table tr.program-row[data-id="${first}"] button.ban`)
    await page.waitForFunction(() => (document.querySelector("#steer-status")?.textContent ?? "").startsWith("banned"))
    expect(await steering()).toMatchObject({ banned: [first], pinned: [] })

    await page.goto(`${server.url}/#/runs/${runId}/steering`)
    await page.waitForSelector("#banned-list a")
    await page.$eval("#proposals-slider", (e: any) => {
      e.value = "5"
      e.dispatchEvent(new Event("change"))
    })
    await expect.poll(async () => (await server.json(`/api/runs/${runId}`)).body.config.concurrency.proposals).toBe(5)
    await shot(page, "steering")
    expect(problems).toEqual([])
    await server.post(`/api/runs/${runId}/stop`)
  })
  it("shows a human model's waiting prompt and sends the answer typed in", async () => {
    const created = await server.post(`/api/runs`, {
      program: example("initial_program.mjs"),
      evaluator: example("evaluator.mjs"),
      config: { max_evaluations: 2, concurrency: { proposals: 1, evaluations: 1 }, llm: { provider: "human" } }
    })
    const runId: string = created.body.id
    const { page, problems } = await watchedPage(browser, server.url)
    await page.goto(`${server.url}/#/runs/${runId}/steering`)
    await page.waitForSelector("#prompts-card details.prompt", { timeout: 15_000 })
    const line = "  // A deliberately naive simulated annealing with poorly chosen parameters."
    await page.click("#prompts-card details.prompt summary")
    await page.fill("#prompts-card details.prompt textarea", `<<<<<<< SEARCH\n${line}\n=======\n${line}\n  // typed in the browser\n>>>>>>> REPLACE\n`)
    await page.click("#prompts-card details.prompt button")
    const events = await server.events(`/api/runs/${runId}/events`, (es) => es.some((e) => e.event === "CandidateProposed"))
    const programId = events.find((e) => e.event === "CandidateProposed")!.data.programId
    expect((await server.json(`/api/programs/${programId}`)).body.code).toContain("typed in the browser")
    expect(problems).toEqual([])
    await server.post(`/api/runs/${runId}/stop`)
  })
})
