import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    // One throwaway PostgreSQL for the run (test/support/postgres.ts gives each file its databases).
    globalSetup: ["test/support/postgresGlobalSetup.ts"]
  }
})
