/**
 * The in-process provider of the stack benchmarks (bench/stack-async.ts, bench/stream-async.ts,
 * bench/stream-steps.ts) and their set-up: a provider named `async` that answers, or streams its
 * parts, from `setImmediate` (as one read of a socket would bring them) with 0 ms latency, the
 * limits that never make a call wait, and the runtime that builds the bare provider or a stack
 * over it for each variant.
 */
import { Effect, ManagedRuntime, Scope, Stream } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import type { LlmResponse } from "../../src/LlmResponse.ts"
import * as ProviderRegistry from "../../src/ProviderRegistry.ts"
import * as Stack from "../../src/Stack.ts"
import * as StreamPart from "../../src/StreamPart.ts"
import * as Usage from "../../src/Usage.ts"

/** The chunk count of a streamed answer asked with the request tag `size: "many"` (else 3). */
export const MANY = 51

/** The text deltas of a streamed answer of `chunks` chunks. */
export const pieces = (chunks: number): ReadonlyArray<string> => Array.from({ length: chunks }, (_, index) => `word${index} `)

/** The parts of a streamed answer of `chunks` text deltas and its finish part. */
export const partsOf = (model: string, chunks: number): ReadonlyArray<StreamPart.StreamPart> => {
  const texts = pieces(chunks)
  const response: LlmResponse = {
    content: texts.join(""),
    model,
    provider: "async",
    usage: Usage.make({ inputTokens: 21, outputTokens: chunks }),
    finishReason: "stop",
    latencyMs: 0
  }
  return [...texts.map((text) => StreamPart.textDelta(text)), StreamPart.finish(response)]
}

const answer = (model: string): LlmResponse => ({
  content: "The Nile is the longest river in Africa.",
  model,
  provider: "async",
  usage: Usage.make({ inputTokens: 21, outputTokens: 9 }),
  finishReason: "stop",
  latencyMs: 0
})

/**
 * The `async` provider. `generate` answers from `setImmediate` (after telling `onGenerate` the
 * effect steps the calling fiber ran since it last resumed); `stream` brings 3 text deltas and the
 * finish part (51 with the request tag `size: "many"`) together from `setImmediate`, as one socket
 * read brings a short answer.
 */
export const asyncProvider = (onGenerate?: (currentOpCount: number) => void): ProviderRegistry.Provider => ({
  name: "async",
  description: "answers and streams from setImmediate",
  defaultModel: "gpt-4o-mini",
  keyEnv: [],
  requiresKey: false,
  make: (config) => {
    const model = config.model ?? "gpt-4o-mini"
    const arrive = (parts: ReadonlyArray<StreamPart.StreamPart>) =>
      Effect.callback<ReadonlyArray<StreamPart.StreamPart>>((resume) => {
        const handle = setImmediate(() => resume(Effect.succeed(parts)))
        return Effect.sync(() => clearImmediate(handle))
      })
    const few = arrive(partsOf(model, 3))
    const many = arrive(partsOf(model, MANY))
    return Effect.succeed(LanguageModel.make({
      provider: "async",
      defaultModel: model,
      generate: () =>
        Effect.withFiber((fiber) => {
          onGenerate?.((fiber as unknown as { readonly currentOpCount: number }).currentOpCount)
          return Effect.callback<LlmResponse>((resume) => {
            const handle = setImmediate(() => resume(Effect.succeed(answer(model))))
            return Effect.sync(() => clearImmediate(handle))
          })
        }),
      stream: (request) => Stream.flatMap(Stream.fromEffect(request.metadata?.tags?.["size"] === "many" ? many : few), Stream.fromArray)
    }))
  }
})

/** Concurrency limits high enough never to make a call wait. */
export const limits = { concurrency: 1_000, providerConcurrency: 1_000 }
/** A requests-per-minute limit high enough never to make a call wait. */
export const rpm = 100_000_000
/** A token budget high enough never to refuse a call. */
export const budget = { budget: { totalTokens: 1_000_000_000_000 } }

/** A variant: its row's name and the stack over the provider (`undefined`: the bare provider). */
export type Variant = readonly [string, Omit<Stack.StackConfig, "provider"> | undefined]

/** The variants of the generate benchmarks (bench/stack-async.ts, bench/stack-overlays.ts). */
export const generateVariants: ReadonlyArray<Variant> = [
  ["bare provider", undefined],
  ["stack without observability (retry)", { observability: { enabled: false } }],
  ["default stack (observability, retry)", {}],
  ["+ concurrency limits", { resilience: { limits } }],
  ["+ rate limit (rpm)", { resilience: { limits: { ...limits, rpm } } }],
  ["+ budget = whole stack", { budget, resilience: { limits: { ...limits, rpm } } }],
  ["whole + attempt timeout 2m", { budget, resilience: { limits: { ...limits, rpm }, attemptTimeout: "2m" } }]
]

/** The variants of the streaming benchmarks (bench/stream-async.ts, bench/stream-steps.ts). */
export const streamVariants: ReadonlyArray<Variant> = [
  ["bare provider", undefined],
  ["stack without observability (retry)", { observability: { enabled: false } }],
  ["default stack (observability, retry)", {}],
  ["+ limits and rpm", { resilience: { limits: { ...limits, rpm } } }],
  ["+ budget = whole stack", { budget, resilience: { limits: { ...limits, rpm } } }],
  ["whole + timeouts (attempt 2m, idle 60s)", {
    budget,
    resilience: { limits: { ...limits, rpm }, attemptTimeout: "2m", streamIdleTimeout: "60s" }
  }]
]

/**
 * A runtime with the provider registered, and `model(config)`: the bare provider (`undefined`)
 * or the stack `Stack.make` builds over it, alive until the runtime is disposed.
 */
export const inProcess = async (provider: ProviderRegistry.Provider) => {
  const runtime = ManagedRuntime.make(ProviderRegistry.layer([provider]))
  const scope = await runtime.runPromise(Scope.make())
  const options = { provider: provider.name, model: "gpt-4o-mini" }
  const model = (config: Variant[1]): Promise<LanguageModel.Service> => {
    const made = config === undefined
      ? ProviderRegistry.create(options)
      : Effect.map(Stack.make({ provider: options, ...config }), (factory) => factory.model)
    return runtime.runPromise(made.pipe(Effect.provideService(Scope.Scope, scope), Effect.orDie))
  }
  return { runtime, model }
}
