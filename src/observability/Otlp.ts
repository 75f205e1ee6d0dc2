/**
 * OpenTelemetry export of evolve's spans (@effect/opentelemetry over the OTel Node SDK with the
 * OTLP/HTTP exporter). This module imports the OTel packages statically, so load it only when
 * export is wanted: `Observability.layer` imports it dynamically when
 * OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as OtelResource from "@effect/opentelemetry/Resource"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Config, Effect, Layer, Option, type Scope, type Tracer } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"

export interface OtlpOptions {
  /** `service.name` of the exported resource (default "evolve"; OTEL_SERVICE_NAME wins). */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  /** Full traces URL, e.g. http://127.0.0.1:4318/v1/traces; default: the exporter reads the OTEL_* variables. */
  readonly url?: string | undefined
  /** Replaces the OTLP exporter (tests pass a SimpleSpanProcessor over an InMemorySpanExporter). */
  readonly spanProcessor?: SpanProcessor | NonEmptyReadonlyArray<SpanProcessor> | undefined
  /** How long the final flush may take when the scope closes (default 3 s). */
  readonly shutdownTimeoutMs?: number | undefined
}

/** The traces URL for an OTEL_EXPORTER_OTLP_ENDPOINT-style base URL. */
export const tracesUrl = (endpoint: string): string => `${endpoint.replace(/\/+$/, "")}/v1/traces`

const processorsOf = (options: OtlpOptions): SpanProcessor | NonEmptyReadonlyArray<SpanProcessor> =>
  options.spanProcessor ?? new BatchSpanProcessor(new OTLPTraceExporter(options.url === undefined ? {} : { url: options.url }))

/** `service.name` from OTEL_SERVICE_NAME, else the option; OTEL_RESOURCE_ATTRIBUTES are added. */
const resourceLayer = (options: OtlpOptions) =>
  Layer.unwrapEffect(
    Config.option(Config.string("OTEL_SERVICE_NAME")).pipe(
      Effect.orDie,
      Effect.map((name) =>
        OtelResource.layerFromEnv(OtelResource.configToAttributes({
          serviceName: Option.getOrElse(name, () => options.serviceName ?? "evolve"),
          ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion })
        }))
      )
    )
  )

/** The OTel tracer provider, its resource and tracer, as a layer (flushed and shut down on release). */
export const layerOtelTracer = (options: OtlpOptions = {}): Layer.Layer<OtelTracer.OtelTracer> =>
  OtelTracer.layerTracer.pipe(
    Layer.provide(
      NodeSdk.layerTracerProvider(processorsOf(options), { shutdownTimeout: options.shutdownTimeoutMs ?? 3000 })
    ),
    Layer.provide(resourceLayer(options))
  )

/**
 * An Effect `Tracer` exporting to OpenTelemetry, alive as long as the scope; closing the scope
 * flushes the spans still buffered.
 */
export const makeTracer = (options: OtlpOptions = {}): Effect.Effect<Tracer.Tracer, never, Scope.Scope> =>
  Effect.flatMap(Layer.build(layerOtelTracer(options)), (context) => Effect.provide(OtelTracer.make, context))

/** Sets the OTel-exporting tracer for everything the layer is provided to. */
export const layer = (options: OtlpOptions = {}): Layer.Layer<never> =>
  Layer.unwrapScoped(Effect.map(makeTracer(options), Layer.setTracer))
