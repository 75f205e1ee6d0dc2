// Bundles the CLI into dist/bin/ so that `evolve` starts fast: one file per lazily loaded
// command instead of hundreds of small ES modules (module loading dominated start-up).
import { rmSync } from "node:fs"
import { build } from "esbuild"

rmSync("dist/bin", { recursive: true, force: true })

await build({
  entryPoints: { evolve: "src/main.ts" },
  outdir: "dist/bin",
  outExtension: { ".js": ".mjs" },
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  minifySyntax: true,
  minifyWhitespace: true,
  sourcemap: "linked",
  // Native addon: loaded from node_modules at run time.
  external: ["better-sqlite3"],
  // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
  banner: { js: "import { createRequire as __evolveRequire } from 'node:module'; const require = __evolveRequire(import.meta.url);" },
  logLevel: "warning"
})
