/**
 * A model over the 0 ms OpenAI-compatible mock (`openai-mock-server.ts`, in a child process) for
 * the generate benchmarks that run one variant per process (`bench/stack-attribution.ts`,
 * `bench/stack-step-sites.ts`): the bare adapter (`undefined`) or a stack, the request they all
 * send, and a runner of its calls.
 */
import { Effect, Layer, ManagedRuntime, Scope } from "effect"
import type * as LanguageModel from "../../src/LanguageModel.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as NodeProviders from "../../src/node/NodeProviders.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Stack from "../../src/Stack.ts"
import { startMockServer } from "./mockServer.ts"

/** Limits, rate and budget the variants set, high enough never to bind. */
export const limits = { concurrency: 1_000, providerConcurrency: 1_000 }
export const rpm = 100_000_000
export const budget = { budget: { totalTokens: 1_000_000_000_000 } }

export interface MockModel {
  readonly model: LanguageModel.Service
  /** Runs `calls` generate calls, `concurrency` at once. */
  readonly run: (calls: number, concurrency: number) => Promise<void>
  /** Stops the mock and disposes the runtime. */
  readonly dispose: () => Promise<void>
}

/** `services`: a layer merged into the runtime's (e.g. a tracer). */
export const make = async (
  config: Omit<Stack.StackConfig, "provider"> | undefined,
  services: Layer.Layer<never> = Layer.empty
): Promise<MockModel> => {
  const { child: server, origin } = await startMockServer("./openai-mock-server.ts")
  const provider: ProviderRegistry.CreateOptions = { provider: "openai-compatible", baseUrl: `${origin}/v1`, model: "gpt-4o-mini" }
  const runtime = ManagedRuntime.make(Layer.merge(NodeProviders.layer, services))
  const scope = await runtime.runPromise(Scope.make())
  const made = config === undefined
    ? ProviderRegistry.create(provider)
    : Effect.map(Stack.make({ provider, ...config }), (factory) => factory.model)
  const model: LanguageModel.Service = await runtime.runPromise(made.pipe(Effect.provideService(Scope.Scope, scope), Effect.orDie))
  const request = LlmRequest.make({
    system: "You are terse.",
    messages: [{ role: "user", content: "Name the longest river in Africa." }]
  })
  return {
    model,
    run: (calls, concurrency) =>
      runtime.runPromise(Effect.forEach(Array.from({ length: calls }), () => model.generate(request), { concurrency, discard: true })),
    dispose: async () => {
      server.kill("SIGTERM")
      await runtime.dispose()
    }
  }
}
