/**
 * Providers are plugins, registered by name.
 *
 * Built-in providers and third-party ones register the same way: a {@link Provider} gives a
 * `LanguageModel` from a {@link ProviderConfig}. Programs call {@link create} (an Effect that
 * returns the service) or {@link layerLanguageModel} (the same as a Layer). A plugin author who
 * does not use Effect registers a Promise-returning or plain synchronous function with
 * {@link fromPromise} / {@link fromSync} / {@link fromFunctions}; the registry adapts each into the
 * same service, and an exception thrown by a plugin becomes an `LlmError`, never a crash. A
 * plugin written with Effect is best defined with `ProviderKit.define` (typed options, the key
 * resolved once), as the built-in providers are.
 *
 * @since 0.1.0
 */
import { Clock, Context, Effect, Layer, Redacted, Ref } from "effect"
import * as LanguageModel from "./LanguageModel.ts"
import * as LlmError from "./LlmError.ts"
import type { LlmRequest } from "./LlmRequest.ts"
import type { FinishReason, LlmResponse } from "./LlmResponse.ts"
import * as Tokenizer from "./Tokenizer.ts"
import * as Usage from "./Usage.ts"

/**
 * What a provider is built from.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProviderConfig {
  readonly model?: string | undefined
  readonly apiKey?: Redacted.Redacted<string> | undefined
  readonly baseUrl?: string | undefined
  readonly systemPrompt?: string | undefined
  /** The file holding the key, looked at when neither `apiKey` nor the environment has one. */
  readonly keyFile?: string | undefined
  /**
   * Provider-specific settings (`providers.<name>.options`, e.g. the mock's reply and fault
   * script), decoded by the provider with its own Schema (`ProviderKit.define`).
   */
  readonly options?: Readonly<Record<string, unknown>> | undefined
}

/**
 * A registered provider.
 *
 * @since 0.1.0
 * @category models
 */
export interface Provider {
  readonly name: string
  readonly description: string
  readonly defaultModel: string
  /** Models known to the provider. */
  readonly models?: ReadonlyArray<string> | undefined
  /** When true, a model outside `models` is refused before any call. */
  readonly closedModelList?: boolean | undefined
  /** Environment variables read for the key, in order. */
  readonly keyEnv: ReadonlyArray<string>
  /** Whether a call needs a key (the mock and local servers do not). */
  readonly requiresKey: boolean
  /** Builds the service. */
  readonly make: (config: ProviderConfig) => Effect.Effect<LanguageModel.Service, LlmError.LlmError>
}

/**
 * The options of {@link create}.
 *
 * @since 0.1.0
 * @category models
 */
export interface CreateOptions extends ProviderConfig {
  readonly provider: string
}

/**
 * The registry.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly register: (provider: Provider) => Effect.Effect<void>
  readonly get: (name: string) => Effect.Effect<Provider, LlmError.LlmError>
  readonly list: Effect.Effect<ReadonlyArray<Provider>>
  readonly create: (options: CreateOptions) => Effect.Effect<LanguageModel.Service, LlmError.LlmError>
}

/**
 * The `ProviderRegistry` service.
 *
 * @since 0.1.0
 * @category services
 */
export class ProviderRegistry extends Context.Service<ProviderRegistry, Service>()("llm-connect/ProviderRegistry") {}

/**
 * Builds a registry holding the given providers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (providers: ReadonlyArray<Provider>): Effect.Effect<Service> =>
  Effect.gen(function*() {
    const ref = yield* Ref.make(new Map(providers.map((provider) => [provider.name, provider] as const)))
    const get = (name: string) =>
      Effect.flatMap(Ref.get(ref), (map) => {
        const found = map.get(name)
        if (found !== undefined) return Effect.succeed(found)
        const known = [...map.keys()].sort().join(", ")
        return Effect.fail(
          LlmError.make(
            name,
            new LlmError.Configuration({
              description: `unknown provider "${name}"; known providers: ${known}`,
              setting: "provider",
              fix: `use one of: ${known} (e.g. --provider mock)`
            })
          )
        )
      })
    const create = (options: CreateOptions) =>
      Effect.gen(function*() {
        const provider = yield* get(options.provider)
        if (
          options.model !== undefined && provider.closedModelList === true && provider.models !== undefined &&
          !provider.models.includes(options.model)
        ) {
          return yield* Effect.fail(
            LlmError.make(
              provider.name,
              new LlmError.NotFound({
                description: `model "${options.model}" is not offered by ${provider.name}; known models: ${
                  provider.models.join(", ")
                }`,
                model: options.model
              }),
              { model: options.model }
            )
          )
        }
        const service = yield* provider.make(options)
        return withDefaults(service, options)
      })
    return {
      register: (provider) => Ref.update(ref, (map) => new Map(map).set(provider.name, provider)),
      get,
      list: Effect.map(Ref.get(ref), (map) => [...map.values()]),
      create
    }
  })

/**
 * A registry with the given providers, as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (providers: ReadonlyArray<Provider>): Layer.Layer<ProviderRegistry> =>
  Layer.effect(ProviderRegistry, make(providers))

/**
 * Creates a `LanguageModel` from the registry in context.
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * const model = yield* ProviderRegistry.create({ provider: "mock", model: "mock-1" })
 */
export const create = (
  options: CreateOptions
): Effect.Effect<LanguageModel.Service, LlmError.LlmError, ProviderRegistry> =>
  ProviderRegistry.use((registry) => registry.create(options))

