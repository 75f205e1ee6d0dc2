import { describe, expect, it } from "vitest"
import { compatibleVersions, featureLine, VERSION } from "../../src/domain/Version.js"
import packageJson from "../../package.json" with { type: "json" }

describe("Version", () => {
  it("is package.json's version", () => {
    expect(VERSION).toBe(packageJson.version)
  })

  it("lets versions of one major.minor work together, whatever their patch level", () => {
    expect(compatibleVersions("0.1.0", "0.1.0")).toBe(true)
    expect(compatibleVersions("0.1.0", "0.1.12")).toBe(true)
    expect(compatibleVersions("1.4.2-rc.1", "1.4.0")).toBe(true)
    expect(compatibleVersions("0.1.0", "0.2.0")).toBe(false)
    expect(compatibleVersions("1.1.0", "2.1.0")).toBe(false)
    expect(compatibleVersions("0.10.0", "0.1.0")).toBe(false)
  })

  it("names a version's major.minor, or the text itself when it is no version", () => {
    expect(featureLine("0.1.3")).toBe("0.1")
    expect(featureLine("v2.10")).toBe("2.10")
    expect(featureLine("dev")).toBe("dev")
  })
})
