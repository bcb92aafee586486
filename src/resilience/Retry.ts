/**
 * Retries with exponential backoff, jitter and Retry-After, plus the attempt and call timeouts.
 *
 * A wrapping layer: it requires a `LanguageModel` and provides one whose `generate` retries the
 * inner call on a retryable failure (`LlmError.isRetryable`: `RateLimited`, `ServerError`,
 * `Network`, `Unavailable` and an attempt `Timeout`), never on `InvalidRequest`,
 * `Authentication`, `PermissionDenied` or any other reason. The waits come from an Effect
 * `Schedule`: exponential (`baseDelay` x `factor`^n), jittered (x0.8..x1.2), at least the
 * provider's `retryAfterMs`, at most `maxDelay`. A retry is never sent before the provider's
 * Retry-After: when the provider asks for a longer wait than `maxDelay`, the call is not retried
 * but fails at once with its `RateLimited` error (`retryAfterMs` kept, the wait named in the
 * description), so the caller (or a fallback candidate) decides. `maxAttempts` counts every
 * attempt, the first included: the default 3 means one call and up to two retries
 * (`--max-retries N` sets `maxAttempts = N + 1`; at most {@link MAX_RETRIES} retries).
 *
 * The retry never waits past a deadline: the earlier of `CallContext.Deadline` (set by the
 * budget layer) and the end of the call timeout. When the next wait would pass it, the call
 * fails at once with the last error (not a `Timeout` or `BudgetExceeded`: the last error says
 * what actually went wrong, e.g. a `RateLimited` with its retry-after). Each retry is logged at
 * warning level (attempt, reason, delay; never the prompt) and counted in the
 * `llm_retries_total` counter (attributes `provider`, `reason`).
 *
 * The policy is set globally (the layer's argument, from the `retry:` section), per provider
 * (`retry.providers.<name>`, resolved by {@link resolve}) and per call (the {@link CallPolicy}
 * reference, set with {@link withPolicy}).
 *
 * Under a budget, every attempt runs through the call's `CallContext.AttemptBudget`: it is
 * covered by a reservation before it is sent (the call's own for the first, a new one for each
 * retry, so a retry the budget cannot afford ends the call with `BudgetExceeded`) and settled
 * when it ends (an attempt abandoned after it was sent, e.g. timed out, is charged by the
 * budget's `chargeAbandoned` policy). {@link layerMarkSent}, right above the provider, tells the
 * budget when an attempt's request reaches the provider, so that an attempt that timed out
 * while it waited for a rate-limit token or a concurrency permit is released, not charged.
 *
 * A stream is retried the same way, but only until its first part has been emitted: after that a
 * failure ends the stream with its error, so that a caller never sees text twice. On a stream the
 * attempt timeout bounds the wait for the first part, `streamIdleTimeoutMs` each later wait
 * (`Timeout` scope `idle`), and the call timeout the whole stream (see `Timeout.stream`).
 *
 * @since 0.1.0
 */
import { type Cause, Clock, Context, Duration, Effect, Layer, Metric, Pull, Schedule, Schema, Stream } from "effect"
import * as CallContext from "../CallContext.ts"
import * as DurationText from "../DurationText.ts"
import * as Streams from "../internal/streams.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import type * as StreamPart from "../StreamPart.ts"
import * as Timeout from "./Timeout.ts"

/**
 * How a call is retried and bounded in time.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  /** Attempts in all, the first included (1 = never retry). */
  readonly maxAttempts: number
  /** The first backoff wait, in milliseconds. */
  readonly baseDelayMs: number
  /**
   * The longest single wait, in milliseconds. A provider's Retry-After longer than this is not
   * waited out (nor cut short): the call fails at once with its `RateLimited` error.
   */
  readonly maxDelayMs: number
  /** The backoff growth factor. */
  readonly factor: number
  /** Whether waits are jittered (x0.8..x1.2) so that callers do not retry in step. */
  readonly jitter: boolean
  /** Bounds each attempt, in milliseconds (none when absent). */
  readonly attemptTimeoutMs?: number | undefined
  /** Bounds the whole call when the request has no `timeoutMs` (none when absent). */
  readonly callTimeoutMs?: number | undefined
  /** Bounds each wait for a stream's next part after its first, in milliseconds (none when absent). */
  readonly streamIdleTimeoutMs?: number | undefined
}

