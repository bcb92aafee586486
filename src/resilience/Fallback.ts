/**
 * An ordered chain of providers/models, tried one after the other.
 *
 * Each candidate is a whole stack of its own (its provider, concurrency and rate limits, retry
 * and circuit breaker), built once. The limits are not the candidate's own: every candidate
 * takes the configuration's `limits`, `retry` and `circuitBreaker` sections for its provider,
 * and the candidates of one provider share its semaphores and buckets, and a circuit when they
 * call the same base URL and model (`Resilience.ts`). A call goes to the first candidate; when that fails with an
 * error that another provider might not have (a retryable one after its own retries, a call
 * timeout, or an open circuit), the next candidate is tried, and so on. An error that would
 * fail anywhere (`InvalidRequest`, `ContentFiltered`, `BudgetExceeded`...) is returned at once.
 * When every candidate fails, the last error is returned.
 *
 * The response says who served it: `response.provider` and `response.model` are the real ones,
 * and `response.metadata.fallback` is `{ candidate, index, failed }` (`failed` lists the
 * candidates tried before, with their error reason). Each fallback is logged at warning level
 * and counted in `llm_fallbacks_total` (attributes `from`, `reason`).
 *
 * The model: a candidate that names a model always calls it; one that names none calls the
 * request's model if it is the first candidate, else its own default model (a model name
 * rarely means anything to another provider). `request.timeoutMs` bounds each candidate's
 * attempts; `CallContext.Deadline` (the budget's) bounds the whole chain.
 *
 * Effect's `ExecutionPlan` was considered: it provides a Layer or Context per step and retries
 * an effect through the steps, but we need the candidates built once (their limits and
 * breakers must be shared by all calls), the response tagged with the candidate that served
 * it, and a per-candidate model rewrite; a loop over built services does all three in a few
 * lines.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Metric, Schema, Stream } from "effect"
import * as BaseUrl from "../BaseUrl.ts"
import * as LanguageModel from "../LanguageModel.ts"
import type * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import type * as StreamPart from "../StreamPart.ts"

/**
 * One entry of the chain.
 *
 * @since 0.1.0
 * @category models
 */
export interface Candidate {
  /** The model service (a whole stack). */
  readonly service: LanguageModel.Service
  /** The model this candidate always calls, if pinned. */
  readonly model?: string | undefined
  /** A name for logs and `metadata.fallback` (default `provider/model`). */
  readonly name?: string | undefined
}

/**
 * One `fallback:` entry of the configuration file: a provider and, optionally, its model and
 * base URL. It carries no limits or retry of its own: the top-level sections apply, per provider.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CandidateConfig = Schema.Struct({
  provider: Schema.String.check(Schema.isNonEmpty()),
  model: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  baseUrl: Schema.optionalKey(BaseUrl.BaseUrlString)
}).annotate({ identifier: "FallbackCandidate" })

/**
 * The `fallback:` section: the candidates tried, in order, after the main provider.
 *
 * @since 0.1.0
 * @category schemas
 */
export const FallbackConfig = Schema.Array(CandidateConfig).annotate({
  identifier: "FallbackConfig",
  description: "Providers/models tried in order when the main one fails with a retryable error."
})

/**
 * @since 0.1.0
 * @category models
 */
export type FallbackConfig = typeof FallbackConfig.Type

/**
 * Whether a failure sends the call to the next candidate.
 *
 * @since 0.1.0
 * @category classification
 */
export const shouldFallBack = (error: LlmError.LlmError): boolean =>
  error.isRetryable || error.reason._tag === "CircuitOpen" || error.reason._tag === "Timeout"

/**
 * Counts calls handed to the next candidate, by `from` (the candidate that failed) and `reason`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const fallbacksTotal = Metric.counter("llm_fallbacks_total", {
  description: "LLM calls handed to the next fallback candidate",
  incremental: true
})

/**
 * What `response.metadata.fallback` holds: the candidate that served the call, its index in the
 * chain, and the candidates tried before it with their error reason.
 *
 * @since 0.1.0
 * @category models
 */
export interface Served {
  readonly candidate: string
  readonly index: number
  readonly failed: ReadonlyArray<{ readonly candidate: string; readonly reason: string }>
}

/**
 * Which candidate of a fallback chain served a response (`undefined` outside a chain).
 *
 * @since 0.1.0
 * @category accessors
 */
export const servedBy = (response: LlmResponse): Served | undefined => {
  const value = response.metadata?.fallback
  if (typeof value !== "object" || value === null) return undefined
  const { candidate, failed, index } = value as Record<string, unknown>
  return typeof candidate === "string" && typeof index === "number" && Array.isArray(failed)
    ? { candidate, index, failed: failed as Served["failed"] }
    : undefined
}

