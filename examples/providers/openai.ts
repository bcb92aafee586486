// OpenAI: one chat completion through llm-connect's OpenAI adapter (Effect HttpClient on undici).
// With OPENAI_API_KEY set it calls api.openai.com (OPENAI_BASE_URL overrides the base URL);
// without it, it says so and runs against the mock provider: npm run example examples/providers/openai.ts
// expect: OPENAI_API_KEY is not set: using the mock provider instead
// expect: tokens:
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Duration, Effect, Layer, Redacted } from "effect"
import { LanguageModel, MockLanguageModel, OpenAiLanguageModel } from "llm-connect"

const key = process.env.OPENAI_API_KEY

const model: Layer.Layer<LanguageModel.LanguageModel> = key !== undefined && key !== ""
  ? OpenAiLanguageModel.layer({
    provider: "openai",
    baseUrl: process.env.OPENAI_BASE_URL ?? OpenAiLanguageModel.DEFAULT_BASE_URL,
    apiKey: Redacted.make(key),
    defaultModel: OpenAiLanguageModel.DEFAULT_MODEL,
    maxTokensField: "max_completion_tokens",
    timeout: Duration.seconds(60)
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  : MockLanguageModel.layer()

const program = Effect.gen(function*() {
  if (key === undefined || key === "") yield* Console.log("OPENAI_API_KEY is not set: using the mock provider instead")
  const response = yield* LanguageModel.generate({ prompt: "Name three rivers in Europe", maxTokens: 60 })
  yield* Console.log(response.content)
  yield* Console.log(`tokens: ${response.usage.inputTokens} in, ${response.usage.outputTokens} out (${response.provider}/${response.model})`)
})

program.pipe(Effect.provide(model), NodeRuntime.runMain)
