// The layer order of DESIGN §1, as a rule `npm test` enforces: a module may import only from
// its own folder or from folders of a lower rank; same-rank siblings never import each other.
const ranks = [
  ["domain"],
  ["config", "db", "llm", "observability", "process"],
  ["population", "propose", "evaluate", "batch"],
  ["engine"],
  ["server", "cli", "facade"]
]

const folder = (name) => `^src/${name}/`
const forbidden = []
ranks.forEach((folders, rank) => {
  for (const name of folders) {
    const notBelow = ranks.slice(rank).flat().filter((other) => other !== name)
    forbidden.push({
      name: `layer-${name}`,
      comment: `src/${name} (rank ${rank}) may import only from lower ranks: ${ranks.slice(0, rank).flat().join(", ") || "none"}`,
      severity: "error",
      from: { path: folder(name) },
      to: { path: `^src/(${notBelow.join("|")})/|^src/(main|index)\\.ts$` }
    })
  }
})
// Rank 5: main.ts and index.ts compose everything; nothing imports them.
forbidden.push({
  name: "layer-entry-points",
  comment: "src/main.ts and src/index.ts are entry points: nothing in src/ imports them",
  severity: "error",
  from: { path: "^src/" },
  to: { path: "^src/(main|index)\\.ts$" }
})
forbidden.push({
  name: "no-circular",
  comment: "modules do not import each other in a circle",
  severity: "error",
  from: { path: "^src/" },
  to: { circular: true }
})

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "\\.generated\\.ts$" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] }
  }
}
