// Anthropic: the Messages API through llm-connect's own adapter (Effect HttpClient on undici),
// streamed: the text is printed as it arrives, then the usage (with the prompt-cache counts).
// With ANTHROPIC_API_KEY set it calls api.anthropic.com (ANTHROPIC_BASE_URL overrides the base URL,
// with or without /v1); without it, it says so and runs against the mock provider:
// npm run example examples/providers/anthropic.ts
// expect: ANTHROPIC_API_KEY is not set: using the mock provider instead
// expect: tokens:
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Duration, Effect, Layer, Redacted, Stream } from "effect"
import { AnthropicLanguageModel, LanguageModel, MockLanguageModel } from "llm-connect"

const key = process.env.ANTHROPIC_API_KEY

const model: Layer.Layer<LanguageModel.LanguageModel> = key !== undefined && key !== ""
  ? AnthropicLanguageModel.layer({
    apiKey: Redacted.make(key),
    baseUrl: process.env.ANTHROPIC_BASE_URL || AnthropicLanguageModel.DEFAULT_BASE_URL,
    defaultModel: AnthropicLanguageModel.DEFAULT_MODEL,
    timeout: Duration.seconds(60)
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  : MockLanguageModel.layer()

const program = Effect.gen(function*() {
  if (key === undefined || key === "") yield* Console.log("ANTHROPIC_API_KEY is not set: using the mock provider instead")
  yield* LanguageModel.stream({ system: "Answer in one line.", prompt: "Name three rivers in Africa", maxTokens: 60 }).pipe(
    Stream.runForEach((part) => {
      if (part.type === "text-delta") return Effect.sync(() => void process.stdout.write(part.text))
      if (part.type !== "finish") return Effect.void
      const { usage, provider, model } = part.response
      const cache = usage.cachedInputTokens !== undefined || usage.cacheWriteInputTokens !== undefined
        ? ` (cache: ${usage.cachedInputTokens ?? 0} read, ${usage.cacheWriteInputTokens ?? 0} written)`
        : ""
      return Console.log(`\ntokens: ${usage.inputTokens} in${cache}, ${usage.outputTokens} out (${provider}/${model})`)
    })
  )
})

program.pipe(Effect.provide(model), NodeRuntime.runMain)
