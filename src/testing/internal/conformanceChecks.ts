/**
 * The checks of the provider conformance suite (see `testing/ProviderConformance.ts`, which
 * owns the public types and runs them). Each check turns one clause of `contracts/core.md`
 * into calls against a harness, and fails with a message that says what the provider did and
 * what it must do instead.
 *
 * @since 0.1.0
 * @internal
 */
import { Cause, Clock, Duration, Effect, Exit, Fiber, Logger, Option, References, Result, Schema, Stream, Tracer } from "effect"
import type * as LanguageModel from "../../LanguageModel.ts"
import * as LlmError from "../../LlmError.ts"
import * as LlmRequest from "../../LlmRequest.ts"
import * as LlmResponse from "../../LlmResponse.ts"
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

const fail = (message: string): Effect.Effect<never, Failure> => Effect.fail({ message })

const ensure = (condition: boolean, message: () => string): Effect.Effect<void, Failure> =>
  condition ? Effect.void : fail(message())

type Outcome =
  | { readonly _tag: "Success"; readonly response: LlmResponse.LlmResponse }
  | { readonly _tag: "LlmError"; readonly error: LlmError.LlmError }
  | { readonly _tag: "OtherError"; readonly error: unknown }
  | { readonly _tag: "Defect"; readonly text: string }

const failureOutcome = (cause: Cause.Cause<unknown>): Outcome => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) {
    const value: unknown = error.value
    return LlmError.isLlmError(value) ? { _tag: "LlmError", error: value } : { _tag: "OtherError", error: value }
  }
  return { _tag: "Defect", text: Cause.pretty(cause).split("\n")[0] ?? "unknown defect" }
}

const attempt = (model: LanguageModel.Service, input: LlmRequest.Input): Effect.Effect<Outcome> =>
  Effect.map(Effect.exit(model.generate(LlmRequest.make(input))), (exit): Outcome =>
    Exit.isSuccess(exit) ? { _tag: "Success", response: exit.value } : failureOutcome(exit.cause))

const describeOutcome = (outcome: Outcome): string => {
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

const succeed = (model: LanguageModel.Service, input: LlmRequest.Input, what: string) =>
  Effect.flatMap(attempt(model, input), (outcome) =>
    outcome._tag === "Success" ? Effect.succeed(outcome.response) : fail(`${what} ${describeOutcome(outcome)}`))

const provoke = (harness: Harness, fault: Fault): Effect.Effect<void, Failure> =>
  harness.provoke === undefined
    ? fail("Subject.faults lists faults but the harness has no provoke function")
    : harness.provoke(fault)

/** Checks that an outcome is the LlmError a fault must become. */
const expectReason = (outcome: Outcome, fault: Fault, spec: FaultSpec, provider: string): Effect.Effect<void, Failure> => {
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

const waitUntil = (condition: Effect.Effect<boolean>, within: Duration.Duration): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(within)
    while (!(yield* condition)) {
      if ((yield* Clock.currentTimeMillis) >= deadline) return false
      yield* Effect.sleep("10 millis")
    }
    return true
  })

