/**
 * The providers that ship with llm-connect, and a registry holding them.
 *
 * Every built-in provider registers here; third-party plugins register on the same registry
 * with `ProviderRegistry.register`.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import * as ProviderRegistry from "../ProviderRegistry.ts"
import * as MockLanguageModel from "./mock/MockLanguageModel.ts"

/**
 * Builds the list of built-in providers (some need services such as an `HttpClient`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.gen(function*() {
  const providers: Array<ProviderRegistry.Provider> = [MockLanguageModel.provider]
  return providers
})

/**
 * A `ProviderRegistry` holding every built-in provider.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = Layer.effect(
  ProviderRegistry.ProviderRegistry,
  Effect.flatMap(make, ProviderRegistry.make)
)
