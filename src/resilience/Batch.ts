/**
 * Many requests at once, with a concurrency limit, one result per request.
 *
 * `generateAll` runs the requests through the `LanguageModel` in context (so through the whole
 * stack: budget, retry, limits), at most `concurrency` at a time, and returns one `Result` per
 * request, in the order of the requests: a failure is kept in its slot and loses none of the
 * other responses. `generateAllExit` returns an `Exit` per request instead, which also keeps a
 * defect (a bug) in its slot. Interrupting the batch interrupts every call still running.
 *
 * @since 0.1.0
 */
import { Effect, type Exit, type Result } from "effect"
import * as LanguageModel from "../LanguageModel.ts"
import type { LlmError } from "../LlmError.ts"
import type * as LlmRequest from "../LlmRequest.ts"
import type { LlmResponse } from "../LlmResponse.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Calls in flight at most (default 4). */
  readonly concurrency?: number | undefined
}

/**
 * The default number of calls in flight.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CONCURRENCY = 4

/**
 * Runs every request; returns one `Result` per request, in order.
 *
 * @since 0.1.0
 * @category running
 * @example
 * const results = yield* Batch.generateAll(["one", "two", "three"], { concurrency: 2 })
 * const answers = results.map((result) => Result.isSuccess(result) ? result.success.content : "(failed)")
 */
export const generateAll = (
  requests: Iterable<LlmRequest.Input>,
  options?: Options
): Effect.Effect<Array<Result.Result<LlmResponse, LlmError>>, never, LanguageModel.LanguageModel> =>
  Effect.forEach(requests, (request) => Effect.result(LanguageModel.generate(request)), {
    concurrency: options?.concurrency ?? DEFAULT_CONCURRENCY
  })

/**
 * Runs every request; returns one `Exit` per request, in order (defects included).
 *
 * @since 0.1.0
 * @category running
 */
export const generateAllExit = (
  requests: Iterable<LlmRequest.Input>,
  options?: Options
): Effect.Effect<Array<Exit.Exit<LlmResponse, LlmError>>, never, LanguageModel.LanguageModel> =>
  Effect.forEach(requests, (request) => Effect.exit(LanguageModel.generate(request)), {
    concurrency: options?.concurrency ?? DEFAULT_CONCURRENCY
  })
