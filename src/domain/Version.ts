/** evolve's version (package.json), reported by `--version` and by cluster workers. */
export const VERSION = "0.1.0"

/** The "major.minor" of a version ("0.1.3" → "0.1"); the text itself when it is not one. */
export const featureLine = (version: string): string => {
  const match = /^v?(\d+)\.(\d+)(?:\.|$|-|\+)/.exec(version.trim())
  return match === null ? version.trim() : `${Number(match[1])}.${Number(match[2])}`
}

/**
 * Whether evolve `a` and evolve `b` may work in one cluster: the same major.minor. Patch releases
 * (fixes only) keep the messages, the queue's items and the schema a cluster shares, so they may
 * differ (a worker can be upgraded to a patch release before or after the control processes); a
 * minor or major release may change any of these.
 */
export const compatibleVersions = (a: string, b: string): boolean => featureLine(a) === featureLine(b)
