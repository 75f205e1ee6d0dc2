/**
 * The cluster's workers in the API (GET /api/workers, in the OpenAPI document) and on the web UI's
 * Workers page, in headless Chromium: a Postgres database lists the live workers; a SQLite one
 * has no cluster and says so.
 */
import { Effect } from "effect"
import type { Browser } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Db from "../../src/db/ProgramDatabase.js"
import { ALIVE_WINDOW_MILLIS, WorkerStore } from "../../src/db/WorkerStore.js"
import { freshDatabase, required, unavailable } from "../support/postgres.js"
import { browserAvailable, launch, shot, watchedPage } from "./browser.js"
import { type Running, startServer } from "./support.js"

const worker = (id: string, heartbeatAt: number) => ({
  id,
  host: `host-${id}`,
  pid: 42,
  version: "9.9.9",
  slots: 8,
  tags: ["gpu"],
  capabilities: ["python3", "node"],
  startedAt: heartbeatAt - 60_000,
  heartbeatAt
})

describe.skipIf(!browserAvailable)("web UI and API: workers", () => {
  let browser: Browser
  const servers: Array<Running> = []
  beforeAll(async () => {
    browser = await launch()
  })
  afterAll(async () => {
    await browser?.close()
    for (const server of servers) await server.close()
  })

  it("on SQLite: no cluster, no workers, and the page says so", async () => {
    const server = await startServer({ token: null })
    servers.push(server)
    const listed = await server.json("/api/workers")
    expect(listed.status).toBe(200)
    expect(listed.body).toMatchObject({ cluster: false, workers: [], aliveWindowMs: ALIVE_WINDOW_MILLIS })
    const openapi = (await server.json("/openapi.json")).body
    expect(Object.keys(openapi.paths)).toContain("/api/workers")
    expect(Object.keys(openapi.components.schemas)).toContain("Worker")

    const { page, problems } = await watchedPage(browser, server.url)
    await page.goto(`${server.url}/`)
    await page.click('nav a[href="#/workers"]')
    await page.waitForSelector("#no-cluster")
    expect(await page.textContent("#no-cluster")).toMatch(/^No cluster: this server's database is a SQLite file/)
    expect(await page.title()).toBe("Workers · evolve")
    expect(problems).toEqual([])
  })

  it.skipIf(unavailable !== undefined && !required)("on Postgres: the live workers with their figures, not the stopped or silent ones", async () => {
    const url = await Effect.runPromise(freshDatabase)
    const server = await startServer({ token: null, databasePath: url })
    servers.push(server)
    const empty = await server.json("/api/workers")
    expect(empty.body).toMatchObject({ cluster: true, workers: [] })
    const { page, problems } = await watchedPage(browser, server.url)
    await page.goto(`${server.url}/#/workers`)
    await page.waitForSelector("#workers-table")
    expect(await page.textContent("#workers-table tbody")).toMatch(/^No worker alive: runs wait for one/)

    const now = Date.now()
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const workers = yield* WorkerStore
      yield* workers.registerWorker(worker("w-busy", now))
      yield* workers.heartbeat("w-busy", { busy: 3, done: 17 }, now)
      yield* workers.registerWorker(worker("w-stopped", now))
      yield* workers.workerStopped("w-stopped", now)
      yield* workers.registerWorker(worker("w-silent", now - 2 * ALIVE_WINDOW_MILLIS))
    })).pipe(Effect.provide(Db.layer(url))))

    const listed = (await server.json("/api/workers")).body
    expect(listed.cluster).toBe(true)
    expect(listed.workers).toEqual([{ ...worker("w-busy", now), busy: 3, done: 17 }])
    await page.reload()
    await page.waitForSelector('#workers-table tr.worker-row[data-id="w-busy"]')
    const cells = await page.$$eval('#workers-table tr.worker-row[data-id="w-busy"] td', (tds) => tds.map((td) => td.textContent))
    expect(cells.slice(0, 5)).toEqual(["w-busy", "host-w-busy", "8", "3", "17"])
    expect(cells[5]).toMatch(/^\d+ s ago$/)
    expect(cells.slice(6)).toEqual(["gpu", "python3, node", "9.9.9"])
    expect(await page.textContent("#workers-summary")).toBe("1 worker alive: 3 of 8 slots busy.")
    expect(await page.$$("#workers-table tr.worker-row")).toHaveLength(1)
    await shot(page, "workers")
    expect(problems).toEqual([])
  })
})
