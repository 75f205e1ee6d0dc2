/** Where things are, from the compiled location dist/scripts/bench/ (or the sources, under vitest). */
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))

/** The nearest folder above this file with a package-lock.json (dist/ has a copy of package.json: tsc's, for the version). */
export const repoRoot = (() => {
  let dir = here
  while (!existsSync(join(dir, "package-lock.json")) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
})()

/** The `evolve` executable users run: package.json's `bin.evolve`, else dist/src/main.js. */
export const evolveMain = (() => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { bin?: Record<string, string> }
  return join(repoRoot, pkg.bin?.["evolve"] ?? "dist/src/main.js")
})()

export const distSrc = join(repoRoot, "dist/src")
export const probeModule = join(here, "probe.js")
/** A Python file, not compiled: run from the source tree. */
export const treeLauncher = join(repoRoot, "scripts/bench/treeLauncher.py")
export const scenarioModule = (name: string) => join(here, "scenarios", `${name}.js`)
export const resultsFile = join(repoRoot, "bench/results.json")
export const docsDir = join(repoRoot, "docs")
