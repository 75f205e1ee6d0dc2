import type { Option, Redacted } from "effect"

/** `evolve serve`'s command line, as the CLI parses it and the server takes it. */
export interface ServeFlags {
  readonly host: string
  readonly port: number
  readonly db: Option.Option<string>
  readonly token: Option.Option<Redacted.Redacted>
  readonly llmConcurrency: number
  readonly evalConcurrency: number
  readonly noResume: boolean
}
