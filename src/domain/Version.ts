/** evolve's version (package.json), reported by `--version` and by cluster workers. */
export const VERSION = "0.1.0"
