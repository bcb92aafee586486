import { NodeFileSystem, NodeHttpClient, NodePath } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Redacted } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import OpenAI from "openai"
import type { ChatCompletion } from "openai/resources/chat/completions"
import * as LlmError from "../../../src/LlmError.ts"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as OpenAiLanguageModel from "../../../src/providers/openai/OpenAiLanguageModel.ts"
import * as OpenAiSchema from "../../../src/providers/openai/internal/OpenAiSchema.ts"
import * as FakeHttpServer from "../FakeHttpServer.ts"
import { completionBody, ok } from "./fakeOpenAi.ts"

type KnownFields<T> = T extends ReadonlyArray<infer E> ? ReadonlyArray<KnownFields<E>>
  : T extends object ? { readonly [K in keyof T as string extends K ? never : K]: KnownFields<T[K]> }
  : T

const KEY = "sk-test-secret-key-0123456789"

const model = (origin: string, extra: Partial<OpenAiLanguageModel.Options> = {}) =>
  OpenAiLanguageModel.make({
    provider: "openai",
    baseUrl: `${origin}/v1`,
    apiKey: Redacted.make(KEY),
    defaultModel: "gpt-4o-mini",
    maxTokensField: "max_completion_tokens",
    ...extra
  })

const failure = <A>(effect: Effect.Effect<A, LlmError.LlmError>) => Effect.flip(effect)

