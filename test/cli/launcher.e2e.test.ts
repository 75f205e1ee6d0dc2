import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { runCli, startCli } from "../support/cli.js"

// The launcher (bin/evolve.mjs, issue 22): the bundled CLI through V8's code cache.
describe("the launcher's code cache", () => {
  const dir = mkdtempSync(join(tmpdir(), "evolve-launcher-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("writes one cache per command, and a run from the cache prints what a run without one does", async () => {
    const cache = join(dir, "cache")
    const plain = await runCli(["ls", "--help"], dir, { EVOLVE_CODE_CACHE: "0", EVOLVE_CODE_CACHE_DIR: cache })
    expect(plain.status).toBe(0)
    expect(() => readdirSync(cache)).toThrow() // EVOLVE_CODE_CACHE=0: nothing written
    const first = await runCli(["ls", "--help"], dir, { EVOLVE_CODE_CACHE_DIR: cache })
    const files = readdirSync(cache)
    // The cache, and how long the process that wrote it lived.
    expect(files).toHaveLength(2)
    expect(files[0]).toMatch(new RegExp(`^[0-9a-f]{16}-${process.version}-${process.arch}-ls\\.bin$`))
    expect(files[1]).toBe(`${files[0]}.lived`)
    const cached = await runCli(["ls", "--help"], dir, { EVOLVE_CODE_CACHE_DIR: cache })
    expect(readdirSync(cache)).toEqual(files)
    for (const run of [first, cached]) expect(run).toEqual(plain)
  })

  it("is written again by a process that lived more than twice as long as its writer, and only then", async () => {
    const cache = join(dir, "lived")
    await runCli(["ls", "--help"], dir, { EVOLVE_CODE_CACHE_DIR: cache })
    const file = readdirSync(cache).find((f) => f.endsWith(".bin"))!
    const lived = join(cache, `${file}.lived`)
    expect(Number(readFileSync(lived, "latin1"))).toBeGreaterThan(0)
    // A writer that lived long: this run's cache is not written.
    writeFileSync(lived, "100000")
    const mtime = statSync(join(cache, file)).mtimeMs
    await runCli(["ls", "--help"], dir, { EVOLVE_CODE_CACHE_DIR: cache })
    expect(statSync(join(cache, file)).mtimeMs).toBe(mtime)
    expect(readFileSync(lived, "latin1")).toBe("100000")
    // A writer that lived a moment (a run stopped by a bad flag, say): replaced.
    writeFileSync(lived, "0.001")
    await runCli(["ls", "--help"], dir, { EVOLVE_CODE_CACHE_DIR: cache })
    expect(Number(readFileSync(lived, "latin1"))).toBeGreaterThan(0.001)
  })

  it("keeps the cache of `evolve serve`, which sets V8's heap growth while it runs, acceptable to the next start", async () => {
    const cache = join(dir, "serve")
    const serve = async () => {
      const server = startCli(["serve", "--port", "0", "--no-token", "--db", join(dir, "serve.db")], dir, { EVOLVE_CODE_CACHE_DIR: cache })
      await server.until(/evolve serve: http/)
      await server.stop()
    }
    await serve()
    const file = join(cache, readdirSync(cache).find((f) => f.endsWith(".bin"))!)
    const written = readFileSync(file)
    // A cache V8 rejects is written again at exit; an accepted one is kept (its writer lived long enough).
    writeFileSync(`${file}.lived`, "100000")
    await serve()
    expect(readFileSync(file).equals(written)).toBe(true)
  }, 60_000)

  it("does without a cache it cannot write or read, without a word", async () => {
    const notADir = join(dir, "file")
    writeFileSync(notADir, "")
    const plain = await runCli(["--help"], dir, { EVOLVE_CODE_CACHE: "0" })
    const unwritable = await runCli(["--help"], dir, { EVOLVE_CODE_CACHE_DIR: join(notADir, "cache") })
    expect(unwritable).toEqual(plain)
    // A cache file that is not a code cache is rejected by V8 and replaced.
    const cache = join(dir, "bad")
    await runCli(["--help"], dir, { EVOLVE_CODE_CACHE_DIR: cache })
    const [file] = readdirSync(cache)
    writeFileSync(join(cache, file!), "not a code cache")
    expect(await runCli(["--help"], dir, { EVOLVE_CODE_CACHE_DIR: cache })).toEqual(plain)
    expect(readdirSync(cache)).toEqual([file, `${file}.lived`])
    expect(readFileSync(join(cache, file!), "utf8")).not.toBe("not a code cache")
  })
})