/**
 * {@link create} as a Layer providing `LanguageModel`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLanguageModel = (
  options: CreateOptions
): Layer.Layer<LanguageModel.LanguageModel, LlmError.LlmError, ProviderRegistry> =>
  Layer.effect(LanguageModel.LanguageModel, create(options))

// The config's model and system prompt apply to both paths (a request hook).
const withDefaults = (service: LanguageModel.Service, config: ProviderConfig): LanguageModel.Service => {
  const model = config.model
  const systemPrompt = config.systemPrompt
  if (model === undefined && systemPrompt === undefined) return service
  return LanguageModel.wrap(service, {
    request: (request) =>
      (request.model !== undefined || model === undefined) && (request.system !== undefined || systemPrompt === undefined)
        ? request
        : {
          ...request,
          ...(request.model === undefined && model !== undefined ? { model } : {}),
          ...(request.system === undefined && systemPrompt !== undefined ? { system: systemPrompt } : {})
        }
  }, { defaultModel: model ?? service.defaultModel })
}

// -----------------------------------------------------------------------------
// Plugins written without Effect
// -----------------------------------------------------------------------------

/**
 * What a plugin written without Effect returns: the content, and what it knows of the rest.
 * Missing usage is counted with the tokenizer (and marked `estimated`).
 *
 * @since 0.1.0
 * @category plugins
 */
export interface PluginResponse {
  readonly content: string
  readonly model?: string | undefined
  readonly usage?: { readonly inputTokens: number; readonly outputTokens: number } | undefined
  readonly finishReason?: FinishReason | undefined
  readonly requestId?: string | undefined
}

/**
 * The description of a plugin written without Effect.
 *
 * @since 0.1.0
 * @category plugins
 */
export interface PluginInfo {
  readonly name: string
  readonly description?: string | undefined
  readonly defaultModel: string
  readonly models?: ReadonlyArray<string> | undefined
  readonly keyEnv?: ReadonlyArray<string> | undefined
  readonly requiresKey?: boolean | undefined
}

/**
 * A plugin's functions: `generate` returns a Promise (it receives an `AbortSignal` that fires
 * when the call is interrupted), `generateSync` returns the response directly. Give either or
 * both; with both, the synchronous one is used.
 *
 * @since 0.1.0
 * @category plugins
 */
export interface PluginFunctions {
  readonly generate?: (
    request: LlmRequest,
    context: { readonly signal: AbortSignal; readonly config: ProviderConfig }
  ) => PromiseLike<PluginResponse>
  readonly generateSync?: (request: LlmRequest, context: { readonly config: ProviderConfig }) => PluginResponse
}

/**
 * Adapts a plugin written as Promise and/or plain functions into a {@link Provider}.
 *
 * @since 0.1.0
 * @category plugins
 */
export const fromFunctions = (info: PluginInfo, functions: PluginFunctions): Provider => {
  if (functions.generate === undefined && functions.generateSync === undefined) {
    throw new TypeError(`provider plugin "${info.name}" must give generate or generateSync`)
  }
  return {
    name: info.name,
    description: info.description ?? `${info.name} (plugin)`,
    defaultModel: info.defaultModel,
    models: info.models,
    keyEnv: info.keyEnv ?? [],
    requiresKey: info.requiresKey ?? false,
    make: (config) =>
      Effect.succeed(LanguageModel.make({
        provider: info.name,
        defaultModel: config.model ?? info.defaultModel,
        generate: (request) =>
          Effect.gen(function*() {
            const started = yield* Clock.currentTimeMillis
            const sync = functions.generateSync
            const asyncGenerate = functions.generate
            const result = sync !== undefined
              ? yield* Effect.try({
                try: () => sync(request, { config }),
                catch: (error) => pluginFailure(info.name, request, error)
              })
              : yield* Effect.tryPromise({
                try: (signal) => asyncGenerate!(request, { signal, config }),
                catch: (error) => pluginFailure(info.name, request, error)
              })
            const finished = yield* Clock.currentTimeMillis
            return yield* toResponse(info.name, request, config.model ?? info.defaultModel, result, finished - started)
          })
      }))
  }
}

/**
 * Adapts a Promise-returning plugin function.
 *
 * @since 0.1.0
 * @category plugins
 */
export const fromPromise = (info: PluginInfo, generate: NonNullable<PluginFunctions["generate"]>): Provider =>
  fromFunctions(info, { generate })

/**
 * Adapts a plain synchronous plugin function.
 *
 * @since 0.1.0
 * @category plugins
 */
export const fromSync = (info: PluginInfo, generateSync: NonNullable<PluginFunctions["generateSync"]>): Provider =>
  fromFunctions(info, { generateSync })

const pluginFailure = (provider: string, request: LlmRequest, error: unknown): LlmError.LlmError => {
  if (LlmError.isLlmError(error)) return error
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return LlmError.make(
    provider,
    new LlmError.Unknown({ description: `the provider plugin threw: ${truncate(text, 200)}` }),
    { model: request.model }
  )
}

const truncate = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max)}...`)

const toResponse = (
  provider: string,
  request: LlmRequest,
  defaultModel: string,
  result: unknown,
  latencyMs: number
): Effect.Effect<LlmResponse, LlmError.LlmError> => {
  if (typeof result !== "object" || result === null || typeof (result as PluginResponse).content !== "string") {
    return Effect.fail(
      LlmError.make(
        provider,
        new LlmError.ResponseMalformed({ description: "the provider plugin returned no { content: string }" })
      )
    )
  }
  const response = result as PluginResponse
  const usage = response.usage !== undefined
    ? Usage.make(response.usage)
    : Usage.make({
      inputTokens: Tokenizer.countRequest(request),
      outputTokens: Tokenizer.countText(response.content),
      estimated: true
    })
  return Effect.succeed({
    content: response.content,
    model: response.model ?? request.model ?? defaultModel,
    provider,
    usage,
    finishReason: response.finishReason ?? "stop",
    latencyMs,
    ...(response.requestId !== undefined ? { requestId: response.requestId } : {})
  })
}