describe("OpenAiLanguageModel against a fake server", () => {
  it.live("maps the request and the response, and reads what the openai SDK reads", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const llm = yield* model(fake.origin)
      const response = yield* llm.generate(LlmRequest.make({
        prompt: "Name a river",
        system: "Be brief",
        maxTokens: 50,
        temperature: 0.2,
        topP: 0.9,
        stop: ["\n\n"]
      }))
      const sent = fake.requests[0]!
      assert.strictEqual(sent.method, "POST")
      assert.strictEqual(sent.url, "/v1/chat/completions")
      assert.strictEqual(sent.headers.authorization, `Bearer ${KEY}`)
      assert.deepStrictEqual(sent.body, {
        model: "gpt-4o-mini",
        messages: [{ role: "system", content: "Be brief" }, { role: "user", content: "Name a river" }],
        max_completion_tokens: 50,
        temperature: 0.2,
        top_p: 0.9,
        stop: ["\n\n"]
      })
      assert.strictEqual(response.content, "echo: Name a river")
      assert.deepStrictEqual(response.usage, {
        inputTokens: 21,
        outputTokens: 7,
        totalTokens: 28,
        cachedInputTokens: 5,
        reasoningTokens: 2
      })
      assert.strictEqual(response.finishReason, "stop")
      assert.strictEqual(response.rawFinishReason, "stop")
      assert.strictEqual(response.requestId, "req_test_123")
      assert.strictEqual(response.provider, "openai")
      assert.strictEqual(response.model, "gpt-4o-mini")
      assert.isAtLeast(response.latencyMs, 0)

      // The official SDK against the same fake reads the same content and usage.
      const sdk = new OpenAI({ baseURL: `${fake.origin}/v1`, apiKey: "test", maxRetries: 0 })
      const viaSdk = yield* Effect.promise(() =>
        sdk.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Name a river" }] })
      )
      assert.strictEqual(viaSdk.choices[0]!.message.content, response.content)
      assert.deepStrictEqual(OpenAiLanguageModel.toUsage(viaSdk.usage), response.usage)
      assert.strictEqual(fake.requests[1]!.url, "/v1/chat/completions")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("uses max_tokens where the flavour says so, and the request's model", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request))
      const llm = yield* model(fake.origin, { maxTokensField: "max_tokens" })
      const response = yield* llm.generate(LlmRequest.make({ prompt: "hi", model: "gpt-4.1-nano", maxTokens: 9 }))
      const body = fake.requests[0]!.body as Record<string, unknown>
      assert.strictEqual(body.max_tokens, 9)
      assert.isFalse("max_completion_tokens" in body)
      assert.strictEqual(body.model, "gpt-4.1-nano")
      assert.strictEqual(response.model, "gpt-4.1-nano")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("counts tokens locally (estimated) when the server reports no usage", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request, { usage: null }))
      const llm = yield* model(fake.origin)
      const response = yield* llm.generate(LlmRequest.make("Name a river"))
      assert.strictEqual(response.usage.estimated, true)
      assert.isAbove(response.usage.inputTokens, 0)
      assert.isAbove(response.usage.outputTokens, 0)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("maps finish reasons and keeps the raw value; filtered output with no content fails", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) =>
        ok(request, {
          choices: [{ index: 0, message: { role: "assistant", content: "cut" }, finish_reason: "length" }]
        })
      )
      const llm = yield* model(fake.origin)
      const cut = yield* llm.generate(LlmRequest.make("x"))
      assert.strictEqual(cut.finishReason, "length")
      assert.strictEqual(cut.rawFinishReason, "length")

      fake.setHandler((request) =>
        ok(request, { choices: [{ index: 0, message: { role: "assistant", content: null }, finish_reason: "content_filter" }] })
      )
      const error = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(error.reason._tag, "ContentFiltered")
      assert.isFalse(error.isRetryable)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("429 with Retry-After -> RateLimited with retryAfterMs, status and request id", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({
        status: 429,
        headers: { "retry-after": "2", "x-request-id": "req_429" },
        body: { error: { message: "Rate limit reached for requests", type: "requests", code: "rate_limit_exceeded" } }
      }))
      const llm = yield* model(fake.origin)
      const error = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(error.reason._tag, "RateLimited")
      assert.strictEqual(error.retryAfterMs, 2000)
      assert.strictEqual(error.status, 429)
      assert.strictEqual(error.requestId, "req_429")
      assert.strictEqual(error.model, "gpt-4o-mini")
      assert.isTrue(error.isRetryable)
      assert.strictEqual(fake.requests.length, 1) // no retry inside the adapter
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("500 -> ServerError, retryable, sent once", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ status: 500, body: { error: { message: "boom" } } }))
      const llm = yield* model(fake.origin)
      const error = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(error.reason._tag, "ServerError")
      assert.strictEqual(error.status, 500)
      assert.isTrue(error.isRetryable)
      assert.strictEqual(fake.requests.length, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("malformed JSON and a body that is not a completion -> ResponseMalformed", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ status: 200, body: "{\"choices\": [" }))
      const llm = yield* model(fake.origin)
      const notJson = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(notJson.reason._tag, "ResponseMalformed")
      fake.setHandler(() => ({ status: 200, body: { object: "chat.completion", choices: "nope" } }))
      const wrongShape = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(wrongShape.reason._tag, "ResponseMalformed")
      assert.isFalse(wrongShape.isRetryable)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a response slower than the timeout (options.timeout: 300ms) -> Timeout, and the request is abandoned", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ({ ...ok(request), delayMs: 5_000 }))
      const entry = yield* OpenAiLanguageModel.provider
      const llm = yield* entry.make({ baseUrl: `${fake.origin}/v1`, apiKey: Redacted.make(KEY), options: { timeout: "300ms" } })
      const error = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(error.reason._tag, "Timeout")
      assert.isTrue(error.isRetryable)
      assert.strictEqual(error.reason._tag === "Timeout" && error.reason.elapsedMs, 300)
      // On a loaded machine the timeout may fire before the request even arrives.
      if (fake.requests.length > 0) yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
    }).pipe(Effect.provide([NodeHttpClient.layerUndici, NodeFileSystem.layer, NodePath.layer])))

  it.live("a dropped connection and a refused connection -> Network", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ destroy: true }))
      const llm = yield* model(fake.origin)
      const dropped = yield* failure(llm.generate(LlmRequest.make("x")))
      assert.strictEqual(dropped.reason._tag, "Network")
      assert.isTrue(dropped.isRetryable)

      const closedOrigin = yield* Effect.scoped(Effect.map(FakeHttpServer.start(() => ({})), (server) => server.origin))
      const refused = yield* failure((yield* model(closedOrigin)).generate(LlmRequest.make("x")))
      assert.strictEqual(refused.reason._tag, "Network")
      assert.include(refused.message, "connection refused")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("interrupting the fiber aborts the request: the server sees the socket close", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({ hang: true }))
      const llm = yield* model(fake.origin)
      const fiber = yield* Effect.forkChild(llm.generate(LlmRequest.make("x")))
      yield* fake.nextRequest
      yield* Fiber.interrupt(fiber)
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(fake.requests.length, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("never puts the key or the prompt in an error", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({
        status: 401,
        body: { error: { message: `Incorrect API key provided: ${KEY}`, code: "invalid_api_key" } }
      }))
      const llm = yield* model(fake.origin)
      const error = yield* failure(llm.generate(LlmRequest.make("my secret prompt text")))
      assert.strictEqual(error.reason._tag, "Authentication")
      const printed = JSON.stringify(LlmError.toDocument(error)) + error.message
      assert.notInclude(printed, KEY)
      assert.notInclude(printed, "my secret prompt text")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("404 names the model", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start(() => ({
        status: 404,
        body: { error: { message: "The model `gpt-9` does not exist", code: "model_not_found" } }
      }))
      const llm = yield* model(fake.origin)
      const error = yield* failure(llm.generate(LlmRequest.make({ prompt: "x", model: "gpt-9" })))
      assert.strictEqual(error.reason._tag, "NotFound")
      assert.strictEqual(error.reason._tag === "NotFound" && error.reason.model, "gpt-9")
      assert.include(error.message, "\"gpt-9\"")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it("decodes an SDK-typed completion and keeps the fields it does not know", () => {
    const wire: ChatCompletion = {
      ...completionBody({ method: "POST", url: "/", headers: {}, body: { model: "gpt-4o-mini" }, rawBody: "" }),
      object: "chat.completion",
      choices: [{
        index: 0,
        message: { role: "assistant", content: "hi", refusal: null },
        logprobs: null,
        finish_reason: "stop"
      }]
    }
    // The SDK's wire type fits our Schema's encoded side, index signatures aside (checked by tsc).
    const known: KnownFields<typeof OpenAiSchema.ChatCompletion.Encoded> = wire
    const decoded = OpenAiSchema.decodeChatCompletion(known)
    assert.isTrue(Exit.isSuccess(decoded))
    if (Exit.isSuccess(decoded)) {
      assert.strictEqual(decoded.value.system_fingerprint, "fp_test")
      assert.strictEqual(decoded.value.choices[0]!.logprobs, null)
      assert.strictEqual(OpenAiLanguageModel.toUsage(decoded.value.usage)?.cachedInputTokens, 5)
    }
  })
})

