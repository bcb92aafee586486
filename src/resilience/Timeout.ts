/**
 * Timeouts of one attempt and of a whole call.
 *
 * Two timeouts bound a call: the *attempt* timeout bounds each request sent to the provider,
 * the *call* timeout (`request.timeoutMs`, or the configured default) bounds all attempts and
 * the waits between them. When one runs out, the running attempt is interrupted (which aborts
 * its HTTP request or kills its subprocess) and the call fails with an `LlmError` of reason
 * `Timeout`, whose `scope` says which timeout it was, with the attempts made and the time spent
 * (measured with `Clock`, so tests run on `TestClock`). An attempt timeout is retryable; a call
 * timeout is not.
 *
 * The retry layer applies both (see `Retry.ts`); these functions are exported for programs that
 * want a timeout without retries.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Schema } from "effect"
import * as DurationText from "../DurationText.ts"
import * as LlmError from "../LlmError.ts"

/**
 * The `timeout` and `attemptTimeout` settings of the configuration file, as duration strings
 * (`30s`, `2m`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const TimeoutConfig = Schema.Struct({
  timeout: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "Bounds the whole call: all attempts and the waits between them."
  }),
  attemptTimeout: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "Bounds each attempt (one request to the provider); a timed-out attempt is retried."
  })
}).annotate({ identifier: "TimeoutConfig" })

/**
 * @since 0.1.0
 * @category models
 */
export type TimeoutConfig = typeof TimeoutConfig.Type

/**
 * Which call a timeout belongs to, for the error it produces.
 *
 * @since 0.1.0
 * @category models
 */
export interface Subject {
  readonly provider: string
  readonly model?: string | undefined
}

/**
 * Builds the `Timeout` error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const timeoutError = (
  subject: Subject,
  options: {
    readonly scope: "attempt" | "call"
    readonly timeoutMs: number
    readonly attempts: number
    readonly elapsedMs: number
  }
): LlmError.LlmError => {
  const what = options.scope === "attempt"
    ? `attempt ${options.attempts} took longer than the attempt timeout of ${DurationText.formatMillis(options.timeoutMs)}`
    : `the call took longer than its timeout of ${DurationText.formatMillis(options.timeoutMs)} (${options.attempts} ${
      options.attempts === 1 ? "attempt" : "attempts"
    })`
  const fix = options.scope === "attempt"
    ? "raise attemptTimeout (--attempt-timeout) if the model is slow"
    : "raise the call timeout (--timeout or request.timeoutMs)"
  return LlmError.make(
    subject.provider,
    new LlmError.Timeout({
      description: `${what}; ${fix}`,
      scope: options.scope,
      attempts: options.attempts,
      elapsedMs: options.elapsedMs
    }),
    { model: subject.model }
  )
}

/**
 * Bounds one attempt: after `timeoutMs` the attempt is interrupted and fails with a `Timeout`
 * of scope `attempt` (retryable). `attempt` is the attempt's number, counted from 1.
 *
 * @since 0.1.0
 * @category combinators
 */
export const attempt = <A, R>(
  effect: Effect.Effect<A, LlmError.LlmError, R>,
  options: { readonly timeoutMs: number; readonly attempt: number; readonly subject: Subject }
): Effect.Effect<A, LlmError.LlmError, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (started) =>
    Effect.timeoutOrElse(effect, {
      duration: Duration.millis(options.timeoutMs),
      orElse: () =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.fail(
            timeoutError(options.subject, {
              scope: "attempt",
              timeoutMs: options.timeoutMs,
              attempts: options.attempt,
              elapsedMs: now - started
            })
          ))
    }))

/**
 * Bounds a whole call: after `timeoutMs` whatever runs (an attempt or a wait) is interrupted and
 * the call fails with a `Timeout` of scope `call` (not retryable). `attempts` reads how many
 * attempts were started when the timeout ran out.
 *
 * @since 0.1.0
 * @category combinators
 */
export const call = <A, R>(
  effect: Effect.Effect<A, LlmError.LlmError, R>,
  options: {
    readonly timeoutMs: number
    readonly startedAt: number
    readonly attempts: Effect.Effect<number>
    readonly subject: Subject
  }
): Effect.Effect<A, LlmError.LlmError, R> =>
  Effect.timeoutOrElse(effect, {
    duration: Duration.millis(options.timeoutMs),
    orElse: () =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const attempts = yield* options.attempts
        return yield* Effect.fail(
          timeoutError(options.subject, {
            scope: "call",
            timeoutMs: options.timeoutMs,
            attempts,
            elapsedMs: now - options.startedAt
          })
        )
      })
  })
