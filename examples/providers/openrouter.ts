// OpenRouter: many providers' models with one key, provider-prefixed model names, attribution
// headers, and the cost OpenRouter reports kept as the call's cost.
// With OPENROUTER_API_KEY set it calls openrouter.ai; without it, it says so and runs against the
// mock provider: npm run example examples/providers/openrouter.ts
// expect: OPENROUTER_API_KEY is not set: using the mock provider instead
// expect: tokens:
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Redacted } from "effect"
import { LanguageModel, MockLanguageModel, OpenRouterLanguageModel } from "llm-connect"

const key = process.env.OPENROUTER_API_KEY

const model: Layer.Layer<LanguageModel.LanguageModel> = key !== undefined && key !== ""
  ? OpenRouterLanguageModel.layer({
    apiKey: Redacted.make(key),
    defaultModel: "openai/gpt-4o-mini",
    referer: "https://github.com/llm-connect/llm-connect",
    title: "llm-connect example"
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  : MockLanguageModel.layer()

const program = Effect.gen(function*() {
  if (key === undefined || key === "") yield* Console.log("OPENROUTER_API_KEY is not set: using the mock provider instead")
  const response = yield* LanguageModel.generate({ prompt: "Name three rivers in Asia", maxTokens: 60 })
  yield* Console.log(response.content)
  const cost = response.cost !== undefined ? `, $${response.cost.usd} (${response.cost.source})` : ""
  yield* Console.log(`tokens: ${response.usage.inputTokens} in, ${response.usage.outputTokens} out${cost} (${response.provider}/${response.model})`)
})

program.pipe(Effect.provide(model), NodeRuntime.runMain)