describe("the openai package stays a devDependency", () => {
  it("src/ imports it only as types (erased at run time and absent from the declarations)", () => {
    const root = join(import.meta.dirname, "..", "..", "..", "src")
    const files = readdirSync(root, { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".ts"))
    const imports = files.flatMap((file) =>
      readFileSync(join(root, file), "utf8").split("\n").filter((line) => /from "openai(\/|")/.test(line))
        .map((line) => ({ file, line }))
    )
    assert.isAbove(imports.length, 0)
    for (const { file, line } of imports) assert.match(line, /^import type /, `${file}: ${line}`)
  })
})

describe("OpenAiLanguageModel: bounded responses", () => {
  const MiB = 1024 * 1024

  it.live("a 200 MB chunked body is not read whole: ResponseMalformed naming the cap, the connection closed", () =>
    Effect.gen(function*() {
      const chunk = "x".repeat(64 * 1024)
      const fake = yield* FakeHttpServer.start(() => ({ chunked: { chunk, count: 3_200 } }))
      const llm = yield* model(fake.origin, { maxResponseBytes: MiB })
      const error = yield* failure(llm.generate(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      assert.isFalse(error.isRetryable)
      assert.include(error.message, "larger than 1 MiB")
      assert.include(error.message, "maxResponseBytes")
      assert.include(error.message, "providers.openai.options.maxResponseBytes")
      // the server stopped soon after the cap: the client closed the connection
      yield* Effect.sleep("200 millis")
      assert.isBelow(fake.chunkedBytesSent(), 64 * MiB)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a body that declares a length over the cap fails without reading it", () =>
    Effect.gen(function*() {
      const fake = yield* FakeHttpServer.start((request) => ok(request, { padding: "p".repeat(10_000) }))
      const llm = yield* model(fake.origin, { maxResponseBytes: 1_000 })
      const error = yield* failure(llm.generate(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      assert.include(error.message, "(maxResponseBytes 1000)")
      // within the cap, the same answer is read as before
      const roomy = yield* model(fake.origin, { maxResponseBytes: 20_000 })
      assert.strictEqual((yield* roomy.generate(LlmRequest.make("hi"))).content, "echo: hi")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("a chunked body within the cap is read whole, one byte more is refused", () =>
    Effect.gen(function*() {
      const body = (request: FakeHttpServer.Recorded) => JSON.stringify(completionBody(request))
      const fake = yield* FakeHttpServer.start((request) => ({ chunked: { chunk: body(request), count: 1 } }))
      const size = Buffer.byteLength(body({ method: "POST", url: "", headers: {}, rawBody: "", body: {
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "hi" }]
      } }))
      const exact = yield* model(fake.origin, { maxResponseBytes: size })
      assert.strictEqual((yield* exact.generate(LlmRequest.make("hi"))).content, "echo: hi")
      const under = yield* model(fake.origin, { maxResponseBytes: size - 1 })
      assert.strictEqual((yield* failure(under.generate(LlmRequest.make("hi")))).reason._tag, "ResponseMalformed")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("maxResponseBytes is a provider option; a bad value is refused naming it", () =>
    Effect.gen(function*() {
      const chunk = "x".repeat(64 * 1024)
      const fake = yield* FakeHttpServer.start(() => ({ chunked: { chunk, count: 100 } }))
      const entry = yield* OpenAiLanguageModel.provider
      const made = yield* entry.make({
        baseUrl: `${fake.origin}/v1`,
        apiKey: Redacted.make(KEY),
        options: { maxResponseBytes: 100_000 }
      })
      const error = yield* failure(made.generate(LlmRequest.make("hi")))
      assert.strictEqual(error.reason._tag, "ResponseMalformed")
      assert.include(error.message, "maxResponseBytes 100000")
      const refused = yield* failure(entry.make({ apiKey: Redacted.make(KEY), options: { maxResponseBytes: -1 } }))
      assert.strictEqual(refused.reason._tag, "Configuration")
      assert.include(refused.message, "maxResponseBytes")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.provide(NodeFileSystem.layer), Effect.provide(NodePath.layer)))

  // The issue: a 256 KB reply of one repeated letter without usage blocked the process 32 s
  // (counting it), overrunning a 2 s attempt timeout that could not fire.
  it.live("a long reply without usage is counted with bounded work, marked estimated", () =>
    Effect.gen(function*() {
      let cjk = ""
      for (let index = 0; index < 100_000; index++) cjk += String.fromCharCode(0x4e00 + ((index * 7919) % 20_000))
      for (const content of ["a".repeat(1_000_000), cjk, " ".repeat(1_000_000)]) {
        const fake = yield* FakeHttpServer.start((request) => ({
          status: 200,
          body: { ...completionBody(request), usage: undefined, choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }] }
        }))
        const llm = yield* model(fake.origin, { timeout: "20 seconds" })
        // CPU time of this process (the fake server included), not wall time: a loaded machine
        // stretches the wall clock, not the work done (the count was 32 s of CPU).
        const cpuBefore = process.cpuUsage()
        const response = yield* llm.generate(LlmRequest.make("hi"))
        const cpu = process.cpuUsage(cpuBefore)
        assert.isBelow((cpu.user + cpu.system) / 1_000, 5_000, "CPU milliseconds to fetch and count the reply")
        assert.isTrue(response.usage.estimated)
        assert.isAtMost(response.usage.outputTokens, Buffer.byteLength(content, "utf8"))
        assert.isAbove(response.usage.outputTokens, 0)
      }
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})
