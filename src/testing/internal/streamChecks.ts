/**
 * The stream checks of the provider conformance suite (`contracts/core.md` §7): every service has
 * a `stream`, native or derived from `generate` by `LanguageModel.make`, and every one must
 * keep these clauses. A derived stream keeps them by construction; a native one (SSE, a
 * subprocess's JSON lines) is where they can break.
 *
 * - `stream`: parts, then exactly one `finish` part, the last; the text deltas add up to its
 *   content; its response is a valid `LlmResponse` with consistent usage.
 * - `stream-errors`: each scripted fault fails the stream with the `LlmError` of the right
 *   reason, before any part (the retry layer retries a stream only before its first part).
 * - `stream-interruption`: interrupting the consumer ends the call promptly, and the backend
 *   sees the abort where the harness can observe it.
 *
 * @since 0.1.0
 * @internal
 */
import { Effect, Result, Schema, Stream } from "effect"
import * as LlmRequest from "../../LlmRequest.ts"
import * as LlmResponse from "../../LlmResponse.ts"
import {
  type Check,
  describeOutcome,
  ensure,
  expectInterruptible,
  expectReason,
  fail,
  nonHang,
  preview,
  provoke,
  streamAttempt,
  usageProblems
} from "./checkKit.ts"

const shape: Check = {
  id: "stream",
  title: "stream: parts, then exactly one finish part, the last; the text deltas add up to its content; usage present",
  skipUnless: () => undefined,
  run: (harness) =>
    Effect.gen(function*() {
      const { failure, parts } = yield* streamAttempt(harness.model, "Say hello in five words.")
      if (failure !== undefined) return yield* fail(`a plain prompt's stream ${describeOutcome(failure)}`)
      const last = parts.at(-1)
      if (last === undefined || last.type !== "finish") {
        return yield* fail("the stream did not end with a finish part: the last part must be { type: \"finish\", response }")
      }
      yield* ensure(parts.filter((part) => part.type === "finish").length === 1, () =>
        "the stream has more than one finish part: exactly one, the last, may carry the response")
      const final = last.response
      const decoded = Schema.decodeUnknownResult(LlmResponse.LlmResponse)(final)
      if (Result.isFailure(decoded)) {
        return yield* fail(`the finish part's response is not a valid LlmResponse: ${decoded.failure.message}`)
      }
      yield* ensure(final.provider === harness.model.provider, () =>
        `the finish part's response.provider is "${final.provider}", the model's provider is "${harness.model.provider}"`)
      let text = ""
      for (const part of parts) if (part.type === "text-delta") text += part.text
      yield* ensure(text === final.content, () =>
        `the text deltas add up to ${preview(text)} but the final response says ${preview(final.content)}`)
      const problems = usageProblems(final)
      yield* ensure(problems.length === 0, () => `the finish part's response: ${problems.join("; ")}`)
    })
}

const errors: Check = {
  id: "stream-errors",
  title: "stream: each scripted fault fails the stream before its first part with an LlmError of the right reason",
  skipUnless: (faults) =>
    nonHang(faults).length === 0 ? "no faults declared (give Subject.faults and Harness.provoke)" : undefined,
  run: (harness, context) =>
    Effect.forEach(nonHang(context.faults), (fault) =>
      Effect.gen(function*() {
        const spec = context.specs[fault]
        yield* provoke(harness, fault)
        const { failure, parts } = yield* streamAttempt(harness.model, "Hello")
        if (failure === undefined) {
          return yield* fail(
            `fault ${fault} (${spec.description}): the stream ended without failing; it must fail with LlmError reason ${spec.expected}`
          )
        }
        yield* expectReason(failure, fault, spec, harness.model.provider)
        yield* ensure(parts.length === 0, () =>
          `fault ${fault} (${spec.description}): the stream emitted ${parts.length} part(s) before failing; a failure ` +
          "before the answer must come before any part (the retry layer retries a stream only before its first part)")
      }), { discard: true })
}

const interruption: Check = {
  id: "stream-interruption",
  title: "stream: interrupting the consumer ends the call promptly, and the backend sees the abort where observable",
  skipUnless: (faults) => (faults.includes("hang") ? undefined : "needs the hang fault"),
  run: (harness, context) =>
    expectInterruptible(harness, context, Stream.runDrain(harness.model.stream(LlmRequest.make("Hello"))), {
      what: "stream",
      fix: "stop reading (and close the connection or kill the subprocess) when the consumer is interrupted"
    })
}

/** The stream checks, in the order they run. */
export const all: ReadonlyArray<Check> = [shape, errors, interruption]
