/**
 * The provider-neutral service every caller depends on.
 *
 * A provider is a Layer that *provides* `LanguageModel`; every cross-cutting concern (budget,
 * retry, limits, observability) is a Layer that *wraps* it: it requires a `LanguageModel` and
 * provides a new one. The service has two paths, `generate` (one whole response) and `stream`
 * (parts as they arrive, ending with the whole response), and both are always there:
 *
 * - a provider builds its service with {@link make}, which derives `stream` from `generate`
 *   (the whole answer as one text delta, then the finish part) when the provider has no native
 *   streaming yet;
 * - a wrapper builds its service with {@link wrap}, which makes it say what it does to each path:
 *   a `request` hook applies to both, and a wrapper that changes `generate` must also give
 *   `stream` (a hook, or `"unchanged"` to pass the inner stream through on purpose). So no
 *   wrapper can drop or bypass streams by forgetting them.
 *
 * `wrap` is in the spirit of the Vercel AI SDK's `transformParams` / `wrapGenerate` /
 * `wrapStream` middleware.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Stream } from "effect"
import type { LlmError } from "./LlmError.ts"
import * as LlmRequest from "./LlmRequest.ts"
import type { LlmResponse } from "./LlmResponse.ts"
import * as StreamPart from "./StreamPart.ts"

/**
 * A provider/model a service may call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly provider: string
  readonly model: string
}

/**
 * What a language model can do.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The provider's registered name, e.g. `"openai"` or `"mock"`. */
  readonly provider: string
  /** The model used when a request names none. */
  readonly defaultModel: string
  /** Generates one response. Interrupting the fiber aborts the call. */
  readonly generate: (request: LlmRequest.LlmRequest) => Effect.Effect<LlmResponse, LlmError>
  /** Streams a response: deltas, then exactly one `finish` part. Interrupting aborts the call. */
  readonly stream: (request: LlmRequest.LlmRequest) => Stream.Stream<StreamPart.StreamPart, LlmError>
  /**
   * Every provider/model a call may end up on, when more than one (a fallback chain's
   * candidates): the budget above reserves at the dearest of them.
   */
  readonly candidates?: ReadonlyArray<Target> | undefined
}

/**
 * The `LanguageModel` service.
 *
 * @since 0.1.0
 * @category services
 */
export class LanguageModel extends Context.Service<LanguageModel, Service>()("llm-connect/LanguageModel") {}

/**
 * What a provider gives {@link make}: `stream` is optional until the provider streams natively.
 *
 * @since 0.1.0
 * @category models
 */
export interface MakeOptions {
  readonly provider: string
  readonly defaultModel: string
  readonly generate: Service["generate"]
  readonly stream?: Service["stream"] | undefined
  readonly candidates?: ReadonlyArray<Target> | undefined
}

/**
 * The stream of a model without native streaming: the whole response, as one text delta (none
 * when empty) and the finish part, once `generate` has answered.
 *
 * @since 0.1.0
 * @category constructors
 */
export const streamFromGenerate = (generate: Service["generate"]): Service["stream"] => (request) =>
  Stream.fromEffect(generate(request)).pipe(Stream.flatMap((response) => Stream.fromIterable(StreamPart.fromResponse(response))))

/**
 * Builds a service with both paths (`stream` derived from `generate` when not given).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * LanguageModel.make({ provider: "echo", defaultModel: "echo-1", generate: (request) => ... })
 */
export const make = (options: MakeOptions): Service => ({
  provider: options.provider,
  defaultModel: options.defaultModel,
  generate: options.generate,
  stream: options.stream ?? streamFromGenerate(options.generate),
  ...(options.candidates !== undefined ? { candidates: options.candidates } : {})
})

/**
 * Rewrites a request before either path; may fail (e.g. a guard refusing it). A plain value is
 * used as is (no effect step on the hot path).
 *
 * @since 0.1.0
 * @category wrapping
 */
export type RequestHook = (request: LlmRequest.LlmRequest) => LlmRequest.LlmRequest | Effect.Effect<LlmRequest.LlmRequest, LlmError>

/**
 * Wraps the inner `generate`: receives the request and the inner call.
 *
 * @since 0.1.0
 * @category wrapping
 */
