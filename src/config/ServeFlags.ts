import type { Option, Redacted } from "effect"

/** `evolve serve`'s command line, as the CLI parses it and the server takes it. */
export interface ServeFlags {
  readonly host: string
  readonly port: number
  readonly db: Option.Option<string>
  /** Refused: a token on the command line is visible to every local user. */
  readonly token: Option.Option<Redacted.Redacted>
  readonly tokenFile: Option.Option<string>
  readonly noToken: boolean
  readonly workspace: Option.Option<string>
  /** Comma-separated variable names. */
  readonly allowKeyEnv: Option.Option<string>
  /** Comma-separated base URLs. */
  readonly allowBaseUrl: Option.Option<string>
  readonly llmConcurrency: number
  readonly evalConcurrency: number
  readonly noResume: boolean
  /** With a Postgres database: the address other cluster processes reach this one at. */
  readonly clusterHost: Option.Option<string>
  readonly clusterPort: number
}
