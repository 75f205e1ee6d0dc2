/**
 * Where evolve's spans go. Every service already opens spans through Effect's tracer
 * (`Effect.fn`: LlmClient.complete, Proposer.propose, Evaluator.evaluate, ProgramDatabase.*,
 * plus @effect/sql's statement spans and the run span of `startRun`). This layer picks
 * the tracer:
 *
 * - OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set: spans are exported
 *   over OTLP/HTTP. The OpenTelemetry modules are imported dynamically only then, so an unset
 *   variable costs one environment lookup and no module loading.
 * - `debug`: spans are printed as they end, and a timing table when the layer is released.
 * - neither: `Layer.empty`, Effect's built-in tracer stays in place; with `spansOffWhenUnused`
 *   (the CLI, where no tracer can be attached later) spans are switched off instead
 *   (`Layer.setTracerEnabled(false)`): nobody reads them, and each one costs a span object, its
 *   attributes and a context per Effect.fn call and SQL statement (issue 22: 12.1 → 11.7 ms of CPU
 *   per candidate).
 */
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import * as DebugTracer from "./DebugTracer.js"

export interface ObservabilityOptions {
  /** Variables to read OTEL_* from (default: the environment, through Effect's Config). */
  readonly env?: Readonly<Record<string, string | undefined>> | undefined
  /** Print spans and timings (`--debug`); `true` prints to stderr, a function receives the lines. */
  readonly debug?: boolean | DebugTracer.Sink | undefined
  /** `service.name` for exported spans (default "evolve"). */
  readonly serviceName?: string | undefined
  /** Switch spans off when neither OTLP nor debug asks for them (default false: keep the built-in tracer). */
  readonly spansOffWhenUnused?: boolean | undefined
}

/** The traces URL named by the environment, if export is switched on. */
export const otlpTracesUrl = (env: Readonly<Record<string, string | undefined>>): string | undefined => {
  const traces = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
  if (traces !== undefined && traces.trim() !== "") return traces.trim()
  const base = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
  if (base !== undefined && base.trim() !== "") return `${base.trim().replace(/\/+$/, "")}/v1/traces`
  return undefined
}

/** True when the environment asks for OTLP export (OTEL_SDK_DISABLED=true wins). */
export const otlpEnabled = (env: Readonly<Record<string, string | undefined>>): boolean =>
  env["OTEL_SDK_DISABLED"]?.trim().toLowerCase() !== "true" && otlpTracesUrl(env) !== undefined

const optional = (name: string) => Config.option(Config.string(name)).pipe(Config.map(Option.getOrUndefined))

/** The OTEL_* variables `otlpEnabled` and `otlpTracesUrl` look at. */
const otelEnvironment: Effect.Effect<Readonly<Record<string, string | undefined>>> = Config.all({
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optional("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  OTEL_EXPORTER_OTLP_ENDPOINT: optional("OTEL_EXPORTER_OTLP_ENDPOINT"),
  OTEL_SDK_DISABLED: optional("OTEL_SDK_DISABLED")
}).pipe(Effect.orElseSucceed(() => ({})))

/** The tracer the options ask for, alive for the scope; `undefined` when nothing changes. */
export const makeTracer = (options: ObservabilityOptions = {}) =>
  Effect.gen(function*() {
    const env = options.env ?? (yield* otelEnvironment)
    let tracer: Tracer.Tracer | undefined
    if (otlpEnabled(env)) {
      const Otlp = yield* Effect.promise(() => import("./Otlp.js"))
      tracer = yield* Otlp.makeTracer({ url: otlpTracesUrl(env), serviceName: options.serviceName })
    }
    if (options.debug !== undefined && options.debug !== false) {
      const inner = tracer ?? (yield* Effect.tracer)
      tracer = yield* DebugTracer.make(inner, { sink: typeof options.debug === "function" ? options.debug : undefined })
    }
    return tracer
  })

/**
 * Sets the tracer for whatever this layer is provided to: OTLP export when the environment
 * asks for it, debug printing when `debug` is on, otherwise nothing. Releasing the layer flushes
 * exported spans and prints the debug timing table.
 */
export const layer = (options: ObservabilityOptions = {}): Layer.Layer<never> =>
  Layer.unwrapScoped(Effect.map(makeTracer(options), (tracer) =>
    tracer !== undefined
      ? Layer.setTracer(tracer)
      : options.spansOffWhenUnused === true
      ? Layer.setTracerEnabled(false)
      : Layer.empty))
