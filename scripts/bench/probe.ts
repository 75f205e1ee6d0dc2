/**
 * Preloaded into the evolve process under test (`node --import …/probe.js`): records
 * event-loop delay, CPU time and memory without touching evolve's code, and writes them as JSON
 * to $BENCH_PROBE_OUT when the process exits.
 */
import { writeFileSync } from "node:fs"
import { monitorEventLoopDelay, performance } from "node:perf_hooks"

export interface ProbeSample {
  /** ms since the process started. */
  readonly t: number
  readonly rssMb: number
  readonly heapUsedMb: number
  readonly heapTotalMb: number
  readonly externalMb: number
  readonly cpuMs: number
}

export interface ProbeReport {
  /** ms from process start until this preload ran (Node's own bootstrap). */
  readonly bootstrapMs: number
  /** ms from process start until exit. */
  readonly exitMs: number
  readonly cpuUserMs: number
  readonly cpuSystemMs: number
  readonly rssMb: number
  readonly maxRssMb: number
  /**
   * From the preload on, so module loading (one long block at the start) is in the max; null when
   * not measured (BENCH_PROBE_DELAY_MS=0: its timer wakes the process every 5 ms, ~4 ms of CPU a
   * second, which CPU figures should not carry).
   */
  readonly eventLoopDelayMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly mean: number } | null
  readonly samples: ReadonlyArray<ProbeSample>
}

const out = process.env["BENCH_PROBE_OUT"]
const sampleEveryMs = Number(process.env["BENCH_PROBE_SAMPLE_MS"] ?? 250)
const delayResolutionMs = Number(process.env["BENCH_PROBE_DELAY_MS"] ?? 5)

if (out !== undefined) {
  const bootstrapMs = performance.now()
  const mb = (bytes: number) => bytes / (1024 * 1024)
  const cpuMs = () => {
    const usage = process.cpuUsage()
    return (usage.user + usage.system) / 1000
  }
  const delay = delayResolutionMs > 0 ? monitorEventLoopDelay({ resolution: delayResolutionMs }) : undefined
  delay?.enable()
  const samples: Array<ProbeSample> = []
  const sample = () => {
    const memory = process.memoryUsage()
    samples.push({
      t: performance.now(),
      rssMb: mb(memory.rss),
      heapUsedMb: mb(memory.heapUsed),
      heapTotalMb: mb(memory.heapTotal),
      externalMb: mb(memory.external),
      cpuMs: cpuMs()
    })
  }
  setInterval(sample, sampleEveryMs).unref()
  process.on("exit", () => {
    delay?.disable()
    sample()
    const usage = process.cpuUsage()
    const report: ProbeReport = {
      bootstrapMs,
      exitMs: performance.now(),
      cpuUserMs: usage.user / 1000,
      cpuSystemMs: usage.system / 1000,
      rssMb: mb(process.memoryUsage().rss),
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      eventLoopDelayMs: delay === undefined ? null : {
        p50: delay.percentile(50) / 1e6,
        p99: delay.percentile(99) / 1e6,
        max: delay.max / 1e6,
        mean: delay.mean / 1e6
      },
      samples
    }
    writeFileSync(out, JSON.stringify(report))
  })
}
