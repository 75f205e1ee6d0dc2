import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"

const json = (file: string) => JSON.parse(readFileSync(file, "utf8"))

// `npx evolve` outside the checkout resolves to an unrelated registry package (evolve@0.0.4):
// the package has a name of its own and keeps the `evolve` command.
describe("the package", () => {
  it("is llm-evolve with the evolve command, and its lock file agrees with package.json", () => {
    const pkg = json("package.json")
    const lock = json("package-lock.json")
    expect(pkg.name).toBe("llm-evolve")
    expect(Object.keys(pkg.bin)).toEqual(["evolve"])
    expect(lock.name).toBe(pkg.name)
    expect(lock.packages[""].name).toBe(pkg.name)
    expect(lock.packages[""].version).toBe(pkg.version)
    expect(lock.packages[""].bin).toEqual(Object.fromEntries(Object.entries(pkg.bin).map(([k, v]) => [k, String(v).replace(/^\.\//, "")])))
    expect(lock.packages[""].dependencies).toEqual(pkg.dependencies)
  })

  it("the README runs evolve as its command, never `npx evolve` outside the checkout", () => {
    const readme = readFileSync("README.md", "utf8")
    const npx = readme.split("\n").filter((line) => /npx evolve\b/.test(line))
    expect(npx.every((line) => /this checkout/.test(line))).toBe(true)
    expect(readme).toMatch(/npm install -g/)
    expect(readme).not.toMatch(/from "evolve"/)
  })
})
