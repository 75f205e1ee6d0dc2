/**
 * The evaluator files of cluster runs (issue 16): a run submitted to a cluster stores its
 * evaluator's directory here, file contents as blobs keyed by their SHA-256 (a file shared by many
 * runs is stored once), so a worker on another machine rebuilds the directory without it being on
 * its own disk. Runs on one machine (SQLite) store nothing here.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Context, Effect, Layer, Option } from "effect"
import { DatabaseError } from "../domain/Errors.js"
import { dbError, int, type Int8, transaction } from "./Rows.js"
import * as Traced from "../domain/Traced.js"

/** One file of an evaluator's directory. */
export interface EvaluatorFile {
  /** Relative to the directory, with `/` separators. */
  readonly path: string
  /** SHA-256 of the content, hex. */
  readonly hash: string
  readonly executable: boolean
}

/** A run's evaluator as shipped: its directory's files and which one is the evaluator. */
export interface EvaluatorBundle {
  /** SHA-256 over the file list (paths, content hashes, executable bits): the directory's identity. */
  readonly bundleHash: string
  /** The evaluator file, relative to the directory. */
  readonly entry: string
  /** The directory on the submitting machine (absolute); paths under it in the config are mapped to the copy. */
  readonly root: string
  readonly files: ReadonlyArray<EvaluatorFile>
}

export class EvaluatorFileStore extends Context.Tag("evolve/EvaluatorFileStore")<EvaluatorFileStore, {
  /** Stores a run's evaluator: the blobs not stored yet and the run's file list, in one transaction. */
  readonly saveBundle: (
    runId: string,
    bundle: EvaluatorBundle,
    contents: ReadonlyMap<string, Uint8Array>
  ) => Effect.Effect<void, DatabaseError>
  /** The evaluator a run was submitted with (none: it runs from the path in its spec). */
  readonly getBundle: (runId: string) => Effect.Effect<Option.Option<EvaluatorBundle>, DatabaseError>
  readonly readBlob: (hash: string) => Effect.Effect<Uint8Array, DatabaseError>
  /** Deletes the blobs no run's evaluator lists any more; how many. */
  readonly pruneBlobs: Effect.Effect<number, DatabaseError>
}>() {}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return EvaluatorFileStore.of({
    saveBundle: Traced.fn("EvaluatorFileStore.saveBundle")(function*(runId, bundle, contents) {
      yield* transaction(sql, "store the evaluator's files")(Effect.gen(function*() {
        for (const [hash, content] of contents) {
          yield* sql`INSERT INTO evaluator_blobs ${
            sql.insert({ hash, size: content.byteLength, content: Buffer.from(content).toString("base64") })
          } ON CONFLICT (hash) DO NOTHING`
        }
        yield* sql`INSERT INTO run_evaluators ${
          sql.insert({ run_id: runId, bundle_hash: bundle.bundleHash, entry: bundle.entry, root: bundle.root })
        }`
        for (const file of bundle.files) {
          yield* sql`INSERT INTO run_evaluator_files ${
            sql.insert({ run_id: runId, path: file.path, hash: file.hash, executable: file.executable ? 1 : 0 })
          }`
        }
      }))
    }),

    getBundle: Traced.fn("EvaluatorFileStore.getBundle")(function*(runId) {
      const heads = yield* sql<{ bundle_hash: string; entry: string; root: string }>`SELECT bundle_hash, entry, root
        FROM run_evaluators WHERE run_id = ${runId}`.pipe(Effect.mapError(dbError("read the evaluator's files")))
      const head = heads[0]
      if (head === undefined) return Option.none()
      const files = yield* sql<{ path: string; hash: string; executable: Int8 }>`SELECT path, hash, executable
        FROM run_evaluator_files WHERE run_id = ${runId} ORDER BY path`.pipe(Effect.mapError(dbError("read the evaluator's files")))
      return Option.some({
        bundleHash: head.bundle_hash,
        entry: head.entry,
        root: head.root,
        files: files.map((f) => ({ path: f.path, hash: f.hash, executable: int(f.executable) === 1 }))
      })
    }),

    readBlob: Traced.fn("EvaluatorFileStore.readBlob")(function*(hash) {
      const rows = yield* sql<{ content: string }>`SELECT content FROM evaluator_blobs WHERE hash = ${hash}`.pipe(
        Effect.mapError(dbError("read an evaluator file"))
      )
      const row = rows[0]
      if (row === undefined) {
        return yield* new DatabaseError({ operation: "read an evaluator file", message: `no evaluator file with content hash ${hash} in the database` })
      }
      return new Uint8Array(Buffer.from(row.content, "base64"))
    }),

    pruneBlobs: sql<{ hash: string }>`DELETE FROM evaluator_blobs
      WHERE hash NOT IN (SELECT hash FROM run_evaluator_files) RETURNING hash`.pipe(
      Effect.map((rows) => rows.length),
      Effect.mapError(dbError("prune evaluator files"))
    )
  })
})

export const layer: Layer.Layer<EvaluatorFileStore, never, SqlClient.SqlClient> = Layer.effect(EvaluatorFileStore, make)
