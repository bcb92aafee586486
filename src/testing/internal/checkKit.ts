/**
 * What the checks of the provider conformance suite share: the shapes of a check, the outcome of
 * a call, and the helpers that provoke faults, wait, and compare what a provider did with what
 * the contract (`contracts/core.md`) asks. The checks themselves are in `conformanceChecks.ts`
 * (one response) and `streamChecks.ts` (streams).
 *
 * @since 0.1.0
 * @internal
 */
import { Cause, Clock, Duration, Effect, Exit, Fiber, Option, Stream } from "effect"
import type * as LanguageModel from "../../LanguageModel.ts"
import * as LlmError from "../../LlmError.ts"
import * as LlmRequest from "../../LlmRequest.ts"
import type * as LlmResponse from "../../LlmResponse.ts"
import type * as StreamPart from "../../StreamPart.ts"
import type { Fault, FaultSpec, Harness } from "../ConformanceHarness.ts"

/** Why a check failed. */
export interface Failure {
  readonly message: string
}

/** What a check knows about the subject besides its harness. */
export interface CheckContext {
  readonly faults: ReadonlyArray<Fault>
  readonly specs: { readonly [F in Fault]: FaultSpec }
  readonly apiKey: string | undefined
  readonly interruptWithin: Duration.Duration
}

/** One clause of the contract. */
export interface Check {
  readonly id: string
  readonly title: string
  /** Why the check cannot run for this subject, or `undefined` when it can. */
  readonly skipUnless: (faults: ReadonlyArray<Fault>, apiKey: string | undefined) => string | undefined
  readonly run: (harness: Harness, context: CheckContext) => Effect.Effect<void, Failure>
}

/** Fails a check with a message. */
export const fail = (message: string): Effect.Effect<never, Failure> => Effect.fail({ message })

/** Fails a check with the message unless the condition holds. */
export const ensure = (condition: boolean, message: () => string): Effect.Effect<void, Failure> =>
  condition ? Effect.void : fail(message())

/** How one call ended. */
export type Outcome =
  | { readonly _tag: "Success"; readonly response: LlmResponse.LlmResponse }
  | { readonly _tag: "LlmError"; readonly error: LlmError.LlmError }
  | { readonly _tag: "OtherError"; readonly error: unknown }
  | { readonly _tag: "Defect"; readonly text: string }

/** The outcome of a failed call: an LlmError, another error, or a defect. */
export const failureOutcome = (cause: Cause.Cause<unknown>): Outcome => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) {
    const value: unknown = error.value
    return LlmError.isLlmError(value) ? { _tag: "LlmError", error: value } : { _tag: "OtherError", error: value }
  }
  return { _tag: "Defect", text: Cause.pretty(cause).split("\n")[0] ?? "unknown defect" }
}

/** Runs one `generate` and says how it ended. */
export const attempt = (model: LanguageModel.Service, input: LlmRequest.Input): Effect.Effect<Outcome> =>
  Effect.map(Effect.exit(model.generate(LlmRequest.make(input))), (exit): Outcome =>
    Exit.isSuccess(exit) ? { _tag: "Success", response: exit.value } : failureOutcome(exit.cause))

/** An outcome in the words of a failure message. */
export const describeOutcome = (outcome: Outcome): string => {
  switch (outcome._tag) {
    case "Success":
      return "succeeded"
    case "LlmError":
      return `failed with reason ${outcome.error.reason._tag} ("${outcome.error.message}")`
    case "OtherError":
      return `failed with something that is not an LlmError (${String(outcome.error)}): map every failure to LlmError, once, in the provider`
    case "Defect":
      return `crashed with a defect (${outcome.text}) instead of failing with an LlmError`
  }
}

/** Runs one `generate` that must succeed (`what` names it in the failure). */
export const succeed = (model: LanguageModel.Service, input: LlmRequest.Input, what: string) =>
  Effect.flatMap(attempt(model, input), (outcome) =>
    outcome._tag === "Success" ? Effect.succeed(outcome.response) : fail(`${what} ${describeOutcome(outcome)}`))

/** Makes the next call fail with the fault (the harness must be able to). */
export const provoke = (harness: Harness, fault: Fault): Effect.Effect<void, Failure> =>
  harness.provoke === undefined
    ? fail("Subject.faults lists faults but the harness has no provoke function")
    : harness.provoke(fault)

/** Checks that an outcome is the LlmError a fault must become. */
export const expectReason = (outcome: Outcome, fault: Fault, spec: FaultSpec, provider: string): Effect.Effect<void, Failure> => {
  const where = `fault ${fault} (${spec.description})`
  if (outcome._tag !== "LlmError") {
    return fail(`${where}: the call ${describeOutcome(outcome)}; it must fail with LlmError reason ${spec.expected}`)
  }
  const error = outcome.error
  return Effect.all([
    ensure(error.reason._tag === spec.expected, () => `${where}: ${describeOutcome(outcome)}, expected reason ${spec.expected}`),
    ensure(error.provider === provider, () => `${where}: error.provider is "${error.provider}", the model's provider is "${provider}"`),
    ensure(
      spec.retryAfterSeconds === undefined || error.retryAfterMs === spec.retryAfterSeconds * 1000,
      () =>
        `${where}: RateLimited.retryAfterMs is ${error.retryAfterMs}, expected ${
          spec.retryAfterSeconds! * 1000
        } (the provider's Retry-After must be kept)`
    ),
    ensure(
      spec.httpStatus === undefined || spec.httpStatus < 400 || error.status === undefined || error.status === spec.httpStatus,
      () => `${where}: error.status is ${error.status}, the backend answered ${spec.httpStatus}`
    )
  ], { discard: true })
}

