/**
 * Content-addressed storage of programs that are trees of files (domain/ProgramTree.ts): each
 * distinct file content is one row of `blobs` (keyed by its sha256), and a program's tree is a
 * manifest (`[[path, hash], …]` as JSON, itself a blob) named by `programs.tree`; its `code`
 * column stays empty. 1,000 candidates of a 50-file project that each change one file store
 * about 1,050 file contents and 1,000 manifests, not 50,000 files. Single-file programs keep
 * their code in `programs.code` as before (`tree` NULL), so older databases read unchanged.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as ProgramTree from "../domain/ProgramTree.js"

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

export interface StoredCode {
  /** The `code` column: the program's text, or "" for a tree. */
  readonly code: string
  /** The `tree` column: the manifest's hash, or null for a single-file program. */
  readonly tree: string | null
  /** Blob rows to insert (ON CONFLICT DO NOTHING) before the program row. */
  readonly blobs: ReadonlyArray<{ readonly hash: string; readonly content: string }>
}

/**
 * Hashes that this process has already stored (or read): their rows are not sent again. A
 * bounded set, cleared when full; a hash missing from it only costs a redundant
 * `ON CONFLICT DO NOTHING` row.
 */
export const makeKnownBlobs = (max = 200_000) => {
  const known = new Set<string>()
  return {
    has: (hash: string) => known.has(hash),
    add: (hashes: Iterable<string>) => {
      for (const h of hashes) {
        if (known.size >= max) known.clear()
        known.add(h)
      }
    }
  }
}
export type KnownBlobs = ReturnType<typeof makeKnownBlobs>

/** What to store for `code`: the code itself, or a manifest and the blobs not known to be stored. */
export const toStored = (code: string, known: KnownBlobs): StoredCode => {
  if (!ProgramTree.isPacked(code)) return { code, tree: null, blobs: [] }
  const files = ProgramTree.unpack(code)
  const blobs = new Map<string, string>()
  const entries = files.map((f) => {
    const hash = sha256(f.content)
    if (!known.has(hash)) blobs.set(hash, f.content)
    return [f.path, hash] as const
  })
  const manifest = JSON.stringify(entries)
  const tree = sha256(manifest)
  if (!known.has(tree)) blobs.set(tree, manifest)
  return { code: "", tree, blobs: [...blobs].map(([hash, content]) => ({ hash, content })) }
}

/** The statement inserting `blobs` (none when empty). */
export const insertBlobs = (sql: SqlClient.SqlClient, blobs: StoredCode["blobs"]) =>
  blobs.length === 0
    ? undefined
    : sql`INSERT INTO blobs ${sql.insert(blobs.map((b) => ({ hash: b.hash, content: b.content })))} ON CONFLICT (hash) DO NOTHING`

const readBlobs = (sql: SqlClient.SqlClient, hashes: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const out = new Map<string, string>()
    // In slices, to stay under SQLite's bound-parameter limit.
    for (let i = 0; i < hashes.length; i += 500) {
      const slice = hashes.slice(i, i + 500) as Array<string>
      const rows = yield* sql<{ hash: string; content: string }>`SELECT hash, content FROM blobs WHERE hash IN ${sql.in(slice)}`
      for (const r of rows) out.set(r.hash, r.content)
    }
    return out
  })

/**
 * Rows with their `code` filled in from their tree (rows without one unchanged). A missing blob
 * is a broken database: it dies with the hash, rather than hand an evaluator a partial tree.
 */
export const resolveCode = <R extends { readonly code: string; readonly tree?: string | null | undefined }>(
  sql: SqlClient.SqlClient,
  rows: ReadonlyArray<R>
): Effect.Effect<Array<R>, SqlError> =>
  Effect.gen(function*() {
    const trees = [...new Set(rows.flatMap((r) => (r.tree == null ? [] : [r.tree])))]
    if (trees.length === 0) return rows as Array<R>
    const manifests = yield* readBlobs(sql, trees)
    const parsed = new Map<string, ReadonlyArray<readonly [string, string]>>()
    for (const tree of trees) {
      const text = manifests.get(tree)
      if (text === undefined) return yield* Effect.dieMessage(`program tree ${tree}: its manifest is missing from the blobs table`)
      parsed.set(tree, JSON.parse(text) as ReadonlyArray<readonly [string, string]>)
    }
    const fileHashes = [...new Set([...parsed.values()].flatMap((entries) => entries.map(([, h]) => h)))]
    const contents = yield* readBlobs(sql, fileHashes)
    return rows.map((r) => {
      if (r.tree == null) return r
      const files = parsed.get(r.tree)!.map(([path, hash]) => {
        const content = contents.get(hash)
        if (content === undefined) throw new Error(`program tree ${r.tree}: file ${path} (blob ${hash}) is missing from the blobs table`)
        return { path, content }
      })
      return { ...r, code: ProgramTree.pack(files) }
    })
  })
