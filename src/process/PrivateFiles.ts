import { Effect } from "effect"

/**
 * Files and directories this process creates from now on are its user's alone (0600, 0700):
 * `evolve serve`'s database, its WAL, its token file. SQLite creates the WAL with the mode of the
 * database file, so the umask covers both.
 */
export const restrictNewFiles = Effect.sync(() => {
  process.umask(0o077)
})
