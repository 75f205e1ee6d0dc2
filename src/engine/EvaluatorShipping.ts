/**
 * The evaluator's files travel with a cluster run (issue 16): at submission its directory — the
 * evaluator file and what sits beside it (a Shinka evaluate.py's helper modules, data files) — is
 * stored in the database by content hash; a worker rebuilds it once in its cache directory, keyed
 * by the directory's content hash, and evaluates from that copy for every candidate of every run
 * shipping the same files. A run on one machine (SQLite) ships nothing: it runs from its path.
 * The cache is bounded: a worker keeps the copies it used most recently (a copy's mtime is its
 * last use, so the workers of one machine share the order) and removes the others, never one it
 * evaluates with nor one used within the last hour (another worker of the machine may be).
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Clock, Duration, Effect, Option } from "effect"
import { createHash } from "node:crypto"
import type { EvaluatorBundle, EvaluatorFile } from "../db/EvaluatorFileStore.js"
import { EvaluatorFileStore } from "../db/EvaluatorFileStore.js"
import { ConfigError, DatabaseError } from "../domain/Errors.js"
import type { RunSpec } from "../domain/RunConfig.js"

/** What a run ships at most: the directory is the evaluator's, not a whole project's. */
export const MAX_BYTES = 16 * 1024 * 1024
export const MAX_FILES = 2000
const MAX_DEPTH = 8

/** Never shipped: hidden files and directories (.git, .env, .evolve's token), caches, databases. */
const skipped = (name: string) =>
  name.startsWith(".") || name === "__pycache__" || name === "node_modules" ||
  /\.(db|sqlite3?)(-wal|-shm|-journal)?$/.test(name)

const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex")

/** The directory's identity: its files' paths, contents and executable bits. */
const bundleHashOf = (entry: string, files: ReadonlyArray<EvaluatorFile>) =>
  sha256(JSON.stringify({ entry, files: files.map((f) => [f.path, f.hash, f.executable]) }))

export interface Collected {
  readonly bundle: EvaluatorBundle
  readonly contents: ReadonlyMap<string, Uint8Array>
}

const megabytes = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MB`

/**
 * The evaluator's directory as it will be shipped. Fails, naming the cap, when the directory holds
 * more than MAX_BYTES or MAX_FILES of files.
 */
export const collect = (evaluatorPath: string, caps: { readonly maxBytes?: number; readonly maxFiles?: number } = {}) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const maxBytes = caps.maxBytes ?? MAX_BYTES
    const maxFiles = caps.maxFiles ?? MAX_FILES
    const entryPath = path.resolve(evaluatorPath)
    const root = path.dirname(entryPath)
    const unreadable = (what: string) => (e: { readonly message: string }) =>
      new ConfigError({ path: "evaluator", message: `cannot read ${what} to ship it to the cluster's workers: ${e.message}` })
    const tooBig = (why: string) =>
      new ConfigError({
        path: "evaluator",
        message: `the evaluator's directory ${root} ${why}: a cluster run ships that directory to its workers; ` +
          `put the evaluator and the files it needs in a directory of their own`
      })
    const files: Array<EvaluatorFile> = []
    const contents = new Map<string, Uint8Array>()
    let total = 0
    const add = (relative: string, absolute: string, info: FileSystem.File.Info) =>
      Effect.gen(function*() {
        // Sizes are checked before reading: a huge file in the directory is refused, not loaded.
        if (total + Number(info.size) > maxBytes) return yield* tooBig(`holds more than ${megabytes(maxBytes)} of files`)
        if (files.length + 1 > maxFiles) return yield* tooBig(`holds more than ${maxFiles} files`)
        const content = yield* fs.readFile(absolute).pipe(Effect.mapError(unreadable(absolute)))
        total += content.byteLength
        const hash = sha256(content)
        contents.set(hash, content)
        files.push({ path: relative, hash, executable: (info.mode & 0o111) !== 0 })
      })
    const walk = (dir: string, prefix: string, depth: number): Effect.Effect<void, ConfigError> =>
      Effect.gen(function*() {
        const names = (yield* fs.readDirectory(dir).pipe(Effect.mapError(unreadable(dir)))).slice().sort()
        for (const name of names) {
          const absolute = path.join(dir, name)
          const relative = prefix === "" ? name : `${prefix}/${name}`
          if (absolute !== entryPath && skipped(name)) continue
          const info = yield* fs.stat(absolute).pipe(Effect.option) // a dangling link is not shipped
          if (Option.isNone(info)) continue
          if (info.value.type === "Directory") {
            if (depth < MAX_DEPTH) yield* walk(absolute, relative, depth + 1)
          } else if (info.value.type === "File") {
            yield* add(relative, absolute, info.value)
          }
        }
      })
    const entryInfo = yield* fs.stat(entryPath).pipe(Effect.option)
    if (Option.isNone(entryInfo) || entryInfo.value.type !== "File") {
      return yield* new ConfigError({ path: "evaluator", message: `the evaluator ${entryPath} is not a readable file` })
    }
    yield* walk(root, "", 0)
    const entry = path.basename(entryPath)
    return { bundle: { bundleHash: bundleHashOf(entry, files), entry, root, files }, contents } satisfies Collected
  })

