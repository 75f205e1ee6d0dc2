#!/usr/bin/env node
// evolve's launcher (copied to dist/bin/evolve.mjs by scripts/bundle.mjs). It runs the CLI,
// bundled into one CommonJS file (evolve.cjs), through V8's code cache: compiling the bundle's
// JavaScript was most of the start-up, and Node 20 has no module compile cache
// (`module.enableCompileCache` is Node ≥ 22.1). The cache is one file per bundle, Node version
// and command, in node_modules/.cache/evolve (or ~/.cache/evolve), written when the process exits
// the first time (or after V8 rejected it), and again by a process that lived more than twice as
// long as the one that wrote it: the first run of a command may have been one that stopped at a
// bad flag, which compiled little. A cache that cannot be read or written is skipped without a
// word, and EVOLVE_CODE_CACHE=0 loads the bundle with plain require().
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { homedir } from "node:os"
import { dirname, join, sep } from "node:path"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"
import * as vm from "node:vm"

const here = dirname(fileURLToPath(import.meta.url))
const nodeFlags = `${process.execArgv.join(" ")} ${process.env.NODE_OPTIONS ?? ""}`
// V8 hands a function to TurboFan once it has run about --interrupt-budget bytes of bytecode
// (66 KB by default). A candidate's path is a long tail of functions that each run a few times
// per candidate: at that budget V8 went on optimizing them for the whole of a run, ~1.5 ms of
// compiler threads' CPU per candidate (perf, warm workload), for code run a few hundred times
// more. At four times the budget only the hot core is optimized. Set before the bundle is
// compiled: V8 stamps the code cache with its flags.
if (!/--interrupt[-_]budget\b/.test(nodeFlags)) v8.setFlagsFromString("--interrupt-budget=270336")
const bundle = join(here, "evolve.cjs")
// Replaced by scripts/bundle.mjs with the hash of evolve.cjs.
const bundleHash = "__EVOLVE_BUNDLE_HASH__"
const require = createRequire(bundle)

/**
 * Where code caches go: EVOLVE_CODE_CACHE_DIR if set, else the node_modules/.cache/evolve of the
 * project evolve is installed in (or of this checkout), then $XDG_CACHE_HOME/evolve or
 * ~/.cache/evolve.
 */
const cacheDirs = () => {
  const own = process.env.EVOLVE_CODE_CACHE_DIR
  if (own !== undefined && own !== "") return [own]
  const dirs = []
  const marker = `${sep}node_modules${sep}`
  const inside = here.lastIndexOf(marker)
  const modules = inside >= 0 ? here.slice(0, inside + marker.length - 1) : join(here, "..", "..", "node_modules")
  if (existsSync(modules)) dirs.push(join(modules, ".cache", "evolve"))
  const xdg = process.env.XDG_CACHE_HOME
  dirs.push(xdg !== undefined && xdg !== "" ? join(xdg, "evolve") : join(homedir(), ".cache", "evolve"))
  return dirs
}

const run = () => {
  if (process.env.EVOLVE_CODE_CACHE === "0") return require(bundle)
  const command = /^[a-z][a-z-]{0,30}$/.test(process.argv[2] ?? "") ? process.argv[2] : "other"
  const name = `${bundleHash}-${process.version}-${process.arch}-${command}.bin`
  const dirs = cacheDirs()
  let cachedData
  // How long the process that wrote the cache lived (seconds), from the file beside it.
  let writerLived = 0
  for (const dir of dirs) {
    try {
      cachedData = readFileSync(join(dir, name))
    } catch {
      continue // not there: try the next place, or produce it
    }
    try {
      writerLived = Number(readFileSync(join(dir, `${name}.lived`), "latin1")) || 0
    } catch {
      // written by an older launcher: replaced at this exit
    }
    break
  }
  // ASCII (scripts/bundle.mjs checks): latin1 is the same text, read without UTF-8 decoding.
  const source = readFileSync(bundle, "latin1")
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {\n${source}\n})`, {
    filename: bundle,
    lineOffset: -1,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER
  })
  const userHeapGrowth = /--heap-growing-percent/.test(nodeFlags)
  // Written at exit, so that the functions this command compiled are in it.
  process.once("exit", () => {
    const lived = process.uptime()
    if (cachedData !== undefined && script.cachedDataRejected !== true && lived <= 2 * writerLived) return
    let data
    try {
      // V8 stamps a cache with its flags, and `evolve serve` sets the heap's growth while it runs
      // (src/process/HeapGrowth.ts): stamped with that, no fresh start would ever accept it.
      if (!userHeapGrowth) v8.setFlagsFromString("--heap-growing-percent=0")
      data = script.createCachedData()
    } catch {
      return
    }
    for (const dir of dirs) {
      try {
        mkdirSync(dir, { recursive: true })
        const file = join(dir, name)
        const temporary = `${file}.${process.pid}.tmp`
        writeFileSync(temporary, data)
        renameSync(temporary, file)
        writeFileSync(`${file}.lived`, lived.toFixed(2))
        return
      } catch {
        // not writable: try the next place, or do without
      }
    }
  })
  const module = { exports: {}, filename: bundle, id: bundle, path: here, loaded: false }
  script.runInThisContext()(module.exports, require, module, bundle, here)
}

run()
