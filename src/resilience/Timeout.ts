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
 * A stream has a third: the *idle* timeout (`streamIdleTimeout`, default 60s in a stack built
 * from configuration) bounds the wait for each part after the first; a stream silent for longer
 * fails with `Timeout` of scope `idle` (not retried: parts were already emitted). On a stream the
 * attempt timeout bounds the wait for its first part (the opening included), and the call
 * timeout the whole stream. Only the time spent waiting for the provider counts: a consumer that
 * is slow to read does not run the idle timeout down. See {@link stream}.
 *
 * The retry layer applies them (see `Retry.ts`); these functions are exported for programs that
 * want a timeout without retries.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Schema, Stream } from "effect"
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
    readonly scope: "attempt" | "call" | "idle"
    readonly timeoutMs: number
    readonly attempts: number
    readonly elapsedMs: number
  }
): LlmError.LlmError => {
  const what = options.scope === "attempt"
    ? `attempt ${options.attempts} took longer than the attempt timeout of ${DurationText.formatMillis(options.timeoutMs)}`
    : options.scope === "idle"
    ? `the stream received no part for ${DurationText.formatMillis(options.elapsedMs)}, longer than the stream idle timeout of ${
      DurationText.formatMillis(options.timeoutMs)
    } (attempt ${options.attempts})`
    : `the call took longer than its timeout of ${DurationText.formatMillis(options.timeoutMs)} (${options.attempts} ${
      options.attempts === 1 ? "attempt" : "attempts"
    })`
  const fix = options.scope === "attempt"
    ? "raise attemptTimeout (--attempt-timeout) if the model is slow"
    : options.scope === "idle"
    ? "raise streamIdleTimeout (--stream-idle-timeout) if the model pauses longer between parts"
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

/**
 * Bounds the waits of one streamed attempt: `firstPartMs` bounds the wait for its first part
 * (from the start, the opening included), failing with a `Timeout` of scope `attempt`
 * (retryable); `idleMs` bounds each later wait for the next part, failing with scope `idle`.
 * Only time spent waiting on the stream below counts (not time the consumer takes between
 * reads). One watchdog fiber per stream checks the waits, so that a part costs no timer of its
 * own. Neither given: the stream as it is.
 *
 * @since 0.1.0
 * @category combinators
 */
export const stream = <A, R>(
  self: Stream.Stream<A, LlmError.LlmError, R>,
  options: {
    readonly firstPartMs?: number | undefined
    readonly idleMs?: number | undefined
    /** The attempt's number, counted from 1, read when a timeout runs out. */
    readonly attempt: () => number
    readonly subject: Subject
  }
): Stream.Stream<A, LlmError.LlmError, R> => {
  const { firstPartMs, idleMs } = options
  if (firstPartMs === undefined && idleMs === undefined) return self
  return Stream.unwrap(Effect.withFiber((fiber) => {
    const clock = fiber.getRef(Clock.Clock)
    // When the stream began waiting for its next part (undefined: not waiting), and whether that
    // part is the first. The opening is a wait for the first part.
    let waitingSince: number | undefined = clock.currentTimeMillisUnsafe()
    let first = true
    const watched = Stream.transformPull(self, (pull) =>
      Effect.succeed(Effect.suspend(() => {
        if (waitingSince === undefined) waitingSince = clock.currentTimeMillisUnsafe()
        return Effect.map(pull, (chunk) => {
          waitingSince = undefined
          first = false
          return chunk
        })
      })))
    const check = (): Effect.Effect<never, LlmError.LlmError> => {
      const limit = first ? firstPartMs : idleMs
      // No bound on this wait: look again once the next one may have begun.
      if (limit === undefined) return first ? Effect.andThen(Effect.sleep(Duration.millis(idleMs!)), Effect.suspend(check)) : Effect.never
      const since = waitingSince
      if (since === undefined) return Effect.andThen(Effect.sleep(Duration.millis(limit)), Effect.suspend(check))
      const now = clock.currentTimeMillisUnsafe()
      if (now - since < limit) return Effect.andThen(Effect.sleep(Duration.millis(since + limit - now)), Effect.suspend(check))
      return Effect.fail(timeoutError(options.subject, {
        scope: first ? "attempt" : "idle",
        timeoutMs: limit,
        attempts: options.attempt(),
        elapsedMs: now - since
      }))
    }
    return Effect.succeed(Stream.interruptWhen(watched, Effect.suspend(check)))
  }))
}

/**
 * Bounds a whole stream: after `timeoutMs` from its start it fails with a `Timeout` of scope
 * `call` (not retryable), whatever it was doing (an attempt, a wait between attempts, or
 * streaming parts). `attempts` reads how many attempts were started.
 *
 * @since 0.1.0
 * @category combinators
 */
export const streamCall = <A, R>(
  self: Stream.Stream<A, LlmError.LlmError, R>,
  options: {
    readonly timeoutMs: number
    readonly startedAt: number
    readonly attempts: () => number
    readonly subject: Subject
  }
): Stream.Stream<A, LlmError.LlmError, R> =>
  Stream.interruptWhen(
    self,
    Effect.andThen(
      Effect.sleep(Duration.millis(options.timeoutMs)),
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.fail(timeoutError(options.subject, {
          scope: "call",
          timeoutMs: options.timeoutMs,
          attempts: options.attempts(),
          elapsedMs: now - options.startedAt
        })))
    )
  )
