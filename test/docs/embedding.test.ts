/**
 * Runs the code snippets of docs/embedding.md and of the README's "Embedding" section, and the
 * embedding examples. Imports of `evolve` are pointed at src/index.ts (so no build is needed);
 * with EVOLVE_DOCS_DIST=1 the
 * snippets also run in a plain `node` process against the built package (dist/, through the
 * package's own name), as an application that installed evolve would run them.
 */
import { execFileSync } from "node:child_process"
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..")
const out = join(root, "test-artifacts", "docs")

/** The code with `from "llm-evolve"` pointing at the sources. */
const toSources = (code: string) => code.replaceAll(`from "llm-evolve"`, `from ${JSON.stringify(join(root, "src/index.ts"))}`)

/** A copy of examples/ whose modules import the sources instead of the package. */
const examplesCopy = () => {
  const dir = join(out, "examples")
  cpSync(join(root, "examples"), dir, { recursive: true })
  for (const sub of ["embed-effect", "embed-promise"]) {
    for (const name of readdirSync(join(dir, sub)).filter((f) => f.endsWith(".mjs"))) {
      const file = join(dir, sub, name)
      writeFileSync(file, toSources(readFileSync(file, "utf8")))
    }
  }
  return dir
}

/** The fenced ts/js blocks of a markdown text that import from "llm-evolve". */
const snippets = (markdown: string): Array<string> =>
  [...markdown.matchAll(/^```(?:ts|js|typescript|javascript)\n([\s\S]*?)^```$/gm)]
    .map((m) => m[1]!)
    .filter((code) => /from "llm-evolve"/.test(code))

const readmeEmbedding = () => {
  const readme = readFileSync(join(root, "README.md"), "utf8")
  const start = readme.indexOf("\n## Embedding")
  if (start < 0) return ""
  const next = readme.indexOf("\n## ", start + 1)
  return readme.slice(start, next < 0 ? undefined : next)
}

const docs = snippets(readFileSync(join(root, "docs/embedding.md"), "utf8"))
const readme = snippets(readmeEmbedding())

let logs: Array<string> = []
beforeAll(() => {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
})
afterAll(() => rmSync(out, { recursive: true, force: true }))
afterEach(() => vi.restoreAllMocks())

const run = async (name: string, code: string) => {
  logs = []
  vi.spyOn(console, "log").mockImplementation((...args: Array<unknown>) => void logs.push(args.map(String).join(" ")))
  const file = join(out, `${name}.ts`)
  writeFileSync(file, toSources(code))
  await import(/* @vite-ignore */ file)
  return logs
}

describe("docs/embedding.md", () => {
  it("has the three snippets: Promise, Effect, batch", () => {
    expect(docs.length).toBe(3)
    expect(docs[0]).toMatch(/await evolve\(/)
    expect(docs[1]).toMatch(/EvolveLive\(/)
    expect(docs[2]).toMatch(/processBatch\(/)
  })

  it("runs the Promise snippet", async () => {
    const lines = await run("promise", docs[0]!)
    expect(lines.some((l) => /^new best /.test(l))).toBe(true)
    expect(lines.some((l) => /^run run_\w+: best score -?[\d.e-]+ after 40 evaluations$/.test(l))).toBe(true)
    expect(lines.some((l) => /export const f = \(x\) => a \* x \+ b/.test(l))).toBe(true)
  })

  it("runs the Effect snippet", async () => {
    const lines = await run("effect", docs[1]!)
    expect(lines.some((l) => /^best x: [\d.]+ \(score -?[\d.e-]+, run run_\w+\)$/.test(l))).toBe(true)
  })

  it("runs the batch snippet", async () => {
    const lines = await run("batch", docs[2]!)
    expect(lines.filter((l) => /^#\d+ /.test(l)).length).toBe(12)
    expect(lines.find((l) => l.startsWith("#7 "))).toMatch(/^#7 failed: Error: unparseable \(attempts 1, waited \d+ ms, [1-4] in flight\)$/)
    expect(lines.find((l) => l.startsWith("#3 "))).toMatch(/^#3 DOCUMENT 3 \(attempts 2,/)
    expect(lines.at(-1)).toMatch(/^11 ok, 1 failed, 1 retries, 13 calls, max 4 in flight$/)
  })
})

describe("README Embedding section", () => {
  it("runs its snippets", async () => {
    expect(readme.length).toBeGreaterThan(0)
    for (const [i, code] of readme.entries()) {
      await run(`readme-${i}`, code)
    }
  })
})

describe("examples", () => {
  it("runs examples/embed-effect", async () => {
    vi.stubEnv("EVOLVE_ITERATIONS", "12")
    logs = []
    vi.spyOn(console, "log").mockImplementation((...args: Array<unknown>) => void logs.push(args.map(String).join(" ")))
    const { program } = await import(/* @vite-ignore */ join(examplesCopy(), "embed-effect/main.mjs"))
    await Effect.runPromise(program)
    vi.unstubAllEnvs()
    expect(logs.some((l) => /^best combined_score [\d.]+ after 12 evaluations/.test(l))).toBe(true)
  })

  it("runs examples/embed-promise", async () => {
    vi.stubEnv("EVOLVE_ITERATIONS", "12")
    logs = []
    vi.spyOn(console, "log").mockImplementation((...args: Array<unknown>) => void logs.push(args.map(String).join(" ")))
    const { run } = await import(/* @vite-ignore */ join(examplesCopy(), "embed-promise/main.mjs"))
    await run()
    vi.unstubAllEnvs()
    expect(logs.some((l) => /^best max error [\d.e-]+ after 12 evaluations/.test(l))).toBe(true)
  })
})

describe("package entry points (dist/, through the package's own name)", () => {
  it("keeps the HTTP service out of the root import and serves it at evolve/server", () => {
    const code = `
      const root = await import("llm-evolve")
      const server = await import("llm-evolve/server")
      console.log(JSON.stringify({
        rootHasServer: "Server" in root || "ServerApi" in root,
        rootHasEvolve: typeof root.evolve,
        serverLayer: typeof server.Server.layer,
        api: typeof server.ServerApi.EvolveApi
      }))`
    const stdout = execFileSync(process.execPath, ["--input-type=module", "-e", code], { cwd: root, encoding: "utf8" })
    expect(JSON.parse(stdout)).toEqual({ rootHasServer: false, rootHasEvolve: "function", serverLayer: "function", api: "function" })
  })
})

describe.runIf(process.env["EVOLVE_DOCS_DIST"] === "1")("against the built package (node, dist/)", () => {
  for (const [i, code] of [...docs, ...readme].entries()) {
    it(`runs snippet ${i} in node`, () => {
      const file = join(out, `node-${i}.mjs`)
      writeFileSync(file, code)
      const stdout = execFileSync(process.execPath, [file], { cwd: root, encoding: "utf8", env: { ...process.env, EVOLVE: "" } })
      expect(stdout.length).toBeGreaterThan(0)
    })
  }
})