const nameOf = (candidate: Candidate): string =>
  candidate.name ?? `${candidate.service.provider}/${candidate.model ?? candidate.service.defaultModel}`

const requestFor = (candidate: Candidate, index: number, request: LlmRequest): LlmRequest => {
  if (candidate.model !== undefined) return { ...request, model: candidate.model }
  if (index === 0 || request.model === undefined) return request
  const { model: _ignored, ...rest } = request
  return rest
}

const served = (response: LlmResponse, served: Served): LlmResponse => ({
  ...response,
  metadata: { ...response.metadata, fallback: served }
})

/**
 * Builds the chain. The service's `provider` and `defaultModel` are those of the first
 * candidate. A stream moves to the next candidate only while it has emitted nothing: once a part
 * has reached the caller, a failure ends the stream with that error (a caller never sees text
 * twice).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (candidates: readonly [Candidate, ...Array<Candidate>]): LanguageModel.Service => {
  const first = candidates[0]
  const names = candidates.map(nameOf)
  const handOver = (index: number, error: LlmError.LlmError, failed: Array<Served["failed"][number]>) => {
    failed.push({ candidate: names[index]!, reason: error.reason._tag })
    return Effect.logWarning("falling back to the next LLM candidate").pipe(
      Effect.annotateLogs({ from: names[index]!, to: names[index + 1]!, reason: error.reason._tag }),
      Effect.andThen(Metric.update(Metric.withAttributes(fallbacksTotal, { from: names[index]!, reason: error.reason._tag }), 1))
    )
  }
  const canHandOver = (index: number) => (error: LlmError.LlmError) => index + 1 < candidates.length && shouldFallBack(error)

  const generate = (request: LlmRequest): Effect.Effect<LlmResponse, LlmError.LlmError> => {
    const failed: Array<Served["failed"][number]> = []
    const attempt = (index: number): Effect.Effect<LlmResponse, LlmError.LlmError> => {
      const candidate = candidates[index]!
      return candidate.service.generate(requestFor(candidate, index, request)).pipe(
        Effect.map((response) => served(response, { candidate: names[index]!, index, failed: [...failed] })),
        Effect.catchIf(canHandOver(index), (error) => Effect.andThen(handOver(index, error, failed), attempt(index + 1)))
      )
    }
    return attempt(0)
  }

  const stream = (request: LlmRequest): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> => {
    const failed: Array<Served["failed"][number]> = []
    const attempt = (index: number): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
      Stream.suspend(() => {
        const candidate = candidates[index]!
        let emitted = false
        return candidate.service.stream(requestFor(candidate, index, request)).pipe(
          Stream.map((part): StreamPart.StreamPart => {
            emitted = true
            return part.type === "finish"
              ? { ...part, response: served(part.response, { candidate: names[index]!, index, failed: [...failed] }) }
              : part
          }),
          Stream.catchIf(
            (error) => !emitted && canHandOver(index)(error),
            (error) => Stream.unwrap(Effect.as(handOver(index, error, failed), attempt(index + 1)))
          )
        )
      })
    return attempt(0)
  }

  return LanguageModel.make({
    provider: first.service.provider,
    defaultModel: first.model ?? first.service.defaultModel,
    generate,
    stream,
    // Every model the chain may call: the budget above reserves at the dearest of them.
    candidates: candidates.map((candidate) => ({
      provider: candidate.service.provider,
      model: candidate.model ?? candidate.service.defaultModel
    }))
  })
}

/**
 * The chain as a Layer: each candidate Layer is built once, separately, and kept for the
 * Layer's lifetime.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(
  candidates: readonly [
    { readonly layer: Layer.Layer<LanguageModel.LanguageModel, E, R>; readonly model?: string | undefined; readonly name?: string | undefined },
    ...Array<{ readonly layer: Layer.Layer<LanguageModel.LanguageModel, E, R>; readonly model?: string | undefined; readonly name?: string | undefined }>
  ]
): Layer.Layer<LanguageModel.LanguageModel, E, R> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.gen(function*() {
      const built = yield* Effect.forEach(candidates, (candidate) =>
        Effect.map(Layer.build(candidate.layer), (context): Candidate => ({
          service: Context.get(context, LanguageModel.LanguageModel),
          ...(candidate.model !== undefined ? { model: candidate.model } : {}),
          ...(candidate.name !== undefined ? { name: candidate.name } : {})
        })))
      return make([built[0]!, ...built.slice(1)])
    })
  )
