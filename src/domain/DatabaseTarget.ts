/**
 * Where the program database lives: a SQLite file path (the default, single-process) or a
 * PostgreSQL URL (`postgres://` or `postgresql://`, DESIGN §8). A URL may carry a password: it
 * is shown only through `redactDatabaseTarget`.
 */

/** A PostgreSQL connection URL (anything else is a SQLite file path). */
export const isPostgresUrl = (target: string): boolean => /^postgres(ql)?:\/\//i.test(target.trim())

/**
 * The target as it may be printed or logged: a URL's password replaced by `***` (its user,
 * host, port, database and parameters kept); a file path unchanged. The credentials end at the
 * last "@", so a password with an unencoded "/", "?" or "@" in it is still hidden (a stray "@"
 * later in the URL hides more than needed, never less).
 */
export const redactDatabaseTarget = (target: string): string => {
  if (!isPostgresUrl(target)) return target
  const trimmed = target.trim()
  const scheme = trimmed.slice(0, trimmed.indexOf("://") + 3)
  const rest = trimmed.slice(scheme.length)
  const at = rest.lastIndexOf("@")
  if (at === -1) return `${scheme}${redactQueryPassword(rest)}`
  const credentials = rest.slice(0, at)
  const colon = credentials.indexOf(":")
  const user = colon === -1 ? credentials : `${credentials.slice(0, colon)}:***`
  return `${scheme}${user}@${redactQueryPassword(rest.slice(at + 1))}`
}

/** A `password=` parameter of the query string, as libpq and node-postgres accept it. */
const redactQueryPassword = (text: string) => text.replace(/([?&]password=)[^&#]*/gi, "$1***")

/** What is wrong with a Postgres URL before any connection is tried, or undefined when nothing is. */
export const urlProblem = (target: string): string | undefined => {
  let url: URL
  try {
    url = new URL(target.trim())
  } catch {
    return "not a valid URL (expected postgres://user:password@host:port/database)"
  }
  if (url.hostname === "") return "no host (expected postgres://user:password@host:port/database)"
  if (url.port !== "" && !(Number(url.port) >= 1 && Number(url.port) <= 65535)) return `port ${url.port} is out of range`
  try {
    decodeURIComponent(url.password)
    decodeURIComponent(url.username)
  } catch {
    return "its user or password has a bad %-escape"
  }
  return undefined
}

/**
 * `text` with the URL's password, as written and decoded, replaced by `***` (a password of fewer
 * than 4 characters is left: replacing every such fragment would garble the message, and the
 * drivers never quote it).
 */
export const scrubPassword = (target: string, text: string): string => {
  let password = ""
  try {
    password = new URL(target.trim()).password
  } catch {
    return text
  }
  if (password === "") return text
  let decoded = password
  try {
    decoded = decodeURIComponent(password)
  } catch {
    // keep the raw form only
  }
  return [password, decoded].reduce((t, secret) => secret.length < 4 ? t : t.split(secret).join("***"), text)
}