/**
 * The defaults: 3 attempts in all, 500 ms then 1 s (jittered), waits capped at 30 s, no timeouts.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPolicy: Policy = {
  maxAttempts: 3,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: true
}

/**
 * A per-call override of the policy. Set it around a call with {@link withPolicy}; the fields
 * given replace those of the layer's policy for that call only.
 *
 * @since 0.1.0
 * @category references
 */
export const CallPolicy = Context.Reference<Partial<Policy> | undefined>("llm-connect/Retry/CallPolicy", {
  defaultValue: () => undefined
})

/**
 * Runs `effect` with a per-call retry policy override.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * LanguageModel.generate("hi").pipe(Retry.withPolicy({ maxAttempts: 5, attemptTimeoutMs: 10_000 }))
 */
export const withPolicy = (override: Partial<Policy>) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(effect, CallPolicy, override)

/**
 * The most retries a policy may ask for (`maxAttempts` at most this + 1): more would keep a
 * failing provider busy for hours and multiply what a call can cost.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_RETRIES = 10

const PolicyFields = {
  maxAttempts: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_RETRIES + 1 }))).annotate({
    description: `Attempts in all, the first included (default 3; 1 = never retry; at most ${MAX_RETRIES + 1}).`
  }),
  maxRetries: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: MAX_RETRIES }))).annotate({
    description: `Retries after the first attempt (maxAttempts = maxRetries + 1; 0 to ${MAX_RETRIES}); wins over maxAttempts.`
  }),
  baseDelay: Schema.optionalKey(DurationText.DurationString).annotate({ description: "First backoff wait (default 500ms)." }),
  maxDelay: Schema.optionalKey(DurationText.DurationString).annotate({
    description: "Longest single wait (default 30s); a Retry-After longer than this fails the call at once instead."
  }),
  factor: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(1))),
  jitter: Schema.optionalKey(Schema.Boolean)
}

/**
 * The fields of a retry policy as written in the configuration file.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PolicyConfig = Schema.Struct(PolicyFields).annotate({ identifier: "RetryPolicyConfig" })

/**
 * The `retry:` section of the configuration file: the global policy and per-provider overrides.
 *
 * @since 0.1.0
 * @category schemas
 * @example
 * // retry: { maxAttempts: 4, baseDelay: 250ms, providers: { openai: { maxAttempts: 6 } } }
 */
export const RetryConfig = Schema.Struct({
  ...PolicyFields,
  providers: Schema.optionalKey(Schema.Record(Schema.String, PolicyConfig)).annotate({
    description: "Overrides for one provider, by its name."
  })
}).annotate({ identifier: "RetryConfig" })

/**
 * @since 0.1.0
 * @category models
 */
export type RetryConfig = typeof RetryConfig.Type

const millisOf = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const parsed = DurationText.parseMillis(text)
  return parsed._tag === "Success" ? parsed.success : undefined
}

const applyFields = (policy: Policy, fields: typeof PolicyConfig.Type | undefined): Policy => {
  if (fields === undefined) return policy
  const baseDelayMs = millisOf(fields.baseDelay)
  const maxDelayMs = millisOf(fields.maxDelay)
  return {
    ...policy,
    ...(fields.maxAttempts !== undefined ? { maxAttempts: fields.maxAttempts } : {}),
    ...(fields.maxRetries !== undefined ? { maxAttempts: fields.maxRetries + 1 } : {}),
    ...(baseDelayMs !== undefined ? { baseDelayMs } : {}),
    ...(maxDelayMs !== undefined ? { maxDelayMs } : {}),
    ...(fields.factor !== undefined ? { factor: fields.factor } : {}),
    ...(fields.jitter !== undefined ? { jitter: fields.jitter } : {})
  }
}

/**
 * The policy for one provider: defaults, then the global section, then the provider's overrides,
 * then the timeouts.
 *
 * @since 0.1.0
 * @category config
 */
export const resolve = (
  config: RetryConfig | undefined,
  provider: string,
  timeouts?: {
    readonly attemptTimeoutMs?: number | undefined
    readonly callTimeoutMs?: number | undefined
    readonly streamIdleTimeoutMs?: number | undefined
  }
): Policy => {
  const global = applyFields(defaultPolicy, config)
  const own = applyFields(global, config?.providers?.[provider])
  return {
    ...own,
    ...(timeouts?.attemptTimeoutMs !== undefined ? { attemptTimeoutMs: timeouts.attemptTimeoutMs } : {}),
    ...(timeouts?.callTimeoutMs !== undefined ? { callTimeoutMs: timeouts.callTimeoutMs } : {}),
    ...(timeouts?.streamIdleTimeoutMs !== undefined ? { streamIdleTimeoutMs: timeouts.streamIdleTimeoutMs } : {})
  }
}

