/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): self time by package and the hottest
 * functions, so a report can say where evolve's CPU goes. Frames in bundled files (dist/bin)
 * are mapped back to their sources through the bundle's source map.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { SourceMap } from "node:module"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { round } from "./stats.js"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
  readonly columnNumber: number
}

interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

export interface ProfileSummary {
  readonly totalMs: number
  /** Self time per package, e.g. "effect", "@effect/sql-sqlite-node", "evolve:src/engine", "(garbage collector)". */
  readonly byPackage: ReadonlyArray<{ readonly name: string; readonly ms: number; readonly share: number }>
  readonly topFunctions: ReadonlyArray<{ readonly name: string; readonly ms: number; readonly share: number }>
}

/** "effect", "@effect/platform", "evolve:src/db", "node:internal", or the VM's pseudo-frames. */
export const packageOf = (url: string, functionName: string): string => {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)"
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (modules) return modules[1]!
  const ours = /\/((?:src|scripts|test)(?:\/[^/]+)?)\/[^/]+$/.exec(url.replace(/\/dist\//, "/"))
  if (ours) return `evolve:${ours[1]}`
  if (url.startsWith("node:")) return "node:internal"
  return url
}

/** "effect/src/Schema.ts", "src/engine/EvolutionRun.ts", "bin/chunk-X.mjs". */
const shortUrl = (url: string) => {
  const path = url.replace(/^file:\/\//, "")
  return path.includes("node_modules/")
    ? path.replace(/^.*node_modules\//, "")
    : path.replace(/\/dist\//, "/").replace(/^.*\/(?=(?:src|scripts|test|bin)\/)/, "")
}

/** Maps frames of files that have a `.map` next to them (the esbuild bundle) to their sources. */
const sourceMapper = () => {
  const maps = new Map<string, { map: SourceMap; dir: string } | null>()
  const load = (url: string) => {
    if (!maps.has(url)) {
      const file = url.startsWith("file:") ? fileURLToPath(url) : url
      const mapFile = `${file}.map`
      maps.set(
        url,
        file.startsWith("/") && existsSync(mapFile)
          ? { map: new SourceMap(JSON.parse(readFileSync(mapFile, "utf8"))), dir: dirname(mapFile) }
          : null
      )
    }
    return maps.get(url)!
  }
  return (frame: CallFrame): CallFrame => {
    const loaded = frame.url === "" ? null : load(frame.url)
    if (loaded === null) return frame
    const entry = loaded.map.findEntry(frame.lineNumber, frame.columnNumber) as { originalSource?: string; originalLine?: number }
    if (entry.originalSource === undefined) return frame
    return { ...frame, url: resolve(loaded.dir, entry.originalSource), lineNumber: entry.originalLine ?? 0 }
  }
}

export const summarizeProfile = (profile: CpuProfile, top = 15): ProfileSummary => {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const original = sourceMapper()
  const selfUs = new Map<number, number>()
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const packages = new Map<string, number>()
  const functions = new Map<string, number>()
  let totalUs = 0
  for (const [id, us] of selfUs) {
    const frame = original(byId.get(id)!.callFrame)
    if (frame.functionName === "(idle)") continue
    totalUs += us
    const pkg = packageOf(frame.url, frame.functionName)
    packages.set(pkg, (packages.get(pkg) ?? 0) + us)
    const fn = frame.url === ""
      ? frame.functionName
      : `${frame.functionName || "(anonymous)"} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    functions.set(fn, (functions.get(fn) ?? 0) + us)
  }
  const rank = (entries: Map<string, number>, n: number) =>
    [...entries].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => ({
      name,
      ms: round(us / 1000, 1),
      share: round(us / totalUs)
    }))
  return {
    totalMs: round(totalUs / 1000, 1),
    byPackage: rank(packages, top),
    topFunctions: rank(functions, top)
  }
}

/** The summary of the single profile `node --cpu-prof --cpu-prof-dir=dir` wrote. */
export const summarizeProfileDir = (dir: string, top?: number): ProfileSummary => {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"))
  if (file === undefined) throw new Error(`no .cpuprofile in ${dir}`)
  return summarizeProfile(JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile, top)
}