/** Stores a submitted run's evaluator files (collected before the run was stored). */
export const save = (runId: string, collected: Collected) =>
  Effect.flatMap(EvaluatorFileStore, (store) => store.saveBundle(runId, collected.bundle, collected.contents))

/**
 * The bundle's directory in `cacheDir`, written once: into a temporary directory renamed into
 * place, so a worker killed halfway leaves no half-written copy and two workers of one machine
 * may build it at once. Every file's content is checked against its hash.
 */
export const materialise = (cacheDir: string, bundle: EvaluatorBundle) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const store = yield* EvaluatorFileStore
    const target = path.join(cacheDir, bundle.bundleHash)
    const cacheError = (e: { readonly message: string }) =>
      new ConfigError({ path: "--cache-dir", message: `cannot write the evaluator's files under ${cacheDir}: ${e.message}` })
    const there = fs.exists(target).pipe(Effect.orElseSucceed(() => false))
    if (yield* there) {
      // Marked used first: a worker of this machine bounding the cache keeps a recent copy.
      yield* touch(target).pipe(Effect.ignore)
      if (yield* there) return target
    }
    yield* fs.makeDirectory(cacheDir, { recursive: true }).pipe(Effect.mapError(cacheError))
    const partial = yield* fs.makeTempDirectory({ directory: cacheDir, prefix: `${bundle.bundleHash}.partial-` }).pipe(
      Effect.mapError(cacheError)
    )
    const written = Effect.gen(function*() {
      for (const file of bundle.files) {
        const content = yield* store.readBlob(file.hash)
        if (sha256(content) !== file.hash) {
          return yield* new DatabaseError({
            operation: "read an evaluator file",
            message: `the stored content of ${file.path} does not match its hash ${file.hash}`
          })
        }
        const destination = path.join(partial, ...file.path.split("/"))
        yield* fs.makeDirectory(path.dirname(destination), { recursive: true }).pipe(Effect.mapError(cacheError))
        yield* fs.writeFile(destination, content, { mode: file.executable ? 0o755 : 0o644 }).pipe(Effect.mapError(cacheError))
      }
      // A temporary directory is private (0700): the evaluator may run as another user (a sandbox).
      yield* fs.chmod(partial, 0o755).pipe(Effect.mapError(cacheError))
      yield* fs.rename(partial, target).pipe(
        // Another worker of this machine finished first: its copy is the same files.
        Effect.catchAll((e) => Effect.flatMap(fs.exists(target).pipe(Effect.orElseSucceed(() => false)), (there) => there ? Effect.void : cacheError(e)))
      )
    })
    yield* written.pipe(Effect.ensuring(fs.remove(partial, { recursive: true }).pipe(Effect.ignore)))
    return target
  })

/** How many evaluator copies a worker keeps in its cache by default (`evolve worker --cache-keep`). */
export const DEFAULT_CACHE_KEEP = 16

/**
 * A copy used this recently is kept whatever the bound: another worker sharing the cache directory
 * may be evaluating with it (each worker marks a copy used at every candidate it evaluates).
 */
export const RECENT_USE = Duration.hours(1)

const copyName = /^[0-9a-f]{64}$/
const partialName = /^[0-9a-f]{64}\.partial-/

