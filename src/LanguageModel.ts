/**
 * The provider-neutral service every caller depends on.
 *
 * A provider is a Layer that *provides* `LanguageModel`; every cross-cutting concern (budget,
 * retry, limits, observability) is a Layer that *wraps* it: it requires a `LanguageModel` and
 * provides a new one. The service has one required method, `generate`; `stream` is optional so
 * that it can be added to providers one by one without breaking any implementation (callers use
 * {@link stream}, which falls back to `generate` as a single chunk).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Stream } from "effect"
import type { LlmError } from "./LlmError.ts"
import * as LlmRequest from "./LlmRequest.ts"
import type { LlmResponse } from "./LlmResponse.ts"

/**
 * A piece of a streamed response.
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamChunk {
  /** Text added by this chunk. */
  readonly delta: string
  /** Present on the last chunk: the whole response. */
  readonly response?: LlmResponse
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
  /** Streams a response, where the provider supports it. */
  readonly stream?: (request: LlmRequest.LlmRequest) => Stream.Stream<StreamChunk, LlmError>
}

/**
 * The `LanguageModel` service.
 *
 * @since 0.1.0
 * @category services
 */
export class LanguageModel extends Context.Service<LanguageModel, Service>()("llm-connect/LanguageModel") {}

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
 * Streams a response with the `LanguageModel` in context; a model without streaming yields
 * its whole response as one chunk.
 *
 * @since 0.1.0
 * @category accessors
 */
export const stream = (input: LlmRequest.Input): Stream.Stream<StreamChunk, LlmError, LanguageModel> =>
  Stream.unwrap(
    LanguageModel.use((model) => {
      const request = LlmRequest.make(input)
      return Effect.succeed(
        model.stream !== undefined
          ? model.stream(request)
          : Stream.fromEffect(
            Effect.map(model.generate(request), (response): StreamChunk => ({ delta: response.content, response }))
          )
      )
    })
  )

/**
 * Wraps a model: `around` receives each request and the inner `generate`, and returns the new
 * call. The building block of every middleware layer (budget, retry, observability...).
 *
 * @since 0.1.0
 * @category combinators
 */
export const mapGenerate = (
  self: Service,
  around: (
    request: LlmRequest.LlmRequest,
    next: (request: LlmRequest.LlmRequest) => Effect.Effect<LlmResponse, LlmError>
  ) => Effect.Effect<LlmResponse, LlmError>
): Service => ({
  provider: self.provider,
  defaultModel: self.defaultModel,
  generate: (request) => around(request, self.generate)
})

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
  Layer.effect(LanguageModel, LanguageModel.use(wrap))
