/**
 * The variables a run's config adds to its evaluator's environment, over the allow-list:
 * `evaluator.pass_env` (names of evolve's own variables, `*` / `?` globs allowed) and
 * `evaluator.env` (fixed values, which win).
 *
 * A glob never matches a protected name (the API key variables of evolve's own LLM, EVOLVE_*):
 * those reach the evaluator only when named exactly. Values taken from evolve's environment are
 * held as `Redacted` until the process starts, so no log or error can show them.
 */
import { Effect, Redacted } from "effect"

export interface EnvSettings {
  readonly env: Readonly<Record<string, string>>
  readonly passEnv: ReadonlyArray<string>
  /** Variables a glob must not match (evolve's LLM keys); EVOLVE_* are always protected. */
  readonly protectedNames: ReadonlyArray<string>
}

export const none: EnvSettings = { env: {}, passEnv: [], protectedNames: [] }

const isGlob = (pattern: string) => /[*?]/.test(pattern)

const globRegExp = (pattern: string) =>
  new RegExp(`^${pattern.replace(/[*?]/g, (c) => (c === "*" ? ".*" : "."))}$`)

/** The variables of `parent` that `passEnv` passes (as Redacted values). */
export const passed = (
  settings: EnvSettings,
  parent: Readonly<Record<string, string | undefined>>
): Record<string, Redacted.Redacted<string>> => {
  const protectedNames = new Set(settings.protectedNames)
  const isProtected = (name: string) => protectedNames.has(name) || name.toUpperCase().startsWith("EVOLVE_")
  const exact = settings.passEnv.filter((p) => !isGlob(p))
  const globs = settings.passEnv.filter(isGlob).map(globRegExp)
  const out: Record<string, Redacted.Redacted<string>> = {}
  for (const [name, value] of Object.entries(parent)) {
    if (value === undefined) continue
    if (exact.includes(name) || (!isProtected(name) && globs.some((glob) => glob.test(name)))) {
      out[name] = Redacted.make(value)
    }
  }
  return out
}

/** The configured variables from this process's environment (pass_env) and the config (env, which wins). */
export const fromProcess = (settings: EnvSettings) =>
  Effect.sync(() => ({ passed: passed(settings, process.env), fixed: settings.env }))

/** The variables to set in the evaluator's environment, over the allow-list. */
export const reveal = (configured: Effect.Effect.Success<ReturnType<typeof fromProcess>>): Record<string, string> => ({
  ...Object.fromEntries(Object.entries(configured.passed).map(([name, value]) => [name, Redacted.value(value)])),
  ...configured.fixed
})