/** Polls a condition every 10 ms until it holds or `within` has passed. */
export const waitUntil = (condition: Effect.Effect<boolean>, within: Duration.Duration): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(within)
    while (!(yield* condition)) {
      if ((yield* Clock.currentTimeMillis) >= deadline) return false
      yield* Effect.sleep("10 millis")
    }
    return true
  })

/** What is wrong with a response's usage, if anything. */
export const usageProblems = (response: LlmResponse.LlmResponse): Array<string> => {
  const usage = response.usage
  if (usage === undefined) return ["the response has no usage"]
  const problems: Array<string> = []
  const counts = Object.entries(usage).filter(([key]) => key !== "estimated")
  for (const [key, value] of counts) {
    if (!Number.isInteger(value) || (value as number) < 0) problems.push(`usage.${key} is ${value}, not a non-negative integer`)
  }
  if (usage.totalTokens !== usage.inputTokens + usage.outputTokens) {
    problems.push(
      `usage.totalTokens is ${usage.totalTokens} but inputTokens + outputTokens is ${usage.inputTokens + usage.outputTokens}`
    )
  }
  if (usage.inputTokens <= 0) {
    problems.push("usage.inputTokens is 0 for a non-empty prompt (count it locally and set estimated: true if the provider reports none)")
  }
  if (usage.cachedInputTokens !== undefined && usage.cachedInputTokens > usage.inputTokens) {
    problems.push("usage.cachedInputTokens exceeds inputTokens (inputTokens must include the cached tokens)")
  }
  if (usage.reasoningTokens !== undefined && usage.reasoningTokens > usage.outputTokens) {
    problems.push("usage.reasoningTokens exceeds outputTokens (outputTokens must include the reasoning tokens)")
  }
  if (response.content !== "" && usage.outputTokens <= 0) problems.push("usage.outputTokens is 0 for a non-empty reply")
  return problems
}

/** The faults that answer (all but `hang`). */
export const nonHang = (faults: ReadonlyArray<Fault>) => faults.filter((fault) => fault !== "hang")

/** The retryable faults the no-retries checks use. */
export const retryFaults = (faults: ReadonlyArray<Fault>) =>
  faults.filter((fault) => fault === "server-error" || fault === "rate-limited")

/** A text as quoted in failure messages: at most 60 characters. */
export const preview = (text: string) => JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)

/** What a stream did: the parts it emitted, and how it failed (`undefined` when it ended). */
export interface StreamOutcome {
  readonly parts: ReadonlyArray<StreamPart.StreamPart>
  readonly failure: Outcome | undefined
}

/** Runs a stream to its end, keeping its parts and its failure. */
export const streamAttempt = (model: LanguageModel.Service, input: LlmRequest.Input): Effect.Effect<StreamOutcome> =>
  Effect.suspend(() => {
    const parts: Array<StreamPart.StreamPart> = []
    const run = Stream.runForEach(model.stream(LlmRequest.make(input)), (part) => Effect.sync(() => void parts.push(part)))
    return Effect.map(Effect.exit(run), (exit) => ({ parts, failure: Exit.isSuccess(exit) ? undefined : failureOutcome(exit.cause) }))
  })

/**
 * Provokes `hang`, starts `call` (a generate, or a stream's consumer), waits until it reached the
 * backend, interrupts it and checks that it ended within `interruptWithin` and, where the harness
 * counts aborts, that the backend saw the abort.
 */
export const expectInterruptible = (
  harness: Harness,
  context: CheckContext,
  call: Effect.Effect<unknown, unknown>,
  words: { readonly what: string; readonly fix: string }
): Effect.Effect<void, Failure> =>
  Effect.gen(function*() {
    const before = harness.calls === undefined ? 0 : yield* harness.calls
    yield* provoke(harness, "hang")
    // Detached: if the provider ignores interruption, nothing but this check waits for it.
    const fiber = yield* Effect.forkDetach(call)
    if (harness.calls !== undefined) {
      const calls = harness.calls
      const reached = yield* waitUntil(Effect.map(calls, (n) => n > before), Duration.seconds(5))
      if (!reached) return yield* fail(`the hung ${words.what} never reached the backend within 5 seconds`)
    } else {
      yield* Effect.sleep("50 millis")
    }
    const abortsBefore = harness.aborts === undefined ? 0 : yield* harness.aborts
    const ended = yield* Effect.timeoutOption(Fiber.interrupt(fiber), context.interruptWithin)
    yield* ensure(Option.isSome(ended), () =>
      `interrupting a hung ${words.what} did not end it within ${Duration.format(context.interruptWithin)}: the provider must ` +
      `${words.fix} (no uninterruptible region around the request)`)
    if (harness.aborts !== undefined) {
      const aborts = harness.aborts
      const seen = yield* waitUntil(Effect.map(aborts, (n) => n > abortsBefore), context.interruptWithin)
      yield* ensure(seen, () =>
        `the ${words.what} was interrupted but the backend never saw the abort: pass the AbortSignal to fetch or the SDK ` +
        "(or kill the subprocess) so that the remote work stops")
    }
  })
