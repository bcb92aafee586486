/**
 * The provider conformance suite (src/testing/ProviderConformance.ts) against each HTTP
 * adapter, each talking to a fake server that can be told to fail its next request.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted, type Scope } from "effect"
import type { HttpClient } from "effect/http"
import type { LanguageModel } from "../../src/LanguageModel.ts"
import * as AnthropicLanguageModel from "../../src/providers/anthropic/AnthropicLanguageModel.ts"
import * as OpenAiCompatibleLanguageModel from "../../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
import * as OpenAiLanguageModel from "../../src/providers/openai/OpenAiLanguageModel.ts"
import * as OpenRouterLanguageModel from "../../src/providers/openrouter/OpenRouterLanguageModel.ts"
import { ProviderConformance } from "../../src/testing/index.ts"
import * as Tokenizer from "../../src/Tokenizer.ts"
import * as FakeAnthropicServer from "./anthropic/FakeAnthropicServer.ts"
import * as FakeHttpServer from "./FakeHttpServer.ts"

type Fault = ProviderConformance.Fault
const allFaults = Object.keys(ProviderConformance.faults) as ReadonlyArray<Fault>
const KEY = "sk-conformance-0123456789abcdef"
const WORDS = "The river runs past the old mill and on to the sea".split(" ")

interface Answer {
  readonly text: string
  readonly truncated: boolean
  readonly inputTokens: number
}

/** What the fake "model" answers: the stock sentence, cut to maxTokens words. */
const answer = (prompt: string, maxTokens: number | undefined): Answer => {
  const truncated = maxTokens !== undefined && maxTokens < WORDS.length
  return {
    text: (truncated ? WORDS.slice(0, maxTokens) : WORDS).join(" "),
    truncated,
    inputTokens: Tokenizer.countText(prompt) + 3
  }
}

const faultReply = (fault: Fault): FakeHttpServer.Reply => {
  const status = ProviderConformance.faults[fault].httpStatus
  switch (fault) {
    case "hang":
      return { hang: true }
    case "network":
      return { destroy: true }
    case "malformed":
      return { status: 200, body: "<html>not json</html>" }
    default:
      return {
        status: status!,
        headers: fault === "rate-limited" ? { "retry-after": "2" } : {},
        body: { error: { message: `scripted ${fault}`, type: "test" } }
      }
  }
}

/** A harness: a fresh fake OpenAI-protocol server whose next replies can be scripted to fail. */
const subject = (
  name: string,
  build: (origin: string) => Effect.Effect<LanguageModel["Service"], never, Scope.Scope>
): ProviderConformance.Subject => ({
  name,
  faults: allFaults,
  apiKey: KEY,
  make: Effect.gen(function*() {
    const pending: Array<Fault> = []
    const fake = yield* FakeHttpServer.start((request) => {
      const fault = pending.shift()
      if (fault !== undefined) return faultReply(fault)
      const body = request.body as {
        messages: Array<{ content: string }>
        max_tokens?: number
        max_completion_tokens?: number
        stream?: boolean
      }
      const prompt = body.messages.map((message) => message.content).join("\n")
      const out = answer(prompt, body.max_tokens ?? body.max_completion_tokens)
      const outputTokens = out.text.split(" ").length
      const usage = { prompt_tokens: out.inputTokens, completion_tokens: outputTokens, total_tokens: out.inputTokens + outputTokens }
      if (body.stream === true) {
        // The answer as OpenAI streams it: a delta per word, the finish reason, the usage, [DONE].
        const chunk = (fields: Record<string, unknown>) =>
          `data: ${JSON.stringify({ id: "chatcmpl-conf", object: "chat.completion.chunk", model: "served-model", ...fields })}\n\n`
        const events = [
          ...out.text.split(/(?<= )/).map((text) => chunk({ choices: [{ index: 0, delta: { content: text }, finish_reason: null }] })),
          chunk({ choices: [{ index: 0, delta: {}, finish_reason: out.truncated ? "length" : "stop" }] }),
          chunk({ choices: [], usage }),
          "data: [DONE]\n\n"
        ]
        return { headers: { "content-type": "text/event-stream", "x-request-id": "req_conformance" }, body: events.join("") }
      }
      return {
        headers: { "x-request-id": "req_conformance" },
        body: {
          id: "chatcmpl-conf",
          object: "chat.completion",
          model: "served-model",
          choices: [{ index: 0, message: { role: "assistant", content: out.text }, finish_reason: out.truncated ? "length" : "stop" }],
          usage
        }
      }
    })
    const model = yield* build(fake.origin)
    return {
      model,
      provoke: (fault: Fault) => Effect.sync(() => void pending.push(fault)),
      calls: Effect.sync(() => fake.requests.length),
      aborts: fake.abandonedTotal
    }
  })
})