const usageProblems = (response: LlmResponse.LlmResponse): Array<string> => {
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

const finishReasons: ReadonlyArray<string> = LlmResponse.FinishReason.literals

const responds: Check = {
  id: "responds",
  title: "a prompt gets a well-formed LlmResponse from this provider",
  skipUnless: () => undefined,
  run: (harness) =>
    Effect.gen(function*() {
      const response = yield* succeed(harness.model, "Say hello in five words.", "a plain prompt")
      const decoded = Schema.decodeUnknownResult(LlmResponse.LlmResponse)(response)
      if (Result.isFailure(decoded)) return yield* fail(`the response is not a valid LlmResponse: ${decoded.failure.message}`)
      yield* ensure(response.provider === harness.model.provider, () =>
        `response.provider is "${response.provider}", the model's provider is "${harness.model.provider}"`)
      yield* ensure(response.model !== "", () => "response.model is empty: report the model that answered")
    })
}

const usage: Check = {
  id: "usage",
  title: "usage is present, consistent (total = input + output) and counted per call",
  skipUnless: () => undefined,
  run: (harness) =>
    Effect.gen(function*() {
      const short = yield* succeed(harness.model, "Hi", "a short prompt")
      const long = yield* succeed(
        harness.model,
        `Hi. ${"Please consider this longer prompt about rivers, mountains and the sea. ".repeat(20)}`,
        "a long prompt"
      )
      const problems = [...usageProblems(short), ...usageProblems(long)]
      yield* ensure(problems.length === 0, () => problems.join("; "))
      yield* ensure(long.usage.inputTokens > short.usage.inputTokens, () =>
        `a prompt 20 times longer reported ${long.usage.inputTokens} input tokens and the short one ${short.usage.inputTokens}: ` +
        "usage must be the call's own, not a fixed figure")
    })
}

const finishReason: Check = {
  id: "finish-reason",
  title: "finishReason is normalised and maxTokens is honoured (or a warning says it is not)",
  skipUnless: () => undefined,
  run: (harness) =>
    Effect.gen(function*() {
      const maxTokens = 1
      const response = yield* succeed(
        harness.model,
        { prompt: "Write a long story about a river, at least three paragraphs.", maxTokens },
        `a prompt with maxTokens: ${maxTokens}`
      )
      yield* ensure(finishReasons.includes(response.finishReason), () =>
        `finishReason "${response.finishReason}" is not one of ${finishReasons.join(", ")}: normalise it and keep the ` +
        "provider's value in rawFinishReason")
      const warned = (response.warnings ?? []).some((warning) => /max.?tokens/i.test(warning))
      if (warned) return
      yield* ensure(response.usage.outputTokens <= maxTokens, () =>
        `maxTokens was ${maxTokens} but usage.outputTokens is ${response.usage.outputTokens}: pass maxTokens to the ` +
        "provider, or add a warning saying it cannot be honoured")
      yield* ensure(response.usage.outputTokens < maxTokens || response.finishReason === "length", () =>
        `the reply stopped at maxTokens but finishReason is "${response.finishReason}" (expected "length")`)
    })
}

const nonHang = (faults: ReadonlyArray<Fault>) => faults.filter((fault) => fault !== "hang")

const errorsTyped: Check = {
  id: "errors-typed",
  title: "each scripted fault fails with an LlmError of the right reason",
  skipUnless: (faults) =>
    nonHang(faults).length === 0 ? "no faults declared (give Subject.faults and Harness.provoke)" : undefined,
  run: (harness, context) =>
    Effect.forEach(nonHang(context.faults), (fault) =>
      Effect.gen(function*() {
        yield* provoke(harness, fault)
        const outcome = yield* attempt(harness.model, "Hello")
        yield* expectReason(outcome, fault, context.specs[fault], harness.model.provider)
      }), { discard: true })
}

const retryFaults = (faults: ReadonlyArray<Fault>) =>
  faults.filter((fault) => fault === "server-error" || fault === "rate-limited")

const noRetries: Check = {
  id: "no-retries",
  title: "one generate is one call: a retryable failure surfaces at once (no retries inside)",
  skipUnless: (faults) =>
    retryFaults(faults).length === 0 ? "needs the server-error or rate-limited fault" : undefined,
  run: (harness, context) =>
    Effect.forEach(retryFaults(context.faults), (fault) =>
      Effect.gen(function*() {
        const calls = harness.calls
        if (calls === undefined) {
          return yield* fail("give Harness.calls (how many calls reached the backend) so that retries can be counted")
        }
        const spec = context.specs[fault]
        const before = yield* calls
        yield* provoke(harness, fault)
        const outcome = yield* attempt(harness.model, "Hello")
        const made = (yield* calls) - before
        if (outcome._tag === "Success") {
          return yield* fail(
            `the scripted ${spec.description} did not surface: generate succeeded after ${made} calls reached the ` +
              "backend, so the provider retries internally. Remove those retries (and set the SDK's maxRetries to 0): " +
              "llm-connect's Retry layer retries, above the provider"
          )
        }
        yield* expectReason(outcome, fault, spec, harness.model.provider)
        yield* ensure(made === 1, () =>
          `one generate with a scripted ${spec.description} made ${made} calls to the backend; expected exactly 1 ` +
          "(no retries inside the provider)")
      }), { discard: true })
}

const interruption: Check = {
  id: "interruption",
  title: "interrupting a call ends it promptly, and the backend sees the abort where observable",
  skipUnless: (faults) => (faults.includes("hang") ? undefined : "needs the hang fault"),
  run: (harness, context) =>
    Effect.gen(function*() {
      const before = harness.calls === undefined ? 0 : yield* harness.calls
      yield* provoke(harness, "hang")
      // Detached: if the provider ignores interruption, nothing but this check waits for it.
      const fiber = yield* Effect.forkDetach(harness.model.generate(LlmRequest.make("Hello")))
      if (harness.calls !== undefined) {
        const calls = harness.calls
        const reached = yield* waitUntil(Effect.map(calls, (n) => n > before), Duration.seconds(5))
        if (!reached) return yield* fail("the hung call never reached the backend within 5 seconds")
      } else {
        yield* Effect.sleep("50 millis")
      }
      const abortsBefore = harness.aborts === undefined ? 0 : yield* harness.aborts
      const ended = yield* Effect.timeoutOption(Fiber.interrupt(fiber), context.interruptWithin)
      yield* ensure(Option.isSome(ended), () =>
        `interrupting a hung call did not end it within ${Duration.format(context.interruptWithin)}: the provider must ` +
        "stop waiting when its fiber is interrupted (no uninterruptible region around the request)")
      if (harness.aborts !== undefined) {
        const aborts = harness.aborts
        const seen = yield* waitUntil(Effect.map(aborts, (n) => n > abortsBefore), context.interruptWithin)
        yield* ensure(seen, () =>
          "the call was interrupted but the backend never saw the abort: pass the AbortSignal to fetch or the SDK " +
          "(or kill the subprocess) so that the remote work stops")
      }
    })
}

/** Records every log line and span (name, attributes, events) written while an effect runs. */
export const captureOutput = Effect.sync(() => {
  const texts: Array<string> = []
  const logger = Logger.formatJson.pipe(Logger.map((line) => void texts.push(line)))
  const tracer = Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      texts.push(`span ${span.name}`)
      const end = span.end.bind(span)
      span.end = (endTime, exit) => {
        texts.push(JSON.stringify({ span: span.name, attributes: [...span.attributes], events: span.events }, (_, value) =>
          typeof value === "bigint" ? String(value) : value))
        end(endTime, exit)
      }
      return span
    }
  })
  const around = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    self.pipe(
      Effect.provideService(References.MinimumLogLevel, "All"),
      Effect.provide(Logger.layer([logger])),
      Effect.withTracer(tracer)
    )
  return { texts, around }
})

