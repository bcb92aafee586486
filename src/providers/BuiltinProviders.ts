/**
 * The providers that ship with llm-connect, and a registry holding them.
 *
 * Every built-in provider registers here; third-party plugins register on the same registry
 * with `ProviderRegistry.register`.
 *
 * @since 0.1.0
 */
import { NodeChildProcessSpawner, NodeFileSystem, NodeHttpClient, NodePath } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as ProviderRegistry from "../ProviderRegistry.ts"
import * as ClaudeCodeLanguageModel from "./claude-code/ClaudeCodeLanguageModel.ts"
import * as GeminiLanguageModel from "./gemini/GeminiLanguageModel.ts"
import * as MockLanguageModel from "./mock/MockLanguageModel.ts"
import * as OpenAiLanguageModel from "./openai/OpenAiLanguageModel.ts"
import * as OpenAiCompatibleLanguageModel from "./openai-compatible/OpenAiCompatibleLanguageModel.ts"
import * as OpenRouterLanguageModel from "./openrouter/OpenRouterLanguageModel.ts"

/**
 * Builds the list of built-in providers (some need services such as an `HttpClient`).
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
    yield* GeminiLanguageModel.provider
  )
  // Claude Code runs the claude CLI: it captures the ChildProcessSpawner (and FileSystem/Path).
  providers.push(yield* ClaudeCodeLanguageModel.provider)
  return providers
})

/**
 * A `ProviderRegistry` holding every built-in provider, with the transport left to the caller
 * (`HttpClient`, `ChildProcessSpawner` for Claude Code, and `FileSystem`/`Path` for key files):
 * tests give a fake or a differently configured client here.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNoDeps = Layer.effect(
  ProviderRegistry.ProviderRegistry,
  Effect.flatMap(make, ProviderRegistry.make)
)

/**
 * A `ProviderRegistry` holding every built-in provider, on Node's transport:
 * `NodeHttpClient.layerUndici` (the least client CPU per call, see docs/performance.md) and the
 * Node file system for key files.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = layerNoDeps.pipe(
  Layer.provide([
    NodeHttpClient.layerUndici,
    NodeChildProcessSpawner.layer.pipe(Layer.provide([NodeFileSystem.layer, NodePath.layer])),
    NodeFileSystem.layer,
    NodePath.layer
  ])
)
