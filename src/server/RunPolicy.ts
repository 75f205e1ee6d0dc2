/**
 * What a run started through the API may ask of the server's secrets: an API key only from a
 * variable on the server's allow-list, sent only to an allowed base URL; never the server's own
 * variables (its token, EVOLVE_*). And settings that belong to the server (its database) are not
 * the request's to set.
 */
import { Context, Either } from "effect"
import type { Workspace } from "../config/Workspace.js"
import type { RunConfig } from "../domain/RunConfig.js"
import { isLoopback } from "./Security.js"

/** The rules for runs created through the API. */
export class RunPolicy extends Context.Tag("evolve/RunPolicy")<RunPolicy, {
  /** Programs, evaluators, templates and commands come from here. */
  readonly workspace: Workspace
  /** Variables a run may name in `api_key_env`. */
  readonly keyEnv: ReadonlySet<string>
  /** Origins (scheme://host:port) a key may be sent to. */
  readonly origins: ReadonlySet<string>
  /** Also any loopback address (local model servers). */
  readonly loopback: boolean
}>() {}

export interface PolicyViolation {
  readonly path: string
  readonly message: string
}

/** Variables of the server itself (its token, EVOLVE_*): never an API key of a run. */
export const isServerVariable = (name: string) => name.toUpperCase().startsWith("EVOLVE_")

/** The origin of an http(s) URL, or undefined. */
export const originOf = (url: string): string | undefined => {
  try {
    const u = new URL(url)
    return u.protocol === "http:" || u.protocol === "https:" ? u.origin : undefined
  } catch {
    return undefined
  }
}

/** Where a run sends requests and which key goes with them. */
interface Endpoint {
  readonly path: string
  readonly sendsKey: boolean
  readonly baseUrl: string
  readonly keyEnv: string
}

const networked = (provider: string) => provider === "openai-chat" || provider === "openai-responses"

export const endpoints = (llm: RunConfig["llm"]): ReadonlyArray<Endpoint> => {
  const models: ReadonlyArray<Endpoint> = llm.models === undefined
    ? [{ path: "llm", sendsKey: networked(llm.provider), baseUrl: llm.base_url, keyEnv: llm.api_key_env }]
    : llm.models.map((m, i) => ({
      path: `llm.models.${i}`,
      sendsKey: networked(m.provider ?? llm.provider),
      baseUrl: m.base_url ?? llm.base_url,
      keyEnv: m.api_key_env ?? llm.api_key_env
    }))
  const embedding = llm.embedding === undefined ? [] : [{
    path: "llm.embedding",
    sendsKey: llm.embedding.provider === "openai",
    baseUrl: llm.embedding.base_url ?? llm.base_url,
    keyEnv: llm.embedding.api_key_env ?? llm.api_key_env
  }]
  return [...models, ...embedding]
}

type Policy = Context.Tag.Service<RunPolicy>

const allowedUrl = (policy: Policy, url: string) => {
  const origin = originOf(url)
  if (origin === undefined) return false
  return policy.origins.has(origin) || (policy.loopback && isLoopback(new URL(url).hostname))
}

/** The first thing about `raw` (the request's config) and `config` (decoded) that the policy refuses. */
export const check = (policy: Policy, raw: unknown, config: RunConfig): Either.Either<void, PolicyViolation> => {
  if (typeof raw === "object" && raw !== null && Object.hasOwn(raw, "database")) {
    return Either.left({
      path: "config.database",
      message: "config.database: the server's database is set when it starts (--db), not per run"
    })
  }
  if (config.evaluator.pass_env.length > 0) {
    return Either.left({
      path: "config.evaluator.pass_env",
      message: "config.evaluator.pass_env: a run started through the API cannot pass the server's environment to its evaluator; set evaluator.env"
    })
  }
  const agents = [
    { path: "config.llm.agent", agent: config.llm.agent },
    ...(config.llm.models ?? []).map((m, i) => ({ path: `config.llm.models.${i}.agent`, agent: m.agent }))
  ]
  for (const { agent, path } of agents) {
    if (agent !== undefined && agent.pass_env.length > 0) {
      return Either.left({
        path: `${path}.pass_env`,
        message: `${path}.pass_env: a run started through the API cannot pass the server's environment to a coding agent; set ${path}.env`
      })
    }
  }
  for (const e of endpoints(config.llm)) {
    const keyPath = `config.${e.path}.api_key_env`
    if (isServerVariable(e.keyEnv)) {
      return Either.left({ path: keyPath, message: `${keyPath}: ${e.keyEnv} is a variable of the server itself, never an API key` })
    }
    if (!e.sendsKey) continue
    if (!policy.keyEnv.has(e.keyEnv)) {
      return Either.left({
        path: keyPath,
        message: `${keyPath}: ${e.keyEnv} is not on the server's allow-list (--allow-key-env): ${[...policy.keyEnv].join(", ") || "none"}`
      })
    }
    if (!allowedUrl(policy, e.baseUrl)) {
      const urlPath = `config.${e.path}.base_url`
      return Either.left({
        path: urlPath,
        message: `${urlPath}: the server sends API keys only to allowed base URLs (--allow-base-url): ${
          [...policy.origins, ...(policy.loopback ? ["loopback addresses"] : [])].join(", ") || "none"
        }`
      })
    }
  }
  return Either.void
}
