/**
 * The adapter against `@anthropic-ai/sdk` (a devDependency): the SDK's wire types fit our
 * Schemas (checked by tsc), the real SDK client reads from the fake server what our adapter reads
 * (so the fake speaks Anthropic's wire format), our request body is a valid `MessageCreateParams`,
 * and src/ imports the SDK only as types.
 */
import Anthropic from "@anthropic-ai/sdk"
import type { MessageCreateParamsNonStreaming, RawMessageStreamEvent } from "@anthropic-ai/sdk/resources/messages"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Redacted, Stream } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as LlmRequest from "../../../src/LlmRequest.ts"
import * as Message from "../../../src/Message.ts"
import * as AnthropicLanguageModel from "../../../src/providers/anthropic/AnthropicLanguageModel.ts"
import * as AnthropicSchema from "../../../src/providers/anthropic/internal/AnthropicSchema.ts"
import * as Fake from "./FakeAnthropicServer.ts"

type KnownFields<T> = T extends ReadonlyArray<infer E> ? ReadonlyArray<KnownFields<E>>
  : T extends object ? { readonly [K in keyof T as string extends K ? never : K]: KnownFields<T[K]> }
  : T

const sdkFor = (origin: string) => new Anthropic({ apiKey: Fake.KEY, baseURL: origin, maxRetries: 0 })

