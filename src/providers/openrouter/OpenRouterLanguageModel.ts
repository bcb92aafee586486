/**
 * OpenRouter: one key for many providers' models, over the OpenAI chat-completions protocol.
 *
 * The OpenAI-protocol adapter with OpenRouter's base URL (`https://openrouter.ai/api/v1`), its
 * key (`OPENROUTER_API_KEY`), provider-prefixed model names (`openai/gpt-4o-mini`,
 * `anthropic/claude-3.5-haiku`...) and optional attribution headers (`HTTP-Referer`, `X-Title`)
 * that show the app on openrouter.ai. OpenRouter reports the cost of each call in `usage.cost`
 * (USD); it is kept as `cost: { usd, source: "provider" }`, which wins over our price table.
 *
 * @since 0.1.0
 */
import { type Duration, type Effect, type Layer, type Redacted, Schema } from "effect"
import type { HttpClient } from "effect/http"
import type * as LanguageModel from "../../LanguageModel.ts"
import type { Provider } from "../../ProviderRegistry.ts"
import * as OpenAiLanguageModel from "../openai/OpenAiLanguageModel.ts"

/**
 * The provider's registered name.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROVIDER = "openrouter"

/**
 * OpenRouter's API.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"

/**
 * The default model (provider-prefixed, as OpenRouter names models).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MODEL = "openai/gpt-4o-mini"

/**
 * The variable read for the key.
 *
 * @since 0.1.0
 * @category constants
 */
export const KEY_ENV = "OPENROUTER_API_KEY"

/**
 * The app attribution OpenRouter shows in its rankings (both optional).
 *
 * @since 0.1.0
 * @category models
 */
export interface Attribution {
  /** Your app's URL, sent as `HTTP-Referer`. */
  readonly referer?: string | undefined
  /** Your app's name, sent as `X-Title`. */
  readonly title?: string | undefined
}

/**
 * The attribution headers to send.
 *
 * @since 0.1.0
 * @category headers
 */
export const attributionHeaders = (attribution: Attribution): Record<string, string> => ({
  ...(attribution.referer !== undefined && attribution.referer !== "" ? { "HTTP-Referer": attribution.referer } : {}),
  ...(attribution.title !== undefined && attribution.title !== "" ? { "X-Title": attribution.title } : {})
})

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Attribution {
  readonly apiKey: Redacted.Redacted<string>
  readonly baseUrl?: string | undefined
  readonly defaultModel?: string | undefined
  readonly timeout?: Duration.Input | undefined
  /** The most bytes of one response read (default 32 MiB). */
  readonly maxResponseBytes?: number | undefined
}

const shared = {
  maxTokensField: "max_tokens",
  // Ask OpenRouter to report usage, including its cost, in the response.
  extraBody: { usage: { include: true } },
  providerCost: true
} as const

/**
 * Builds an OpenRouter model with the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  OpenAiLanguageModel.make({
    ...shared,
    provider: PROVIDER,
    baseUrl: options.baseUrl ?? DEFAULT_BASE_URL,
    apiKey: options.apiKey,
    defaultModel: options.defaultModel ?? DEFAULT_MODEL,
    headers: attributionHeaders(options),
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.maxResponseBytes !== undefined ? { maxResponseBytes: options.maxResponseBytes } : {})
  })

/**
 * An OpenRouter model as a Layer providing `LanguageModel`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  OpenAiLanguageModel.layerEffect(make(options))

const attributionText = (example: string) => Schema.String.annotate({ examples: [example] })

/**
 * `providers.openrouter.options`: the per-attempt `timeout` and the app attribution (`referer`,
 * `title`; `httpReferer` and `appName` are read as their other names).
 *
 * @since 0.1.0
 * @category options
 */
export const ProviderOptions = Schema.Struct({
  ...OpenAiLanguageModel.ProviderOptions.fields,
  referer: Schema.optionalKey(attributionText("https://myapp.example")).annotate({
    description: "Your app's URL, sent as HTTP-Referer."
  }),
  httpReferer: Schema.optionalKey(attributionText("https://myapp.example")).annotate({ description: "Another name for referer." }),
  title: Schema.optionalKey(attributionText("My App")).annotate({ description: "Your app's name, sent as X-Title." }),
  appName: Schema.optionalKey(attributionText("My App")).annotate({ description: "Another name for title." })
})

/**
 * The decoded {@link ProviderOptions}.
 *
 * @since 0.1.0
 * @category options
 */
export type ProviderOptions = typeof ProviderOptions.Type

/**
 * The OpenRouter flavour of the OpenAI-protocol adapter. Attribution comes from the provider
 * config's `options` (`referer`, `title`).
 *
 * @since 0.1.0
 * @category providers
 */
export const flavor: OpenAiLanguageModel.Flavor<ProviderOptions> = {
  name: PROVIDER,
  description: "OpenRouter: many providers' models with one key (openrouter.ai)",
  defaultModel: DEFAULT_MODEL,
  keyEnv: [KEY_ENV],
  requiresKey: true,
  defaultBaseUrl: DEFAULT_BASE_URL,
  options: ProviderOptions,
  maxTokensField: "max_tokens",
  configure: (options) => {
    const referer = options.referer ?? options.httpReferer
    const title = options.title ?? options.appName
    return {
      extraBody: shared.extraBody,
      providerCost: true,
      headers: attributionHeaders({
        ...(referer !== undefined ? { referer } : {}),
        ...(title !== undefined ? { title } : {})
      })
    }
  }
}

/**
 * The `openrouter` registry entry.
 *
 * @since 0.1.0
 * @category providers
 */
export const provider: Effect.Effect<Provider, never, OpenAiLanguageModel.Services> = OpenAiLanguageModel.providerFor(
  flavor
)
