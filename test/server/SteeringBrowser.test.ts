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

    await page.goto(`${server.url}/#/runs/${runId}/programs`)
    await page.waitForSelector("#programs-table tr.program-row button.pin")
    const first = await page.$eval("#programs-table tr.program-row:has(button.pin)", (r) => r.getAttribute("data-id"))
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
})