describe("AnthropicLanguageModel and @anthropic-ai/sdk", () => {
  it.live("the SDK reads the same message and usage as the adapter, and its Message type fits our Schema", () =>
    Effect.gen(function*() {
      const fake = yield* Fake.start((request) => Fake.ok(request))
      const ours = yield* (yield* AnthropicLanguageModel.make({ apiKey: Redacted.make(Fake.KEY), baseUrl: fake.origin }))
        .generate(LlmRequest.make("Name a river"))
      const sdk = sdkFor(fake.origin)
      const viaSdk = yield* Effect.promise(() =>
        sdk.messages.create({ model: "claude-haiku-4-5", max_tokens: 64, messages: [{ role: "user", content: "Name a river" }] })
      )
      assert.strictEqual(fake.requests[1]!.url, "/v1/messages")
      // The SDK's type fits our Schema's encoded side, index signatures aside (checked by tsc).
      const known: KnownFields<typeof AnthropicSchema.Message.Encoded> = viaSdk
      const decoded = AnthropicSchema.decodeMessage(known)
      assert.isTrue(Exit.isSuccess(decoded))
      const text = viaSdk.content.flatMap((block) => (block.type === "text" ? [block.text] : [])).join("")
      assert.strictEqual(text, ours.content)
      assert.deepStrictEqual(AnthropicLanguageModel.toUsage(viaSdk.usage), ours.usage)
      if (Exit.isSuccess(decoded)) assert.strictEqual(decoded.value.usage?.service_tier, "standard")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it.live("the SDK streams the fake's events as the adapter does, and our event Schemas decode the SDK's events", () =>
    Effect.gen(function*() {
      const chunks = [
        ...Fake.textStream().slice(0, -3),
        Fake.event("content_block_stop", { index: 0 }),
        Fake.event("content_block_start", { index: 1, content_block: { type: "tool_use", id: "toolu_1", name: "weather", input: {} } }),
        Fake.event("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: "{\"city\":\"Oslo\"}" } }),
        Fake.event("content_block_stop", { index: 1 }),
        Fake.event("message_delta", { delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 12 } }),
        Fake.event("message_stop")
      ]
      const fake = yield* Fake.start(() => Fake.sse(chunks))
      const parts = yield* Stream.runCollect(
        (yield* AnthropicLanguageModel.make({ apiKey: Redacted.make(Fake.KEY), baseUrl: fake.origin })).stream(LlmRequest.make("hi"))
      )
      const finish = parts.at(-1)
      assert.strictEqual(finish?.type, "finish")

      const sdk = sdkFor(fake.origin)
      const events = yield* Effect.promise(async () => {
        const out: Array<RawMessageStreamEvent> = []
        const stream = await sdk.messages.create({
          model: "claude-haiku-4-5",
          max_tokens: 64,
          messages: [{ role: "user", content: "hi" }],
          stream: true
        })
        for await (const event of stream) out.push(event)
        return out
      })
      assert.deepStrictEqual(events.map((event) => event.type), [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop"
      ])
      let sdkText = ""
      let sdkJson = ""
      for (const event of events) {
        // Each SDK-typed event fits our Schema of its type (checked by tsc) and decodes.
        switch (event.type) {
          case "message_start": {
            const known: KnownFields<typeof AnthropicSchema.MessageStart.Encoded> = event
            assert.isTrue(Exit.isSuccess(AnthropicSchema.streamEventDecoders.message_start!(known)))
            break
          }
          case "content_block_delta": {
            const known: KnownFields<typeof AnthropicSchema.ContentBlockDelta.Encoded> = event
            assert.isTrue(Exit.isSuccess(AnthropicSchema.streamEventDecoders.content_block_delta!(known)))
            if (event.delta.type === "text_delta") sdkText += event.delta.text
            if (event.delta.type === "input_json_delta") sdkJson += event.delta.partial_json
            break
          }
          case "message_delta": {
            const known: KnownFields<typeof AnthropicSchema.MessageDelta.Encoded> = event
            assert.isTrue(Exit.isSuccess(AnthropicSchema.streamEventDecoders.message_delta!(known)))
            break
          }
          default:
            assert.isTrue(Exit.isSuccess(AnthropicSchema.streamEventDecoders[event.type]!(event)))
        }
      }
      if (finish?.type === "finish") {
        assert.strictEqual(sdkText, finish.response.content)
        assert.deepStrictEqual(finish.response.parts?.at(-1), { type: "tool-call", id: "toolu_1", name: "weather", params: JSON.parse(sdkJson) })
      }
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))

  it("our request body is a valid MessageCreateParams of the SDK", () => {
    const wire = AnthropicLanguageModel.toWireRequest(
      LlmRequest.make({
        system: "Be brief",
        stop: ["END"],
        messages: [
          Message.user("Weather?"),
          Message.assistant([{ type: "tool-call", id: "toolu_1", name: "weather", params: { city: "Oslo" } }]),
          Message.tool([{ type: "tool-result", id: "toolu_1", name: "weather", result: { celsius: 3 } }])
        ]
      }),
      "claude-haiku-4-5",
      AnthropicLanguageModel.DEFAULT_MAX_TOKENS
    )
    const params: MessageCreateParamsNonStreaming = {
      model: wire.model,
      max_tokens: wire.max_tokens,
      messages: wire.messages.map((message) => ({
        role: message.role,
        content: typeof message.content === "string" ? message.content : [...message.content]
      })),
      ...(wire.system !== undefined ? { system: wire.system } : {}),
      ...(wire.stop_sequences !== undefined ? { stop_sequences: [...wire.stop_sequences] } : {})
    }
    assert.strictEqual(params.messages.length, 3)
    assert.strictEqual(params.max_tokens, 4096)
  })
})

describe("the @anthropic-ai/sdk package stays a devDependency", () => {
  it("src/ imports it only as types (erased at run time and absent from the declarations)", () => {
    const root = join(import.meta.dirname, "..", "..", "..", "src")
    const files = readdirSync(root, { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".ts"))
    const imports = files.flatMap((file) =>
      readFileSync(join(root, file), "utf8").split("\n").filter((line) => /from "@anthropic-ai\/sdk(\/|")/.test(line))
        .map((line) => ({ file, line }))
    )
    assert.isAbove(imports.length, 0)
    for (const { file, line } of imports) assert.match(line, /^import type /, `${file}: ${line}`)
  })
})
