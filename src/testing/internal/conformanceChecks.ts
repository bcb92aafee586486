/**
 * The checks of the provider conformance suite (see `testing/ProviderConformance.ts`, which
 * owns the public types and runs them). Each check turns one clause of `contracts/core.md`
 * into calls against a harness, and fails with a message that says what the provider did and
 * what it must do instead. The stream checks are in `streamChecks.ts`, what the checks share in
 * `checkKit.ts`; {@link all} lists them all in the order they run.
 *
 * @since 0.1.0
 * @internal
 */
import { Effect, Logger, References, Result, Schema, Tracer } from "effect"
import * as LlmError from "../../LlmError.ts"
import * as LlmRequest from "../../LlmRequest.ts"
import * as LlmResponse from "../../LlmResponse.ts"
import {
  attempt,
  type Check,
  ensure,
  expectInterruptible,
  expectReason,
  fail,
  nonHang,
  type Outcome,
  provoke,
  retryFaults,
  streamAttempt,
  succeed,
  usageProblems
} from "./checkKit.ts"
import * as StreamChecks from "./streamChecks.ts"

export type { Check, CheckContext, Failure } from "./checkKit.ts"

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
    expectInterruptible(harness, context, harness.model.generate(LlmRequest.make("Hello")), {
      what: "call",
      fix: "stop waiting when its fiber is interrupted"
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
  title: "the API key appears in no response, stream part, error, log line or span",
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
      const streamed = yield* capture.around(streamAttempt(harness.model, "Hello"))
      if (streamed.failure !== undefined) outcomes.push(streamed.failure)
      const places: Array<[string, string]> = capture.texts.map((text) => ["a log line or span", text])
      places.push(["a stream part", JSON.stringify(streamed.parts)])
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


/** Every check, in the order they run. */
export const all: ReadonlyArray<Check> = [
  responds,
  usage,
  finishReason,
  errorsTyped,
  noRetries,
  interruption,
  ...StreamChecks.all,
  secrets
]
