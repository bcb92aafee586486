/**
 * A planted API key and a marked prompt must not appear in any log line (at the most verbose
 * level), any error (message, JSON document) or any span, for calls that succeed and fail: with
 * the mock provider (every scripted fault) and with the OpenAI provider against a fake server.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Metric, Redacted, type Tracer } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as LlmMetrics from "../../src/observability/LlmMetrics.ts"
import * as Logging from "../../src/observability/Logging.ts"
import * as Observability from "../../src/observability/Observability.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"
import * as OpenAiLanguageModel from "../../src/providers/openai/OpenAiLanguageModel.ts"
import * as Stack from "../../src/Stack.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import { ok } from "../providers/openai/fakeOpenAi.ts"
import { recordingTracer, spanText } from "./helpers.ts"

const KEY = "sk-proj-PLANTEDsecretKEY0123456789abcdefXYZ"
const KEY_CORE = "PLANTEDsecretKEY"
const MARKER = "PROMPT-MARKER-5b1e9c"
const prompt = `Please summarise the file ${MARKER} in one line.`

let previousKey: string | undefined
beforeAll(() => {
  previousKey = process.env.OPENAI_API_KEY
  process.env.OPENAI_API_KEY = KEY
})
afterAll(() => {
  if (previousKey === undefined) delete process.env.OPENAI_API_KEY
  else process.env.OPENAI_API_KEY = previousKey
})

interface Captured {
  readonly lines: Array<string>
  readonly spans: Array<Tracer.Span>
  readonly errors: Array<LlmError.LlmError>
}

/** Runs calls at the most verbose level, capturing every log line, span and error. */
const capture = (calls: number, captured: Captured) =>
  Effect.gen(function*() {
    // A careless plugin might log the key; a config dump holds it as Redacted.
    yield* Effect.logDebug(`plugin: calling with Authorization: Bearer ${KEY}`)
    yield* Effect.logDebug("config", { apiKey: Redacted.make(KEY), provider: "openai" })
    for (let index = 0; index < calls; index++) {
      yield* LanguageModel.generate({ prompt, maxTokens: 40, system: `context ${MARKER}` }).pipe(
        Effect.tapError((error) => Effect.sync(() => captured.errors.push(error))),
        Effect.ignore
      )
    }
    yield* Effect.logDebug(yield* LlmMetrics.prometheusText())
  }).pipe(
    Effect.withTracer(recordingTracer(captured.spans)),
    Effect.provide(Logging.layerCollect(captured.lines, { level: "All" })),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

const assertNoSecrets = (captured: Captured) => {
  const texts = [
    ...captured.lines,
    ...captured.spans.map(spanText),
    ...captured.errors.flatMap((error) => [error.message, JSON.stringify(LlmError.toDocument(error)), JSON.stringify(error)])
  ]
  expect(texts.length).toBeGreaterThan(10)
  for (const text of texts) {
    expect(text).not.toContain(KEY_CORE)
    expect(text).not.toContain(MARKER)
  }
}

describe("secrets and prompts stay out of logs, errors and spans", () => {
  it.effect("mock provider, through the Stack, with every scripted fault", () =>
    Effect.gen(function*() {
      const captured: Captured = { lines: [], spans: [], errors: [] }
      const model = Stack.layer({
        provider: {
          provider: "mock",
          apiKey: Redacted.make(KEY),
          options: { faults: "ok,429:1s,500,503,auth,timeout,network,malformed,400,ok" }
        },
        // One attempt per call, so that each scripted fault reaches the caller.
        resilience: { retry: { maxAttempts: 1 } }
      }).pipe(Layer.provide(ProviderRegistry.layer([MockLanguageModel.provider])))
      yield* capture(10, captured).pipe(Effect.provide(model))
      expect(captured.errors.map((error) => error.reason._tag)).toEqual([
        "RateLimited", "ServerError", "Unavailable", "Authentication", "Timeout", "Network", "ResponseMalformed",
        "InvalidRequest"
      ])
      expect(captured.lines.filter((line) => line.includes("llm call")).length).toBe(10)
      expect(captured.spans.filter((span) => span.name === "chat mock-1").length).toBe(10)
      assertNoSecrets(captured)
    }))

  it.live("OpenAI provider against a fake server: success, 401, 429, 500, 400", () =>
    Effect.gen(function*() {
      const replies = [
        "ok",
        401,
        429,
        500,
        400,
        "ok"
      ] as const
      let index = 0
      const fake = yield* FakeHttpServer.start((request) => {
        const reply = replies[index++ % replies.length]
        if (reply === "ok") return ok(request)
        const message = reply === 401
          ? "Incorrect API key provided: sk-proj-****XYZ. You can find your API key at https://platform.openai.com."
          : reply === 429
          ? "Rate limit reached for gpt-4o-mini"
          : reply === 400
          ? "Invalid value for 'max_completion_tokens'"
          : "The server had an error while processing your request."
        return {
          status: reply,
          headers: reply === 429 ? { "retry-after": "1", "x-request-id": "req_err" } : { "x-request-id": "req_err" },
          body: { error: { message, type: "invalid_request_error", code: null } }
        }
      })
      const model = Observability.layer().pipe(
        Layer.provide(OpenAiLanguageModel.layer({
          provider: "openai",
          baseUrl: `${fake.origin}/v1`,
          apiKey: Redacted.make(KEY),
          defaultModel: "gpt-4o-mini"
        })),
        Layer.provide(NodeHttpClient.layerUndici)
      )
      const captured: Captured = { lines: [], spans: [], errors: [] }
      yield* capture(replies.length, captured).pipe(Effect.provide(model))
      // The key and the prompt really were sent: the test is not vacuous.
      expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`)
      expect(fake.requests[0]!.rawBody).toContain(MARKER)
      expect(captured.errors.map((error) => error.reason._tag)).toEqual([
        "Authentication", "RateLimited", "ServerError", "InvalidRequest"
      ])
      assertNoSecrets(captured)
    }))
})
