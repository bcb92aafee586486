/**
 * Turns a resolved configuration into the `Stack` configuration every command builds its model
 * from: checks the provider is registered (naming where its name came from), resolves its key
 * (before any call, so a missing key is a usage error), and passes the mock its settings.
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Layer, Path } from "effect"
import type * as LanguageModel from "../LanguageModel.ts"
import * as LlmConnectConfig from "../LlmConnectConfig.ts"
import * as LlmError from "../LlmError.ts"
import * as ProviderKeys from "../ProviderKeys.ts"
import * as ProviderRegistry from "../ProviderRegistry.ts"
import * as ObservabilityConfig from "../observability/ObservabilityConfig.ts"
import * as Stack from "../Stack.ts"

/**
 * Builds the `StackConfig` of a resolved configuration.
 *
 * @since 0.1.0
 * @category constructors
 */
export const stackConfig = Effect.fn("ModelFromConfig.stackConfig")(function*(resolved: LlmConnectConfig.Resolved) {
  const { config, sources } = resolved
  const registry = yield* ProviderRegistry.ProviderRegistry
  const source = sources.provider
  const provider = yield* registry.get(config.provider).pipe(
    Effect.mapError((error) =>
      error.reason._tag === "Configuration" && source !== undefined && source._tag !== "Default"
        ? LlmError.make(
          error.provider,
          new LlmError.Configuration({
            ...error.reason,
            description: `${error.reason.description} (from ${LlmConnectConfig.describeSource(source)})`
          })
        )
        : error
    )
  )
  const settings = config.providers[provider.name] ?? {}
  const found = yield* ProviderKeys.resolve({ provider, explicit: settings.apiKey, keyFile: settings.keyFile })
  const model = LlmConnectConfig.modelFor(config)
  const baseUrl = config.baseUrl ?? settings.baseUrl
  const options: Stack.StackConfig = {
    provider: {
      provider: provider.name,
      ...(model !== undefined ? { model } : {}),
      ...(found !== undefined ? { apiKey: found.key } : {}),
      ...(baseUrl !== undefined ? { baseUrl } : {}),
      ...providerOptions(provider.name, config, settings)
    },
    ...(config.budget !== undefined ? { budget: { budget: config.budget, prices: config.prices } } : {}),
    observability: ObservabilityConfig.observabilityOptions(config),
    ...(config.pii !== undefined ? { pii: config.pii } : {}),
    resilience: {
      retry: config.retry,
      attemptTimeout: config.attemptTimeout,
      timeoutMs: config.timeoutMs,
      limits: config.limits,
      circuitBreaker: config.circuitBreaker,
      fallback: yield* fallbackCandidates(config)
    }
  }
  return options
})

/**
 * The `fallback:` candidates of a configuration, each with its provider's key and settings.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fallbackCandidates = (config: LlmConnectConfig.LlmConnectConfig) =>
  Effect.forEach(config.fallback ?? [], (entry) =>
    Effect.gen(function*() {
      const provider = yield* ProviderRegistry.ProviderRegistry.use((registry) => registry.get(entry.provider))
      const own = config.providers[provider.name] ?? {}
      const found = yield* ProviderKeys.resolve({ provider, explicit: own.apiKey, keyFile: own.keyFile })
      const model = entry.model ?? own.model
      const baseUrl = entry.baseUrl ?? own.baseUrl
      const candidate: ProviderRegistry.CreateOptions = {
        provider: provider.name,
        ...(model !== undefined ? { model } : {}),
        ...(found !== undefined ? { apiKey: found.key } : {}),
        ...(baseUrl !== undefined ? { baseUrl } : {}),
        ...providerOptions(provider.name, config, own)
      }
      return candidate
    }))

const providerOptions = (
  name: string,
  config: LlmConnectConfig.LlmConnectConfig,
  settings: LlmConnectConfig.ProviderSettings
): { readonly options?: Readonly<Record<string, unknown>> } => {
  const options = name === "mock"
    ? { ...settings.options, ...LlmConnectConfig.mockOptions(config) }
    : settings.options
  return options !== undefined && Object.keys(options).length > 0 ? { options } : {}
}

/**
 * The `LanguageModel` layer of a resolved configuration, built by `Stack.layer`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  resolved: LlmConnectConfig.Resolved
): Effect.Effect<
  Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError>,
  LlmError.LlmError,
  ProviderRegistry.ProviderRegistry | FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    const registry = yield* ProviderRegistry.ProviderRegistry
    const config = yield* stackConfig(resolved)
    return Stack.layer(config).pipe(
      Layer.provide(Layer.succeed(ProviderRegistry.ProviderRegistry, registry)),
      Layer.merge(ObservabilityConfig.loggingLayer(resolved.config)),
      Layer.merge(ObservabilityConfig.exportLayer)
    )
  })