const secrets: Check = {
  id: "secrets",
  title: "the API key appears in no response, error, log line or span",
  skipUnless: (_, apiKey) => (apiKey === undefined || apiKey === "" ? "no Subject.apiKey given" : undefined),
  run: (harness, context) =>
    Effect.gen(function*() {
      const key = context.apiKey!
      const capture = yield* captureOutput
      const outcomes: Array<Outcome> = [yield* capture.around(attempt(harness.model, "Hello"))]
      for (const fault of nonHang(context.faults)) {
        yield* provoke(harness, fault)
        outcomes.push(yield* capture.around(attempt(harness.model, "Hello")))
      }
      const places: Array<[string, string]> = capture.texts.map((text) => ["a log line or span", text])
      for (const outcome of outcomes) {
        if (outcome._tag === "Success") places.push(["a response", JSON.stringify(outcome.response)])
        if (outcome._tag === "LlmError") {
          places.push(["an error message", outcome.error.message])
          places.push(["an error document", JSON.stringify(LlmError.toDocument(outcome.error))])
        }
        if (outcome._tag === "OtherError") places.push(["an error", String(outcome.error)])
        if (outcome._tag === "Defect") places.push(["a defect", outcome.text])
      }
      const leak = places.find(([, text]) => text.includes(key))
      yield* ensure(leak === undefined, () =>
        `the API key appears in ${leak![0]}: keep it Redacted and never put it in responses, errors, logs or spans`)
    })
}

const preview = (text: string) => JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text)

const streaming: Check = {
  id: "stream",
  title: "stream: text deltas add up to the finish part's response, which comes last, once, with the usage; faults fail the stream",
  skipUnless: () => undefined,
  run: (harness, context) =>
    Effect.gen(function*() {
      const stream = harness.model.stream
      const parts = yield* Stream.runCollect(stream(LlmRequest.make("Say hello in five words."))).pipe(
        Effect.mapError((error): Failure => ({ message: `a plain prompt's stream failed: ${error.message}` }))
      )
      const last = parts.at(-1)
      if (last === undefined || last.type !== "finish") {
        return yield* fail("the stream did not end with a finish part: the last part must be { type: \"finish\", response }")
      }
      const final = last.response
      yield* ensure(parts.filter((part) => part.type === "finish").length === 1, () =>
        "the stream has more than one finish part: exactly one, the last, may carry the response")
      let text = ""
      for (const part of parts) if (part.type === "text-delta") text += part.text
      yield* ensure(text === final.content, () =>
        `the text deltas add up to ${preview(text)} but the final response says ${preview(final.content)}`)
      const problems = usageProblems(final)
      yield* ensure(problems.length === 0, () => `the final response: ${problems.join("; ")}`)
      for (const fault of retryFaults(context.faults)) {
        yield* provoke(harness, fault)
        const exit = yield* Effect.exit(Stream.runDrain(stream(LlmRequest.make("Hello"))))
        const outcome: Outcome = Exit.isSuccess(exit) ? { _tag: "Success", response: final } : failureOutcome(exit.cause)
        yield* expectReason(outcome, fault, context.specs[fault], harness.model.provider)
      }
    })
}

/** Every check, in the order they run. */
export const all: ReadonlyArray<Check> = [
  responds,
  usage,
  finishReason,
  errorsTyped,
  noRetries,
  interruption,
  streaming,
  secrets
]
