/** Where the program database lives: a SQLite file, or a PostgreSQL URL (a cluster's). */

export const isPostgresUrl = (target: string) => /^postgres(ql)?:\/\//i.test(target)

/** The target as it may be printed: a URL's password replaced by ***. */
export const redactDatabaseTarget = (target: string) => {
  if (!isPostgresUrl(target)) return target
  try {
    const url = new URL(target)
    if (url.password !== "") url.password = "***"
    return url.toString()
  } catch {
    // Not a URL the parser takes: keep only the scheme.
    return `${target.split("//")[0]}//***`
  }
}