/** Marks the copy at `dir` used now: its mtime orders the cache, least recently used first. */
export const touch = (dir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const now = new Date(yield* Clock.currentTimeMillis)
    yield* fs.utimes(dir, now, now)
  })

/**
 * Bounds the cache at `cacheDir` to the `keep` most recently used copies: the others are removed,
 * least recently used first, except those in `inUse` (names: content hashes this worker evaluates
 * with) and those used within `recent` (another worker of the machine may be); so are the
 * leftovers of writes killed halfway, once as old. The names removed.
 */
export const prune = (
  cacheDir: string,
  options: { readonly keep: number; readonly inUse: ReadonlySet<string>; readonly recent?: Duration.DurationInput }
) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const now = yield* Clock.currentTimeMillis
    const recentMillis = Duration.toMillis(options.recent ?? RECENT_USE)
    const names = yield* fs.readDirectory(cacheDir).pipe(Effect.orElseSucceed(() => [] as ReadonlyArray<string>))
    const entries: Array<{ readonly name: string; readonly usedAt: number; readonly partial: boolean }> = []
    for (const name of names) {
      const partial = partialName.test(name)
      if (!partial && !copyName.test(name)) continue // not ours
      const info = yield* fs.stat(path.join(cacheDir, name)).pipe(Effect.option)
      if (Option.isNone(info) || info.value.type !== "Directory") continue
      entries.push({ name, usedAt: Option.getOrElse(Option.map(info.value.mtime, (d) => d.getTime()), () => 0), partial })
    }
    const recent = (e: { readonly usedAt: number }) => now - e.usedAt < recentMillis
    const copies = entries.filter((e) => !e.partial).sort((a, b) => b.usedAt - a.usedAt || a.name.localeCompare(b.name))
    const evicted = [
      ...entries.filter((e) => e.partial && !recent(e)),
      ...copies.slice(Math.max(0, options.keep)).filter((e) => !options.inUse.has(e.name) && !recent(e)).reverse()
    ]
    const removed: Array<string> = []
    for (const e of evicted) {
      if (yield* fs.remove(path.join(cacheDir, e.name), { recursive: true }).pipe(Effect.as(true), Effect.orElseSucceed(() => false))) {
        removed.push(e.name)
      }
    }
    return removed
  })

/**
 * The run's spec with its evaluator in `dir` (the copy of `bundle.root`): the evaluator path, and
 * paths under the root in its command, interpreter and environment.
 */
export const relocate = (spec: RunSpec, bundle: EvaluatorBundle, dir: string): RunSpec => {
  const map = (value: string) =>
    value === bundle.root ? dir : value.startsWith(`${bundle.root}/`) ? `${dir}${value.slice(bundle.root.length)}` : value
  const evaluator = spec.config.evaluator
  return {
    ...spec,
    evaluatorPath: `${dir}/${bundle.entry}`,
    config: {
      ...spec.config,
      evaluator: {
        ...evaluator,
        ...(evaluator.command === undefined ? {} : { command: evaluator.command.map(map) }),
        python: map(evaluator.python),
        env: Object.fromEntries(Object.entries(evaluator.env).map(([k, v]) => [k, map(v)]))
      }
    }
  }
}

/**
 * The spec a worker evaluates a run with — from its shipped files when it has some, else as
 * stored — and the copy of those files in the cache (its directory's name: the content hash).
 */
export const localRun = (runId: string, spec: RunSpec, cacheDir: string) =>
  Effect.gen(function*() {
    const shipped = yield* (yield* EvaluatorFileStore).getBundle(runId)
    if (Option.isNone(shipped)) return { spec, copy: Option.none<{ readonly dir: string; readonly name: string }>() }
    const dir = yield* materialise(cacheDir, shipped.value)
    yield* touch(dir).pipe(Effect.ignore)
    return { spec: relocate(spec, shipped.value, dir), copy: Option.some({ dir, name: shipped.value.bundleHash }) }
  })

/** The spec a worker evaluates a run with: from its shipped files when it has some, else as stored. */
export const localSpec = (runId: string, spec: RunSpec, cacheDir: string) => Effect.map(localRun(runId, spec, cacheDir), (local) => local.spec)
