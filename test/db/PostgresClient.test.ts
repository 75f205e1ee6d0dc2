/**
 * evolve's Postgres pool under a server that cuts connections (`pg_ctl restart`, a failover): a
 * connection terminated while someone holds it out of the pool, with no statement running, must
 * not end the process (node-postgres emits "error" on it; unheard, that event is fatal).
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import * as PostgresClient from "../../src/db/PostgresClient.js"
import { freshDatabase, required, unavailable } from "../support/postgres.js"

interface RawClient {
  readonly query: (sql: string) => Promise<{ rows: Array<Record<string, unknown>> }>
  readonly release: (error?: Error) => void
  readonly once: (event: "end", f: () => void) => void
}

describe.skipIf(unavailable !== undefined && !required)("PostgresClient", () => {
  it("survives the server terminating a connection held out of the pool while idle", async () => {
    const url = await Effect.runPromise(freshDatabase)
    const pool = await Effect.runPromise(PostgresClient.openPool(url))
    try {
      // Taken out of the pool, with no listener of its holder's: as between @effect/sql-pg's own.
      const client = await (pool.connect() as Promise<RawClient>)
      const pid = Number((await client.query("SELECT pg_backend_pid() AS pid")).rows[0]!["pid"])
      const ended = new Promise<void>((done) => client.once("end", done))
      await pool.query(`SELECT pg_terminate_backend(${pid})`)
      await ended
      // Still here (an unheard "error" would have failed this test run); the connection is unusable.
      await expect(client.query("SELECT 1")).rejects.toThrow()
      client.release(new Error("terminated by the server"))
      // The pool goes on with a new connection.
      await expect(pool.query("SELECT 1")).resolves.toBeDefined()
    } finally {
      await pool.end()
    }
  })
})

describe("PostgresClient.resilientPool", () => {
  type Callback = (error: Error | undefined, client?: unknown, release?: unknown) => void
  /** A driver pool whose connects answer from `script` in turn (an error code, or a client). */
  const fakePool = (script: Array<string>) => {
    const calls: Array<string> = []
    class Pool {
      connect(callback?: Callback) {
        if (callback === undefined) throw new Error("the resilient pool passes a callback")
        const next = script.shift()!
        calls.push(next)
        if (next === "ok") callback(undefined, { id: calls.length }, () => {})
        else callback(Object.assign(new Error(next), { code: next }))
      }
    }
    return { Pool, calls }
  }
  const connect = (pool: { connect: (callback?: Callback) => unknown }) =>
    new Promise<unknown>((resolve, reject) => pool.connect((error, client) => (error ? reject(error) : resolve(client))))

  it("fails the first connection at once; once connected, waits out a restart; never retries other errors", async () => {
    const { Pool, calls } = fakePool(["ECONNREFUSED", "ok", "57P03", "ECONNREFUSED", "ok", "28P01"])
    const pool = PostgresClient.resilientPool(Pool, {})
    await expect(connect(pool)).rejects.toThrow("ECONNREFUSED")
    await expect(connect(pool)).resolves.toEqual({ id: 2 })
    await expect(connect(pool)).resolves.toEqual({ id: 5 })
    await expect(connect(pool)).rejects.toThrow("28P01")
    expect(calls).toEqual(["ECONNREFUSED", "ok", "57P03", "ECONNREFUSED", "ok", "28P01"])
  })
})