/** Builds the model on an undici client that lives as long as the check's scope. */
const withUndici = (build: Effect.Effect<LanguageModel["Service"], never, HttpClient.HttpClient>) =>
  Effect.flatMap(Layer.build(NodeHttpClient.layerUndici), (context) => Effect.provide(build, context))

describe("conformance: openai", () =>
  ProviderConformance.register(it, subject("openai", (origin) =>
    withUndici(OpenAiLanguageModel.make({
      provider: "openai",
      baseUrl: `${origin}/v1`,
      apiKey: Redacted.make(KEY),
      defaultModel: OpenAiLanguageModel.DEFAULT_MODEL,
      maxTokensField: "max_completion_tokens"
    })))))

describe("conformance: openrouter", () =>
  ProviderConformance.register(it, subject("openrouter", (origin) =>
    withUndici(OpenRouterLanguageModel.make({ baseUrl: `${origin}/api/v1`, apiKey: Redacted.make(KEY), title: "conformance" })))))

describe("conformance: openai-compatible", () =>
  ProviderConformance.register(it, subject("openai-compatible", (origin) =>
    withUndici(OpenAiCompatibleLanguageModel.make({ baseUrl: `${origin}/v1`, apiKey: Redacted.make(KEY) })))))

const anthropicErrorTypes: Record<number, string> = {
  429: "rate_limit_error",
  500: "api_error",
  503: "overloaded_error",
  401: "authentication_error",
  400: "invalid_request_error"
}

/** The anthropic harness: a fake Messages API answering JSON, or SSE when the body asks to stream. */
const anthropicSubject: ProviderConformance.Subject = {
  name: "anthropic",
  faults: allFaults,
  apiKey: KEY,
  make: Effect.gen(function*() {
    const pending: Array<Fault> = []
    const fake = yield* FakeAnthropicServer.start((request): FakeAnthropicServer.Reply => {
      const fault = pending.shift()
      if (fault !== undefined) {
        const status = ProviderConformance.faults[fault].httpStatus
        switch (fault) {
          case "hang":
            return { _tag: "Hang" }
          case "network":
            return { _tag: "Destroy" }
          case "malformed":
            return { _tag: "Json", body: "<html>not json</html>" }
          default:
            return FakeAnthropicServer.apiError(
              status!,
              anthropicErrorTypes[status!] ?? "api_error",
              `scripted ${fault}`,
              fault === "rate-limited" ? { "retry-after": "2" } : {}
            )
        }
      }
      const body = request.body as { messages: Array<{ content: string }>; max_tokens: number; stream?: boolean }
      const out = answer(body.messages.map((message) => message.content).join("\n"), body.max_tokens)
      const outputTokens = out.text.split(" ").length
      const stopReason = out.truncated ? "max_tokens" : "end_turn"
      if (body.stream === true) {
        return FakeAnthropicServer.sse(FakeAnthropicServer.textStream({
          texts: out.text.split(/(?= )/),
          startUsage: { input_tokens: out.inputTokens, output_tokens: 1 },
          deltaUsage: { output_tokens: outputTokens },
          stopReason
        }))
      }
      return FakeAnthropicServer.ok(request, {
        content: [{ type: "text", text: out.text }],
        stop_reason: stopReason,
        usage: { input_tokens: out.inputTokens, output_tokens: outputTokens }
      })
    })
    const model = yield* withUndici(AnthropicLanguageModel.make({ apiKey: Redacted.make(KEY), baseUrl: fake.origin }))
    return {
      model,
      provoke: (fault: Fault) => Effect.sync(() => void pending.push(fault)),
      calls: Effect.sync(() => fake.requests.length),
      aborts: fake.abandonedTotal
    }
  })
}

describe("conformance: anthropic", () => ProviderConformance.register(it, anthropicSubject))
