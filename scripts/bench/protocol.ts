/**
 * What a scenario reports. Each scenario runs in its own process and writes one
 * `ScenarioResult` as JSON to the file named by `--out`; the orchestrator (index.ts) collects them.
 */
import { writeFileSync } from "node:fs"

export interface Target {
  readonly op: ">=" | "<="
  readonly value: number
}

export interface Figure {
  readonly id: string
  readonly label: string
  /** null when the feature is not built yet (see `note`). */
  readonly value: number | null
  readonly unit: string
  readonly target?: Target | undefined
  readonly note?: string | undefined
}

export interface ScenarioResult {
  readonly scenario: string
  readonly title: string
  readonly quick: boolean
  readonly figures: ReadonlyArray<Figure>
  /** Raw measurements behind the figures (timelines, distributions, profiles). */
  readonly details: Record<string, unknown>
}

export type Verdict = "pass" | "miss" | "info" | "n/a" | "not asserted"

export const verdict = (figure: Figure, quick: boolean): Verdict => {
  if (figure.value === null) return "n/a"
  if (figure.target === undefined) return "info"
  if (quick) return "not asserted"
  const { op, value } = figure.target
  return (op === ">=" ? figure.value >= value : figure.value <= value) ? "pass" : "miss"
}

export const figure = (
  id: string,
  label: string,
  value: number | null,
  unit: string,
  target?: Target,
  note?: string
): Figure => ({ id, label, value, unit, target, note })

export const atLeast = (value: number): Target => ({ op: ">=", value })
export const atMost = (value: number): Target => ({ op: "<=", value })

export interface ScenarioArgs {
  readonly quick: boolean
  readonly out: string
}

export const scenarioArgs = (argv: ReadonlyArray<string> = process.argv.slice(2)): ScenarioArgs => {
  const outIndex = argv.indexOf("--out")
  const out = outIndex >= 0 ? argv[outIndex + 1] : undefined
  if (out === undefined) throw new Error("usage: <scenario>.js --out FILE [--quick]")
  return { quick: argv.includes("--quick"), out }
}

/** Progress for the person watching; stdout stays free. */
export const log = (message: string): void => {
  process.stderr.write(`  ${message}\n`)
}

/** The body of a scenario's main module: run, write the result, exit (closing stray handles). */
export const runScenario = (body: (args: ScenarioArgs) => Promise<ScenarioResult>): void => {
  const args = scenarioArgs()
  body(args).then(
    (result) => {
      writeFileSync(args.out, JSON.stringify(result, null, 2))
      process.exit(0)
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
      process.exit(1)
    }
  )
}
