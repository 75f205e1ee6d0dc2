/** Where things are, from the compiled location dist/scripts/bench/. */
import { readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))

export const repoRoot = resolve(here, "../../..")

/** The `evolve` executable users run: package.json's `bin.evolve`, else dist/src/main.js. */
export const evolveMain = (() => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { bin?: Record<string, string> }
  return join(repoRoot, pkg.bin?.["evolve"] ?? "dist/src/main.js")
})()

export const distSrc = join(repoRoot, "dist/src")
export const probeModule = join(here, "probe.js")
export const scenarioModule = (name: string) => join(here, "scenarios", `${name}.js`)
export const resultsFile = join(repoRoot, "bench/results.json")
export const docsDir = join(repoRoot, "docs")
