import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import type { LlmRequest } from "../../src/LlmRequest.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import { ProviderConformance } from "../../src/testing/index.ts"
import * as StreamPart from "../../src/StreamPart.ts"

type Fault = ProviderConformance.Fault
const allFaults = ProviderConformance.allFaults
const API_KEY = "sk-acme-0123456789abcdef"

/** How a test plugin misbehaves (a well-behaved plugin has none of these). */
interface Flaws {
  readonly retries?: number
  readonly ignoresAbort?: boolean
  readonly throwsPlainErrors?: boolean
  readonly leaksKey?: boolean
}

/**
 * A plugin written without Effect (a Promise-returning function), talking to an in-memory
 * backend that counts calls and aborts and can be told to fail the next call.
 */
const acmeSubject = (flaws: Flaws = {}): ProviderConformance.Subject<LlmError.LlmError> => ({
  name: Object.keys(flaws).length === 0 ? "acme" : `acme ${JSON.stringify(flaws)}`,
  faults: allFaults,
  apiKey: API_KEY,
  make: Effect.suspend(() => {
    const backend = { calls: 0, aborts: 0, next: [] as Array<Fault> }
    const fail = (reason: LlmError.LlmErrorReason, status?: number): never => {
      if (flaws.throwsPlainErrors === true) throw new Error(`HTTP ${status ?? "error"}`)
      throw LlmError.make("acme", reason, { status })
    }
    const answer = (fault: Fault | undefined, request: LlmRequest, signal: AbortSignal) => {
      switch (fault) {
        case undefined: {
          const words = "The river runs past the mill and on to the sea.".split(" ")
          const cut = request.maxTokens !== undefined && request.maxTokens < words.length
          return Promise.resolve({
            content: (cut ? words.slice(0, request.maxTokens) : words).join(" "),
            finishReason: cut ? "length" as const : "stop" as const
          })
        }
        case "rate-limited":
          return fail(new LlmError.RateLimited({ description: "slow down", retryAfterMs: 2000 }), 429)
        case "server-error":
          return fail(new LlmError.ServerError({ description: "internal error", status: 500 }), 500)
        case "unavailable":
          return fail(new LlmError.Unavailable({ description: "overloaded" }), 503)
        case "authentication":
          return fail(
            new LlmError.Authentication({
              description: flaws.leaksKey === true ? `the key ${API_KEY} was refused` : "the key was refused"
            }),
            401
          )
        case "invalid-request":
          return fail(new LlmError.InvalidRequest({ description: "bad request" }), 400)
        case "network":
          return fail(new LlmError.Network({ description: "connection reset" }))
        case "malformed":
          return fail(new LlmError.ResponseMalformed({ description: "not JSON" }))
        case "hang":
          return new Promise<never>((_, reject) => {
            if (flaws.ignoresAbort === true) return
            signal.addEventListener("abort", () => {
              backend.aborts += 1
              reject(new Error("aborted"))
            })
          })
      }
    }
    const provider = ProviderRegistry.fromPromise({ name: "acme", defaultModel: "acme-1" }, async (request, { signal }) => {
      for (let attempt = 0;; attempt++) {
        backend.calls += 1
        try {
          return await answer(backend.next.shift(), request, signal)
        } catch (error) {
          if (attempt >= (flaws.retries ?? 0)) throw error
        }
      }
    })
    return ProviderConformance.harnessFromProvider(provider, { apiKey: undefined }, {
      provoke: (fault) => Effect.sync(() => void backend.next.push(fault)),
      calls: Effect.sync(() => backend.calls),
      aborts: Effect.sync(() => backend.aborts)
    })
  })
})

/** The mock, wrapped so that its model misbehaves in the given way. */
const wrappedMock = (
  name: string,
  around: LanguageModel.GenerateHook
): ProviderConformance.Subject => {
  const mock = ProviderConformance.mockSubject()
  return {
    ...mock,
    name,
    // Only `generate` misbehaves: the stream check sees the mock's own stream.
    make: Effect.map(mock.make, (harness) => ({ ...harness, model: LanguageModel.wrap(harness.model, { generate: around, stream: "unchanged" }) }))
  }
}

