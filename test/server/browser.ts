/** Headless Chromium for the web UI tests: Debian's chromium, pages that record every console error and request off the server. */
import { existsSync, mkdirSync } from "node:fs"
import { resolve } from "node:path"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"

export const executablePath = process.env["EVOLVE_CHROMIUM"] ?? "/usr/bin/chromium"
/** Locally without chromium the suites are skipped; in CI they must run. */
export const browserAvailable = existsSync(executablePath) || process.env["CI"] !== undefined
export const artifacts = resolve(__dirname, "../../test-artifacts")

export const launch = (): Promise<Browser> => {
  mkdirSync(artifacts, { recursive: true })
  return chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
  })
}

/** A page whose problems (page errors, console errors, requests off `origin`) are collected. */
export const watchedPage = async (context: Browser | BrowserContext, origin: string, viewport = { width: 1400, height: 1000 }) => {
  const page: Page = await context.newPage({ viewport })
  const problems: Array<string> = []
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`))
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`)
  })
  page.on("request", (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith("blob:") && !r.url().startsWith("data:")) problems.push(`external request: ${r.url()}`)
  })
  return { page, problems }
}

export const shot = (page: Page, name: string) => page.screenshot({ path: resolve(artifacts, `${name}.png`), fullPage: true })