/**
 * Counts retries, by `provider` and `reason`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retriesTotal = Metric.counter("llm_retries_total", {
  description: "LLM call attempts retried after a retryable failure",
  incremental: true
})

/**
 * The wait before the next attempt, before the deadline check: the backoff, raised to the
 * provider's Retry-After, capped at `maxDelayMs` (a Retry-After past `maxDelayMs` never gets
 * here: {@link schedule} stops first).
 *
 * @since 0.1.0
 * @category scheduling
 */
export const nextDelay = (backoff: Duration.Duration, error: LlmError.LlmError, policy: Policy): Duration.Duration => {
  const retryAfter = error.retryAfterMs
  const wanted = retryAfter !== undefined ? Math.max(Duration.toMillis(backoff), retryAfter) : Duration.toMillis(backoff)
  return Duration.millis(Math.min(wanted, policy.maxDelayMs))
}

/**
 * Whether the provider asks for a longer wait than the policy allows (`retryAfterMs` past
 * `maxDelayMs`): such a call is not retried.
 *
 * @since 0.1.0
 * @category scheduling
 */
export const waitsTooLong = (error: LlmError.LlmError, policy: Policy): boolean => {
  const retryAfter = error.retryAfterMs
  return retryAfter !== undefined && retryAfter > policy.maxDelayMs
}

/**
 * The error a call ends with when the provider asked for a longer wait than `maxDelayMs`: the
 * same `RateLimited` (its `retryAfterMs` kept), its description naming the wait and the bound.
 *
 * @since 0.1.0
 * @category scheduling
 */
export const notWaited = (error: LlmError.LlmError, policy: Policy): LlmError.LlmError => {
  if (error.reason._tag !== "RateLimited" || !waitsTooLong(error, policy)) return error
  const wait = DurationText.formatMillis(error.retryAfterMs ?? 0)
  return LlmError.make(
    error.provider,
    new LlmError.RateLimited({
      retryAfterMs: error.retryAfterMs ?? 0,
      description: `${error.reason.description}; the provider asks to retry after ${wait}, longer than the longest wait ` +
        `(retry.maxDelay ${DurationText.formatMillis(policy.maxDelayMs)}), so it was not retried`
    }),
    { model: error.model, status: error.status, requestId: error.requestId, spent: error.spent }
  )
}

/**
 * The retry schedule of a policy: its input is the failure, it stops on a non-retryable error,
 * after `maxAttempts` attempts, when the provider asks for a wait longer than `maxDelayMs`, or
 * when the wait would pass the deadline in `CallContext.Deadline`; each retry it allows is
 * logged and counted.
 *
 * @since 0.1.0
 * @category scheduling
 */
export const schedule = (policy: Policy): Schedule.Schedule<unknown, LlmError.LlmError> => {
  const backoff = Schedule.exponential(Duration.millis(policy.baseDelayMs), policy.factor)
  return Schedule.max([policy.jitter ? Schedule.jittered(backoff) : backoff, Schedule.recurs(policy.maxAttempts - 1)]).pipe(
    Schedule.setInputType<LlmError.LlmError>(),
    Schedule.while(({ input }) => input.isRetryable && !waitsTooLong(input, policy)),
    Schedule.modifyDelay(({ duration, input }) => Effect.succeed(nextDelay(duration, input, policy))),
    Schedule.while(({ duration, now }) =>
      Effect.map(Effect.service(CallContext.Deadline), (deadline) => deadline === undefined || now + Duration.toMillis(duration) <= deadline)
    ),
    Schedule.tap(({ attempt, duration, input }) =>
      Effect.andThen(
        Effect.logWarning("retrying LLM call").pipe(
          Effect.annotateLogs({
            provider: input.provider,
            ...(input.model !== undefined ? { model: input.model } : {}),
            attempt,
            reason: input.reason._tag,
            ...(input.status !== undefined ? { status: input.status } : {}),
            delayMs: Duration.toMillis(duration)
          })
        ),
        Metric.update(Metric.withAttributes(retriesTotal, { provider: input.provider, reason: input.reason._tag }), 1)
      )
    )
  )
}

/**
 * How the retry layer sits in its stack.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The stack below marks when each attempt reaches the provider ({@link layerMarkSent}): an
   * attempt abandoned before that is released by the budget. Without it, an abandoned attempt
   * counts as sent.
   */
  readonly sendMarked?: boolean | undefined
}

