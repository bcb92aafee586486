/**
 * The adapter and the whole default stack over `bench/openai-sse-mock-server.ts` (a child process:
 * 3 content chunks + usage + [DONE]), as `bench/stream-steps.ts --http` and `bench/stream-events.ts`
 * measure them: the models, their runtimes, the request, a check of the reply, a generate call.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, ManagedRuntime, Layer, Redacted } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as OpenAiCompatibleLanguageModel from "../../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
import * as Stack from "../../src/Stack.ts"
import { startMockServer } from "./mockServer.ts"
import { answer } from "./sseAnswer.ts"

export const sseModels = async () => {
  const { origin, child } = await startMockServer("./openai-sse-mock-server.ts")
  const baseUrl = `${origin}/v1`
  const request = LlmRequest.make("Name the longest river in Africa.")
  const expected = answer(3)
  const adapterRuntime = ManagedRuntime.make(NodeHttpClient.layerUndici)
  const adapter = await adapterRuntime.runPromise(
    OpenAiCompatibleLanguageModel.make({ baseUrl, apiKey: Redacted.make("test"), defaultModel: "gpt-4o-mini" })
  )
  const stackRuntime = ManagedRuntime.make(Stack.layer({
    provider: { provider: "openai-compatible", baseUrl, model: "gpt-4o-mini" },
    budget: { budget: { totalTokens: 1_000_000_000_000 } },
    resilience: { limits: { concurrency: 1_000, providerConcurrency: 1_000, rpm: 100_000_000 } }
  }).pipe(Layer.provide(NodeProviders.layer)))
  const stack = await stackRuntime.runPromise(LanguageModel.LanguageModel.use(Effect.succeed))
  const check = (text: string) => (text === expected ? Effect.void : Effect.die(new Error(`unexpected reply: ${text}`)))
  const generated = (model: LanguageModel.Service) => Effect.flatMap(model.generate(request), (response) => check(response.content))
  const dispose = async () => {
    await adapterRuntime.dispose()
    await stackRuntime.dispose()
    child.kill("SIGTERM")
  }
  return { request, adapterRuntime, adapter, stackRuntime, stack, check, generated, dispose }
}