/** The mock with its own `stream` built on its `generate` by `build`. */
const streamOf = (
  name: string,
  build: (generate: LanguageModel.Service["generate"]) => LanguageModel.Service["stream"]
): ProviderConformance.Subject => {
  const mock = ProviderConformance.mockSubject()
  return {
    ...mock,
    name,
    make: Effect.map(mock.make, (harness) => ({
      ...harness,
      model: LanguageModel.make({ ...harness.model, stream: build(harness.model.generate) })
    }))
  }
}

/** The mock with a `stream` built from its answers; `split` decides the deltas. */
const streamingMock = (name: string, split: (content: string) => ReadonlyArray<string>): ProviderConformance.Subject =>
  streamOf(name, (generate) => (request: LlmRequest) =>
    Stream.unwrap(Effect.map(generate(request), (response) =>
      Stream.fromIterable([...split(response.content).map(StreamPart.textDelta), StreamPart.finish(response)]))))

const failed = (report: ProviderConformance.Report) =>
  report.results.filter((result) => result.status === "failed").map((result) => result.id)

const detail = (report: ProviderConformance.Report, id: string) =>
  report.results.find((result) => result.id === id)?.detail ?? ""

describe("ProviderConformance", () => {
  describe("the mock provider, registered as vitest tests", () => {
    ProviderConformance.register(it, ProviderConformance.mockSubject())
  })

  it("allFaults lists every fault the suite describes", () => {
    assert.deepStrictEqual([...ProviderConformance.allFaults].sort(), Object.keys(ProviderConformance.faults).sort())
  })

  it.live("run: the mock passes every check that applies, and skips only secrets (it has no key)", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(ProviderConformance.mockSubject())
      assert.isTrue(report.ok, ProviderConformance.formatReport(report))
      assert.deepStrictEqual(
        report.results.map((result) => [result.id, result.status]),
        [
          ["responds", "passed"],
          ["usage", "passed"],
          ["finish-reason", "passed"],
          ["errors-typed", "passed"],
          ["no-retries", "passed"],
          ["interruption", "passed"],
          ["stream", "passed"],
          ["stream-errors", "passed"],
          ["stream-interruption", "passed"],
          ["secrets", "skipped"]
        ]
      )
      assert.include(ProviderConformance.formatReport(report), "provider conformance: mock: conforms")
    }))

  it.live("harnessFromLayer: any LanguageModel layer runs the checks that need no hooks", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run({
        name: "mock layer",
        make: ProviderConformance.harnessFromLayer(MockLanguageModel.layer({ reply: "The Rhine, the Danube and the Loire." }))
      })
      assert.deepStrictEqual(
        report.results.map((result) => [result.id, result.status]),
        [
          ["responds", "passed"],
          ["usage", "passed"],
          ["finish-reason", "passed"],
          ["errors-typed", "skipped"],
          ["no-retries", "skipped"],
          ["interruption", "skipped"],
          ["stream", "passed"],
          ["stream-errors", "skipped"],
          ["stream-interruption", "skipped"],
          ["secrets", "skipped"]
        ]
      )
    }))

  it.live("a well-behaved Promise plugin passes every check, including aborts and secrets", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(acmeSubject())
      assert.isTrue(report.ok, ProviderConformance.formatReport(report))
      assert.deepStrictEqual(
        report.results.filter((result) => result.status !== "passed").map((result) => result.id),
        [],
        ProviderConformance.formatReport(report)
      )
    }))

  it.live("a plugin that retries internally fails no-retries, saying how many calls one generate made", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(acmeSubject({ retries: 2 }))
      assert.isFalse(report.ok)
      assert.include(failed(report), "no-retries")
      assert.include(detail(report, "no-retries"), "succeeded after 2 calls reached the backend")
      assert.include(detail(report, "no-retries"), "retries internally")
    }))

  it.live("a model wrapped in a retry fails no-retries even though each call fails in the end", () =>
    Effect.gen(function*() {
      const retrying = wrappedMock("mock with retry inside", (request, next) =>
        next(request).pipe(Effect.retry({ times: 1, while: (error) => error.isRetryable })))
      const report = yield* ProviderConformance.run(retrying)
      assert.include(failed(report), "no-retries")
    }))

  it.live("inconsistent usage fails the usage check with the figures", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(
        wrappedMock("mock with bad totals", (request, next) =>
          Effect.map(next(request), (response) => ({
            ...response,
            usage: { ...response.usage, totalTokens: response.usage.totalTokens + 1 }
          })))
      )
      assert.deepStrictEqual(failed(report), ["usage"])
      assert.match(detail(report, "usage"), /usage\.totalTokens is \d+ but inputTokens \+ outputTokens is \d+/)
    }))

  it.live("a fixed usage figure fails the usage check", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(
        wrappedMock("mock with fixed usage", (request, next) =>
          Effect.map(next(request), (response) => ({
            ...response,
            usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15 }
          })))
      )
      assert.include(failed(report), "usage")
      assert.include(detail(report, "usage"), "must be the call's own")
    }))

  it.live("a plugin that throws plain errors fails errors-typed, naming the fault and the reason it got", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(acmeSubject({ throwsPlainErrors: true }))
      assert.include(failed(report), "errors-typed")
      assert.include(detail(report, "errors-typed"), "fault rate-limited (HTTP 429 with Retry-After: 2)")
      assert.include(detail(report, "errors-typed"), "expected reason RateLimited")
      assert.include(detail(report, "errors-typed"), "failed with reason Unknown")
    }))

  it.live("a plugin that ignores the AbortSignal fails interruption, of a call and of a stream", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(acmeSubject({ ignoresAbort: true }), { interruptWithin: "300 millis" })
      assert.deepStrictEqual(failed(report), ["interruption", "stream-interruption"])
      assert.include(detail(report, "interruption"), "never saw the abort")
      assert.include(detail(report, "stream-interruption"), "the stream was interrupted but the backend never saw the abort")
    }))

  it.live("a plugin that puts the key in an error message fails secrets", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(acmeSubject({ leaksKey: true }))
      assert.deepStrictEqual(failed(report), ["secrets"])
      assert.include(detail(report, "secrets"), "the API key appears in an error message")
      assert.notInclude(detail(report, "secrets"), API_KEY)
    }))

  it.live("a provider that logs its key at debug level, or puts it on a span, fails secrets", () =>
    Effect.gen(function*() {
      const logging = wrappedMock("mock that logs its key", (request, next) =>
        Effect.logDebug(`calling with key ${API_KEY}`).pipe(Effect.andThen(next(request))))
      const logged = yield* ProviderConformance.run({ ...logging, apiKey: API_KEY })
      assert.deepStrictEqual(failed(logged), ["secrets"])
      assert.include(detail(logged, "secrets"), "a log line or span")
      const tracing = wrappedMock("mock that traces its key", (request, next) =>
        next(request).pipe(Effect.withSpan("acme.call", { attributes: { authorization: `Bearer ${API_KEY}` } })))
      const traced = yield* ProviderConformance.run({ ...tracing, apiKey: API_KEY })
      assert.deepStrictEqual(failed(traced), ["secrets"])
    }))

  it.live("a provider that ignores maxTokens fails finish-reason, unless it warns", () =>
    Effect.gen(function*() {
      const ignoring = (warnings: ReadonlyArray<string>) =>
        wrappedMock("mock ignoring maxTokens", (request, next) => {
          const { maxTokens: _dropped, ...rest } = request
          return Effect.map(next(rest), (response) => ({ ...response, warnings }))
        })
      const silent = yield* ProviderConformance.run(ignoring([]))
      assert.deepStrictEqual(failed(silent), ["finish-reason"])
      assert.include(detail(silent, "finish-reason"), "maxTokens was 1 but usage.outputTokens is")
      const warned = yield* ProviderConformance.run(ignoring(["maxTokens is not supported and was ignored"]))
      assert.isTrue(warned.ok, ProviderConformance.formatReport(warned))
    }))

  it.live("a hanging provider fails its check at the check timeout instead of hanging the suite", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(
        wrappedMock("mock that never answers", () => Effect.never),
        { checkTimeout: "200 millis" }
      )
      assert.include(detail(report, "responds"), "did not finish within")
    }))

  it.live("a provider stuck in an uninterruptible call fails on time instead of holding the suite", () =>
    Effect.gen(function*() {
      const stuck = wrappedMock("mock with uninterruptible calls", (request, next) => Effect.uninterruptible(next(request)))
      const report = yield* ProviderConformance.run(stuck, { checkTimeout: "1 second", interruptWithin: "200 millis" })
      assert.deepStrictEqual(failed(report), ["interruption"])
      assert.include(detail(report, "interruption"), "did not end it within")
      const frozen = wrappedMock("mock that never answers, uninterruptibly", () => Effect.uninterruptible(Effect.never))
      const frozenReport = yield* ProviderConformance.run(frozen, { checkTimeout: "200 millis" })
      assert.include(detail(frozenReport, "responds"), "did not finish within")
    }))

  it.live("a streaming model passes the stream check; deltas that do not add up fail it", () =>
    Effect.gen(function*() {
      const words = (content: string) => content.split(/(?<= )/)
      const good = yield* ProviderConformance.run(streamingMock("mock streaming words", words))
      assert.isTrue(good.ok, ProviderConformance.formatReport(good))
      assert.deepStrictEqual(good.results.find((result) => result.id === "stream")?.status, "passed")
      const lossy = yield* ProviderConformance.run(streamingMock("mock losing a word", (content) => words(content).slice(1)))
      assert.deepStrictEqual(failed(lossy), ["stream"])
      assert.include(detail(lossy, "stream"), "the text deltas add up to")
    }))

  it.live("a stream that does not end with its finish part fails the stream check", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(
        streamOf("mock whose stream never finishes", (generate) => (request) =>
          Stream.unwrap(Effect.map(generate(request), (response) => Stream.make(StreamPart.textDelta(response.content)))))
      )
      assert.deepStrictEqual(failed(report), ["stream"])
      assert.include(detail(report, "stream"), "did not end with a finish part")
    }))

  it.live("a stream that emits a part before a fault it could have failed on first fails stream-errors", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(
        streamOf("mock streaming a greeting before the call", (generate) => (request) =>
          Stream.concat(
            Stream.make(StreamPart.textDelta("Hello! ")),
            Stream.unwrap(Effect.map(generate(request), (response) => Stream.fromIterable(StreamPart.fromResponse(response))))
          ))
      )
      assert.include(failed(report), "stream-errors")
      assert.include(detail(report, "stream-errors"), "the stream emitted 1 part(s) before failing")
    }))

  it.live("a stream that swallows a fault (ends instead of failing) fails stream-errors, naming the reason it must fail with", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(
        streamOf("mock whose stream ends quietly on errors", (generate) => (request) =>
          Stream.unwrap(Effect.map(generate(request), (response) => Stream.fromIterable(StreamPart.fromResponse(response)))).pipe(
            Stream.catch(() => Stream.empty)
          ))
      )
      assert.deepStrictEqual(failed(report), ["stream-errors"])
      assert.include(detail(report, "stream-errors"), "the stream ended without failing; it must fail with LlmError reason RateLimited")
    }))

  it.live("a stream its consumer cannot interrupt fails stream-interruption", () =>
    Effect.gen(function*() {
      const report = yield* ProviderConformance.run(
        streamOf("mock with an uninterruptible stream", (generate) => (request) =>
          Stream.unwrap(Effect.map(Effect.uninterruptible(generate(request)), (response) => Stream.fromIterable(StreamPart.fromResponse(response))))),
        { checkTimeout: "2 seconds", interruptWithin: "200 millis" }
      )
      assert.deepStrictEqual(failed(report), ["stream-interruption"])
      assert.include(detail(report, "stream-interruption"), "interrupting a hung stream did not end it within")
    }))

  it.live("assertConforms fails with one message listing every failed check", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderConformance.assertConforms(acmeSubject({ retries: 1, throwsPlainErrors: true })))
      assert.strictEqual(error._tag, "ConformanceError")
      assert.include(error.message, "DOES NOT CONFORM")
      assert.match(error.message, /failed +no-retries/)
      assert.match(error.message, /failed +errors-typed/)
      assert.match(error.message, /passed +usage/)
    }))
})
