import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { runCli } from "../support/cli.js"

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
    expect(files).toHaveLength(1)
    expect(files[0]).toMatch(new RegExp(`^[0-9a-f]{16}-${process.version}-${process.arch}-ls\\.bin$`))
    const cached = await runCli(["ls", "--help"], dir, { EVOLVE_CODE_CACHE_DIR: cache })
    expect(readdirSync(cache)).toEqual(files)
    for (const run of [first, cached]) expect(run).toEqual(plain)
  })

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
    expect(readdirSync(cache)).toEqual([file])
    expect(readFileSync(join(cache, file!), "utf8")).not.toBe("not a code cache")
  })
})
