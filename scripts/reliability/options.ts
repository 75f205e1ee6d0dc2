/** Command-line options of the reliability suite. */
export interface Options {
  /** The CI pass: fewer evaluations, kills and cases; a few minutes in total. */
  readonly quick: boolean
  /** Seeds kill moments and fault mixes. */
  readonly seed: number
  /** Keep the workspaces (databases, logs) for inspection. */
  readonly keep: boolean
}
