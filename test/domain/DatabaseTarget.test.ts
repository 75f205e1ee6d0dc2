import { describe, expect, it } from "vitest"
import { isPostgresUrl, redactDatabaseTarget, scrubPassword, urlProblem } from "../../src/domain/DatabaseTarget.js"

describe("database targets", () => {
  it("tells Postgres URLs from SQLite paths", () => {
    expect(isPostgresUrl("postgres://u@h/db")).toBe(true)
    expect(isPostgresUrl("PostgreSQL://u@h/db")).toBe(true)
    expect(isPostgresUrl(".evolve/evolve.db")).toBe(false)
    expect(isPostgresUrl("postgres.db")).toBe(false)
    expect(isPostgresUrl(":memory:")).toBe(false)
  })

  it("never shows a password, however the URL is written", () => {
    expect(redactDatabaseTarget("postgres://evolve:s3cret@db:5432/evolve")).toBe("postgres://evolve:***@db:5432/evolve")
    expect(redactDatabaseTarget("postgres://evolve@db/evolve")).toBe("postgres://evolve@db/evolve")
    expect(redactDatabaseTarget("postgresql://db/evolve?sslmode=require&password=s3cret")).toBe("postgresql://db/evolve?sslmode=require&password=***")
    // Unencoded "/", "@" or "?" in a password: the credentials end at the last "@".
    for (const url of ["postgres://u:pa/ss@h/db", "postgres://u:p@ss@h/db", "postgres://u:p?ss@h/db", "postgres://u:s3cret@h:99999/db"]) {
      expect(redactDatabaseTarget(url)).not.toMatch(/pa\/ss|p@ss|p\?ss|s3cret/)
    }
    expect(redactDatabaseTarget("/var/lib/evolve.db")).toBe("/var/lib/evolve.db")
  })

  it("names what is wrong with a URL before connecting", () => {
    expect(urlProblem("postgres://u:p@127.0.0.1:5432/db")).toBeUndefined()
    expect(urlProblem("postgres://u:p@:5432/db")).toMatch(/not a valid URL/)
    expect(urlProblem("postgres://u:p@h:99999/db")).toMatch(/not a valid URL/)
    expect(urlProblem("postgres:///db")).toMatch(/no host/)
    expect(urlProblem("postgres://u:%zz@h/db")).toMatch(/bad %-escape/)
  })

  it("scrubs the password, raw and decoded, from a driver's message", () => {
    expect(scrubPassword("postgres://u:a%2Fb%40cdef@h/db", "failed for a/b@cdef and a%2Fb%40cdef")).toBe("failed for *** and ***")
    expect(scrubPassword("postgres://u@h/db", "no password here")).toBe("no password here")
  })
})
