// Any OpenAI-compatible server (Ollama, vLLM, LM Studio): give its base URL, a key only if it
// wants one. With OPENAI_COMPATIBLE_BASE_URL set (e.g. http://localhost:11434/v1 for Ollama, and
// OPENAI_COMPATIBLE_MODEL, e.g. llama3.2) it calls that server; without it, it says so and runs
// against the mock provider: npm run example examples/providers/openai-compatible.ts
// expect: OPENAI_COMPATIBLE_BASE_URL is not set: using the mock provider instead
// expect: tokens:
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Redacted } from "effect"
import { LanguageModel, MockLanguageModel, OpenAiCompatibleLanguageModel } from "llm-connect"

const baseUrl = process.env.OPENAI_COMPATIBLE_BASE_URL
const key = process.env.OPENAI_COMPATIBLE_API_KEY

const model: Layer.Layer<LanguageModel.LanguageModel> = baseUrl !== undefined && baseUrl !== ""
  ? OpenAiCompatibleLanguageModel.layer({
    baseUrl,
    ...(key !== undefined && key !== "" ? { apiKey: Redacted.make(key) } : {}),
    defaultModel: process.env.OPENAI_COMPATIBLE_MODEL ?? OpenAiCompatibleLanguageModel.DEFAULT_MODEL
  }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  : MockLanguageModel.layer()

const program = Effect.gen(function*() {
  if (baseUrl === undefined || baseUrl === "") {
    yield* Console.log("OPENAI_COMPATIBLE_BASE_URL is not set: using the mock provider instead")
  }
  const response = yield* LanguageModel.generate({ prompt: "Name three rivers in Africa", maxTokens: 60 })
  yield* Console.log(response.content)
  const estimated = response.usage.estimated === true ? " (estimated locally)" : ""
  yield* Console.log(`tokens: ${response.usage.inputTokens} in, ${response.usage.outputTokens} out${estimated} (${response.provider}/${response.model})`)
})

program.pipe(Effect.provide(model), NodeRuntime.runMain)
