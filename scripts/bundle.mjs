// Bundles the CLI into dist/bin/ so that `evolve` starts fast: one CommonJS file (evolve.cjs)
// instead of hundreds of small ES modules (module loading dominated start-up), run by the
// launcher bin/evolve.mjs through V8's code cache (compiling that file was most of what was left:
// Node 20 has no module compile cache, and `vm.Script`'s cachedData takes scripts, not ES modules).
// Lazily imported parts (the server, OTLP, Postgres, the OpenAI client) stay lazy: esbuild wraps
// them in functions that run at their first import().
import { createHash } from "node:crypto"
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { build } from "esbuild"

rmSync("dist/bin", { recursive: true, force: true })

await build({
  entryPoints: { evolve: "src/main.ts" },
  outfile: "dist/bin/evolve.cjs",
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  minifySyntax: true,
  minifyWhitespace: true,
  sourcemap: "linked",
  // Native addon: loaded from node_modules at run time.
  external: ["better-sqlite3"],
  // import.meta does not exist in CommonJS: the bundle's own URL stands in for it. "use strict"
  // first, as the ES modules were: esbuild's own comes after the banner, where it is no directive.
  define: { "import.meta.url": "__evolveImportMetaUrl" },
  banner: { js: "\"use strict\";var __evolveImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  // Licence comments in a file of their own: the bundle stays ASCII (esbuild escapes the rest), so
  // the launcher reads it as latin1, twice as fast as UTF-8 (7.8 MB: ~10 ms).
  legalComments: "external",
  logLevel: "warning"
})

const bundle = readFileSync("dist/bin/evolve.cjs", "latin1")
const nonAscii = /[^\x00-\x7f]/.exec(bundle)
if (nonAscii !== null) throw new Error(`dist/bin/evolve.cjs is not ASCII at offset ${nonAscii.index}: the launcher reads it as latin1`)
// The entry's "#!" line becomes a comment of the same length: the launcher wraps the bundle in a function.
if (bundle.startsWith("#!")) writeFileSync("dist/bin/evolve.cjs", `//${bundle.slice(2)}`, "latin1")

// The launcher, with the bundle's hash: a code cache made for another bundle is never looked at.
const hash = createHash("sha256").update(readFileSync("dist/bin/evolve.cjs")).digest("hex").slice(0, 16)
const launcher = readFileSync("bin/evolve.mjs", "utf8")
if (!launcher.includes("__EVOLVE_BUNDLE_HASH__")) throw new Error("bin/evolve.mjs: no __EVOLVE_BUNDLE_HASH__ to replace")
writeFileSync("dist/bin/evolve.mjs", launcher.replace("__EVOLVE_BUNDLE_HASH__", hash))
chmodSync("dist/bin/evolve.mjs", 0o755)