/**
 * Wraps a model with a retry policy.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (inner: LanguageModel.Service, policy: Policy = defaultPolicy, options: Options = {}): LanguageModel.Service => {
  const baseSchedule = schedule(policy)
  const marked = options.sendMarked === true
  const defaultSubject: CallContext.AttemptTarget = { provider: inner.provider, model: inner.defaultModel }
  const generate = (request: LlmRequest): Effect.Effect<LlmResponse, LlmError.LlmError> =>
    Effect.withFiber((fiber) => {
      const override = fiber.getRef(CallPolicy)
      const budget = fiber.getRef(CallContext.AttemptBudget)
      const effective = override === undefined ? policy : { ...policy, ...override }
      const subject = request.model === undefined || request.model === inner.defaultModel
        ? defaultSubject
        : { provider: inner.provider, model: request.model }
      return run(inner, request, effective, override === undefined ? baseSchedule : schedule(effective), budget, marked, subject)
    })
  // A stream is retried only until its first part: see runStream.
  const stream = (request: LlmRequest): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
    Streams.fromScope((_scope, fiber) => {
      const override = fiber.getRef(CallPolicy)
      const budget = fiber.getRef(CallContext.AttemptBudget)
      const effective = override === undefined ? policy : { ...policy, ...override }
      return runStream(inner, request, effective, override === undefined ? baseSchedule : schedule(effective), budget, marked)
    })
  return LanguageModel.wrap(inner, { generate: (request) => generate(request), stream: (request) => stream(request) })
}

const run = (
  inner: LanguageModel.Service,
  request: LlmRequest,
  policy: Policy,
  retrySchedule: Schedule.Schedule<unknown, LlmError.LlmError>,
  budget: CallContext.AttemptBudget | undefined,
  marked: boolean,
  subject: CallContext.AttemptTarget
): Effect.Effect<LlmResponse, LlmError.LlmError> => {
  const attemptTimeoutMs = policy.attemptTimeoutMs
  const callTimeoutMs = request.timeoutMs ?? policy.callTimeoutMs
  if (policy.maxAttempts <= 1 && attemptTimeoutMs === undefined && callTimeoutMs === undefined) {
    return budget === undefined ? inner.generate(request) : budget.attempt(request, subject, inner.generate, marked)
  }
  let attempts = 0
  const send = attemptTimeoutMs === undefined
    ? inner.generate
    : (sending: LlmRequest) => Timeout.attempt(inner.generate(sending), { timeoutMs: attemptTimeoutMs, attempt: attempts, subject })
  const start = () => {
    attempts += 1
    // Under a budget, each attempt is reserved before it is sent and settled when it ends.
    return budget === undefined ? send(request) : budget.attempt(request, subject, send, marked)
  }
  // The schedule's driver is only built after a first failure: the first attempt runs bare (built
  // here, as the call starts: `run` is called when the call runs), and its error is replayed as
  // the schedule's first input (the hot path stays one `catch`).
  const retried = policy.maxAttempts <= 1 ? Effect.suspend(start) : Effect.catch(callTimeoutMs === undefined ? start() : Effect.suspend(start), (first) => {
    if (!first.isRetryable) return Effect.fail(first)
    const attempt = Effect.suspend(start)
    let replayed = false
    const again = Effect.suspend(() => {
      if (replayed) return attempt
      replayed = true
      return Effect.fail(first)
    })
    return Effect.mapError(Effect.retry(again, retrySchedule), (last) => notWaited(last, policy))
  })
  if (callTimeoutMs === undefined) return retried
  return Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    const outer = yield* CallContext.Deadline
    const end = startedAt + callTimeoutMs
    const deadline = outer === undefined ? end : Math.min(outer, end)
    return yield* Timeout.call(Effect.provideService(retried, CallContext.Deadline, deadline), {
      timeoutMs: callTimeoutMs,
      startedAt,
      attempts: Effect.sync(() => attempts),
      subject
    })
  })
}

// A stream's attempts. An attempt that fails before it has emitted a part is retried like a call
// (same schedule, Retry-After, deadline, log line and counter); once a part has reached the caller,
// a failure ends the stream with its error, so that no text is ever shown twice. Each attempt is
// bounded by the attempt timeout until its first part and by the idle timeout between parts; the
// call timeout bounds the whole stream. Under a budget, each attempt runs through the call's
// attempt budget (reserved before it is sent, settled when it ends).
const runStream = (
  inner: LanguageModel.Service,
  request: LlmRequest,
  policy: Policy,
  retrySchedule: Schedule.Schedule<unknown, LlmError.LlmError>,
  budget: CallContext.AttemptBudget | undefined,
  marked: boolean
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> | Streams.Stage<StreamPart.StreamPart, LlmError.LlmError> => {
  const subject = { provider: inner.provider, model: request.model ?? inner.defaultModel }
  const callTimeoutMs = request.timeoutMs ?? policy.callTimeoutMs
  let attempts = 0
  // Set when the call starts, with a call timeout: each attempt's timeouts also watch the call's end.
  let call: Timeout.CallBound | undefined
  const timed = policy.attemptTimeoutMs !== undefined || policy.streamIdleTimeoutMs !== undefined || callTimeoutMs !== undefined
  // The timeouts read their stream ahead of the consumer (Timeout.stream), so they wrap the
  // attempt budget too: every part received from the provider is counted by the budget, read by
  // the consumer or not (a consumer that stops early is charged what was received, not what it read).
  const watched = (parts: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) =>
    !timed ? parts : Timeout.stream(parts, {
      firstPartMs: policy.attemptTimeoutMs,
      idleMs: policy.streamIdleTimeoutMs,
      call,
      attempt: () => attempts,
      subject
    })
  // An attempt's stream, made as the attempt opens (`runStream` runs as the call's stream opens).
  const makeAttempt = () => {
    attempts += 1
    return watched(budget === undefined ? inner.stream(request) : budget.attemptStream(request, subject, inner.stream, marked))
  }
  // One attempt and no call timeout: the attempt's stream itself (no stage of this layer's own).
  if (policy.maxAttempts <= 1 && callTimeoutMs === undefined) return makeAttempt()
  // The schedule's driver, made at the first retry (one per call: it counts the attempts).
  let step: ((error: LlmError.LlmError) => Effect.Effect<unknown, LlmError.LlmError | Cause.Done<unknown>>) | undefined
  const retried = policy.maxAttempts <= 1
    ? Streams.suspend(makeAttempt)
    : Streams.retryBeforeFirstStage(makeAttempt, (error) =>
      !error.isRetryable ? undefined : Effect.suspend(() => (step === undefined ? Schedule.toStepWithSleep(retrySchedule) : Effect.succeed(step))).pipe(
        Effect.flatMap((driver) => {
          step = driver
          // The schedule stops (attempts used up, a wait past maxDelay or the deadline): the last error.
          return Pull.catchDone(driver(error), () => Effect.fail(notWaited(error, policy)))
        })
      ))
  if (callTimeoutMs === undefined) return retried
  // The call timeout bounds the whole stream: each attempt's timeouts fail it at the call's end,
  // and no retry waits past it (the deadline the schedule reads).
  return Stream.unwrap(Effect.gen(function*() {
    const startedAt = yield* Clock.currentTimeMillis
    const outer = yield* CallContext.Deadline
    const end = startedAt + callTimeoutMs
    call = { startedAt, timeoutMs: callTimeoutMs, attempts: () => attempts }
    return Stream.provideService(
      retried instanceof Streams.Stage ? Streams.fromStage(retried) : retried,
      CallContext.Deadline,
      outer === undefined ? end : Math.min(outer, end)
    )
  }))
}

/**
 * The retry layer: wraps the `LanguageModel` below it with `policy`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  policy: Policy = defaultPolicy,
  options: Options = {}
): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  LanguageModel.layerWrap((inner) => Effect.succeed(make(inner, policy, options)))

/**
 * Marks each attempt as sent when it reaches the model below (`CallContext.AttemptBudget.markSent`):
 * put it right above the provider, below the rate limit and the concurrency limit, and give the
 * retry layer above `sendMarked: true`. Outside a budget it only passes calls through.
 *
 * @since 0.1.0
 * @category constructors
 */
export const markSent = (inner: LanguageModel.Service): LanguageModel.Service =>
  LanguageModel.wrap(inner, {
    generate: (request, next) =>
      Effect.withFiber((fiber) => {
        fiber.getRef(CallContext.AttemptBudget)?.markSent()
        return next(request)
      }),
    stream: (request, next) =>
      Streams.withFiber((fiber) => {
        fiber.getRef(CallContext.AttemptBudget)?.markSent()
        return next(request)
      })
  })

/**
 * {@link markSent} as a wrapping layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMarkSent: Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> = LanguageModel.layerWrap(
  (inner) => Effect.succeed(markSent(inner))
)
