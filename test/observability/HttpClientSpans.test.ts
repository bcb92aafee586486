/**
 * Effect's HTTP client span for a provider's request follows the call's own spans (ADR 0062):
 * made, with its trace headers sent to the provider, when the observability layer makes a span
 * for the call (a tracer installed, or `spans: true`); not made, and no trace header sent, when
 * the call makes none (no tracer installed, or `spans: false`). A real openai-compatible adapter
 * over undici against a fake server on 127.0.0.1:0.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream, type Tracer } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as Observability from "../../src/observability/Observability.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import { ok } from "../providers/openai/fakeOpenAi.ts"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"
import { recordingTracer } from "./helpers.ts"

const modelOver = (origin: string, spans?: boolean | "auto") =>
  Observability.layer(spans === undefined ? {} : { spans }).pipe(
    Layer.provide(ProviderRegistry.layerLanguageModel({ provider: "openai-compatible", baseUrl: `${origin}/v1`, model: "m" })),
    Layer.provide(NodeProviders.layer)
  )

const HTTP_SPAN = /^http\.client|^POST/

describe("Effect's HTTP client span under the observability layer", () => {
  it.live("no tracer installed: the call makes no span, the provider's request carries no trace header", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const response = yield* LanguageModel.generate({ prompt: "hello" }).pipe(Effect.provide(modelOver(fake.origin)))
      assert.strictEqual(response.content, "echo: hello")
      assert.strictEqual(fake.requests.length, 1)
      assert.isUndefined(fake.requests[0]!.headers.traceparent)
      assert.isUndefined(fake.requests[0]!.headers.b3)
    }))

  it.live("a tracer installed: the HTTP client span is the call span's child and its trace reaches the provider", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const spans: Array<Tracer.Span> = []
      yield* LanguageModel.generate({ prompt: "hello" }).pipe(
        Effect.provide(modelOver(fake.origin)),
        Effect.withTracer(recordingTracer(spans))
      )
      const call = spans.find((span) => span.name === "chat m")
      const http = spans.find((span) => HTTP_SPAN.test(span.name))
      assert.isDefined(call)
      assert.isDefined(http)
      assert.strictEqual(http!.parent._tag === "Some" ? http!.parent.value.spanId : undefined, call!.spanId)
      const traceparent = fake.requests[0]!.headers.traceparent
      assert.isDefined(traceparent)
      assert.include(traceparent!, call!.traceId)
    }))

  it.live("a tracer installed but spans: false: neither the call's span nor the HTTP client's", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const spans: Array<Tracer.Span> = []
      yield* LanguageModel.generate({ prompt: "hello" }).pipe(
        Effect.provide(modelOver(fake.origin, false)),
        Effect.withTracer(recordingTracer(spans))
      )
      // (the model's construction may make spans of its own, e.g. the key lookup: none of the call's)
      assert.isFalse(spans.some((span) => span.name === "chat m" || HTTP_SPAN.test(span.name)))
      assert.isTrue(spans.every((span) => span.name.startsWith("ProviderKeys.")))
      assert.isUndefined(fake.requests[0]!.headers.traceparent)
    }))

  it.live("a streamed call follows the same rule: no trace header without a tracer, a child span with one", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start(() => Fake.sse(Fake.textStream()))
      const model = modelOver(fake.origin)
      const text = (parts: ReadonlyArray<{ readonly type: string; readonly text?: string }>) =>
        parts.flatMap((part) => part.type === "text-delta" && part.text !== undefined ? [part.text] : []).join("")
      const plain = yield* LanguageModel.stream({ prompt: "hello" }).pipe(Stream.runCollect, Effect.provide(model))
      assert.strictEqual(text(plain), "Hello, world")
      assert.isUndefined(fake.requests[0]!.headers.traceparent)

      const spans: Array<Tracer.Span> = []
      yield* LanguageModel.stream({ prompt: "hello" }).pipe(
        Stream.runCollect,
        Effect.provide(model),
        Effect.withTracer(recordingTracer(spans))
      )
      const call = spans.find((span) => span.name === "chat m")
      const http = spans.find((span) => HTTP_SPAN.test(span.name))
      assert.isDefined(call)
      assert.isDefined(http)
      assert.include(fake.requests[1]!.headers.traceparent ?? "", call!.traceId)
    }))
})
