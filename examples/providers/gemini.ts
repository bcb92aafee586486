// Google Gemini through the official @google/genai SDK (no SDK retries; interruption aborts).
// With GEMINI_API_KEY (or GOOGLE_API_KEY) set it calls Gemini; without it, it says so and runs
// against the mock provider: npm run example examples/providers/gemini.ts
// expect: GEMINI_API_KEY is not set: using the mock provider instead
// expect: tokens:
import { NodeRuntime } from "@effect/platform-node"
import { Console, Duration, Effect, Redacted } from "effect"
import type { Layer } from "effect"
import { GeminiLanguageModel, LanguageModel, MockLanguageModel } from "llm-connect"

const key = process.env.GEMINI_API_KEY || process.env.GOOGLE_API_KEY

const model: Layer.Layer<LanguageModel.LanguageModel> = key !== undefined && key !== ""
  ? GeminiLanguageModel.layer({ apiKey: Redacted.make(key), defaultModel: GeminiLanguageModel.DEFAULT_MODEL, timeout: Duration.seconds(60) })
  : MockLanguageModel.layer()

const program = Effect.gen(function*() {
  if (key === undefined || key === "") yield* Console.log("GEMINI_API_KEY is not set: using the mock provider instead")
  const response = yield* LanguageModel.generate({ system: "Answer in one line.", prompt: "Name three rivers in South America", maxTokens: 60 })
  yield* Console.log(response.content)
  const reasoning = response.usage.reasoningTokens !== undefined ? `, ${response.usage.reasoningTokens} thinking` : ""
  yield* Console.log(`tokens: ${response.usage.inputTokens} in, ${response.usage.outputTokens} out${reasoning} (${response.provider}/${response.model})`)
})

program.pipe(Effect.provide(model), NodeRuntime.runMain)