export type GenerateHook = (
  request: LlmRequest.LlmRequest,
  next: Service["generate"]
) => Effect.Effect<LlmResponse, LlmError>

/**
 * Wraps the inner `stream`: receives the request and the inner stream.
 *
 * @since 0.1.0
 * @category wrapping
 */
export type StreamHook = (
  request: LlmRequest.LlmRequest,
  next: Service["stream"]
) => Stream.Stream<StreamPart.StreamPart, LlmError>

/**
 * What a wrapper does: a `request` hook alone (applied to both paths), or hooks for both paths,
 * each a function or `"unchanged"` (the inner path passed through, on purpose).
 *
 * @since 0.1.0
 * @category wrapping
 */
export type Wrapper =
  | { readonly request: RequestHook; readonly generate?: never; readonly stream?: never }
  | {
    readonly request?: RequestHook | undefined
    readonly generate: GenerateHook | "unchanged"
    readonly stream: StreamHook | "unchanged"
  }

const withRequest = <A>(hook: RequestHook, next: (request: LlmRequest.LlmRequest) => A, lift: (effect: Effect.Effect<A, LlmError>) => A) =>
(request: LlmRequest.LlmRequest): A => {
  const rewritten = hook(request)
  return Effect.isEffect(rewritten) ? lift(Effect.map(rewritten, next)) : next(rewritten)
}

/**
 * Wraps a model: the building block of every middleware layer (budget, retry, observability...).
 * Fields of the inner service other than the two paths (its provider, default model and
 * candidates) are kept unless `overrides` replaces them.
 *
 * @since 0.1.0
 * @category wrapping
 * @example
 * LanguageModel.wrap(inner, {
 *   generate: (request, next) => Effect.tap(next(request), () => Effect.log("answered")),
 *   stream: "unchanged"
 * })
 */
export const wrap = (
  inner: Service,
  wrapper: Wrapper,
  overrides?: { readonly provider?: string | undefined; readonly defaultModel?: string | undefined }
): Service => {
  const generateHook = wrapper.generate
  const streamHook = wrapper.stream
  let generate: Service["generate"] = generateHook === undefined || generateHook === "unchanged"
    ? inner.generate
    : (request) => generateHook(request, inner.generate)
  let stream: Service["stream"] = streamHook === undefined || streamHook === "unchanged"
    ? inner.stream
    : (request) => streamHook(request, inner.stream)
  const requestHook = wrapper.request
  if (requestHook !== undefined) {
    generate = withRequest(requestHook, generate, (effect) => Effect.flatten(effect))
    stream = withRequest(requestHook, stream, (effect) => Stream.unwrap(effect))
  }
  return {
    ...inner,
    ...(overrides?.provider !== undefined ? { provider: overrides.provider } : {}),
    ...(overrides?.defaultModel !== undefined ? { defaultModel: overrides.defaultModel } : {}),
    generate,
    stream
  }
}

/**
 * Generates a response with the `LanguageModel` in context. Accepts a plain prompt string or a
 * request.
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * const reply = yield* LanguageModel.generate("Name three rivers")
 */
export const generate = (input: LlmRequest.Input): Effect.Effect<LlmResponse, LlmError, LanguageModel> =>
  LanguageModel.use((model) => model.generate(LlmRequest.make(input)))

/**
 * Streams a response with the `LanguageModel` in context.
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * LanguageModel.stream("Tell a story").pipe(Stream.runForEach((part) => ...))
 */
export const stream = (input: LlmRequest.Input): Stream.Stream<StreamPart.StreamPart, LlmError, LanguageModel> =>
  Stream.unwrap(LanguageModel.use((model) => Effect.succeed(model.stream(LlmRequest.make(input)))))

/**
 * Builds a Layer that wraps the `LanguageModel` below it. `wrap` may use services of its own
 * (a `BudgetTracker`, a `Semaphore`...), which become requirements of the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWrap = <E, R>(
  wrap: (inner: Service) => Effect.Effect<Service, E, R>
): Layer.Layer<LanguageModel, E, LanguageModel | R> =>
  Layer.fresh(Layer.effect(LanguageModel, LanguageModel.use(wrap)))
