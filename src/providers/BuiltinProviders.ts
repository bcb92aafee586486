/**
 * The providers that ship with llm-connect, and a registry holding them.
 *
 * Every built-in provider is defined with `ProviderKit` and registers here; third-party plugins
 * register on the same registry with `ProviderRegistry.register`. This module is
 * platform-neutral: {@link layer} needs the transport (`HttpClient`, `ChildProcessSpawner` for
 * Claude Code, `FileSystem`/`Path` for key files) from its caller. On Node, `NodeProviders.layer`
 * (`llm-connect/node`) provides them.
 *
 * @since 0.1.0
 */
import { Effect, Layer, type Schema } from "effect"
import * as ProviderRegistry from "../ProviderRegistry.ts"
import * as AnthropicLanguageModel from "./anthropic/AnthropicLanguageModel.ts"
import * as ClaudeCodeLanguageModel from "./claude-code/ClaudeCodeLanguageModel.ts"
import * as GeminiLanguageModel from "./gemini/GeminiLanguageModel.ts"
import * as MockLanguageModel from "./mock/MockLanguageModel.ts"
import * as OpenAiLanguageModel from "./openai/OpenAiLanguageModel.ts"
import * as OpenAiCompatibleLanguageModel from "./openai-compatible/OpenAiCompatibleLanguageModel.ts"
import * as OpenRouterLanguageModel from "./openrouter/OpenRouterLanguageModel.ts"

/**
 * Builds the list of built-in providers, capturing the services they need from the context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const providers: Array<ProviderRegistry.Provider> = [MockLanguageModel.provider]
  // HTTP providers: they capture the HttpClient (and FileSystem/Path for key files) of this context.
  providers.push(
    yield* OpenAiLanguageModel.provider,
    yield* OpenRouterLanguageModel.provider,
    yield* OpenAiCompatibleLanguageModel.provider,
    yield* GeminiLanguageModel.provider,
    yield* AnthropicLanguageModel.provider
  )
  // Claude Code runs the claude CLI: it captures the ChildProcessSpawner (and FileSystem/Path).
  providers.push(yield* ClaudeCodeLanguageModel.provider)
  return providers
})

/**
 * A `ProviderRegistry` holding every built-in provider, with the transport left to the caller:
 * `HttpClient`, `ChildProcessSpawner` (Claude Code) and `FileSystem`/`Path` (key files). Give a
 * fake or a differently configured client here; on Node, `NodeProviders.layer` wires Node's.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Layer.effect(ProviderRegistry.ProviderRegistry, Effect.flatMap(make, ProviderRegistry.make))

/**
 * The Schema of each built-in provider's `providers.<name>.options`, by provider name: for the
 * config file's JSON Schema and for documentation. A bad option fails `create` with a
 * `Configuration` error naming it.
 *
 * @since 0.1.0
 * @category options
 */
export const optionSchemas: Readonly<Record<string, Schema.Codec<unknown, unknown>>> = {
  [MockLanguageModel.PROVIDER]: MockLanguageModel.ProviderOptions,
  [OpenAiLanguageModel.PROVIDER]: OpenAiLanguageModel.ProviderOptions,
  [OpenRouterLanguageModel.PROVIDER]: OpenRouterLanguageModel.ProviderOptions,
  [OpenAiCompatibleLanguageModel.PROVIDER]: OpenAiLanguageModel.ProviderOptions,
  [GeminiLanguageModel.PROVIDER]: GeminiLanguageModel.ProviderOptions,
  [AnthropicLanguageModel.PROVIDER]: AnthropicLanguageModel.ProviderOptions,
  [ClaudeCodeLanguageModel.PROVIDER]: ClaudeCodeLanguageModel.ProviderOptions
}
