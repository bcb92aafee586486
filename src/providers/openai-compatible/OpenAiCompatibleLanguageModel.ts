/**
 * Any server that speaks the OpenAI chat-completions protocol: vLLM, Ollama, LM Studio,
 * llama.cpp's server, LiteLLM, a corporate gateway.
 *
 * The OpenAI-protocol adapter with a base URL that must be given (there is no sensible
 * default) and an optional key (`OPENAI_COMPATIBLE_API_KEY`; local servers usually need none).
 * Typical base URLs: Ollama `http://localhost:11434/v1`, vLLM `http://localhost:8000/v1`,
 * LM Studio `http://localhost:1234/v1`.
 *
 * @since 0.1.0
 */
import type { Duration, Effect, Layer, Redacted } from "effect"
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
export const PROVIDER = "openai-compatible"

/**
 * The model used when neither the request nor the config names one (Ollama's usual small
 * model; set `--model` to what your server serves).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MODEL = "llama3.2"

/**
 * The variable read for the (optional) key.
 *
 * @since 0.1.0
 * @category constants
 */
export const KEY_ENV = "OPENAI_COMPATIBLE_API_KEY"

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The server's base URL, e.g. `http://localhost:11434/v1`. */
  readonly baseUrl: string
  readonly apiKey?: Redacted.Redacted<string> | undefined
  readonly defaultModel?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  readonly timeout?: Duration.Input | undefined
  /** The most bytes of one response read (default 32 MiB). */
  readonly maxResponseBytes?: number | undefined
}

/**
 * Builds a model for an OpenAI-compatible server, with the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  OpenAiLanguageModel.make({
    provider: PROVIDER,
    baseUrl: options.baseUrl,
    apiKey: options.apiKey,
    defaultModel: options.defaultModel ?? DEFAULT_MODEL,
    maxTokensField: "max_tokens",
    ...(options.headers !== undefined ? { headers: options.headers } : {}),
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    ...(options.maxResponseBytes !== undefined ? { maxResponseBytes: options.maxResponseBytes } : {})
  })

/**
 * A model for an OpenAI-compatible server, as a Layer providing `LanguageModel`.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * OpenAiCompatibleLanguageModel.layer({ baseUrl: "http://localhost:11434/v1", defaultModel: "llama3.2" })
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  OpenAiLanguageModel.layerEffect(make(options))

/**
 * The OpenAI-compatible flavour: no default base URL (a missing one is a `Configuration` error
 * with examples), key optional.
 *
 * @since 0.1.0
 * @category providers
 */
export const flavor: OpenAiLanguageModel.Flavor = {
  name: PROVIDER,
  description: "Any OpenAI-compatible server (vLLM, Ollama, LM Studio); needs --base-url",
  defaultModel: DEFAULT_MODEL,
  keyEnv: [KEY_ENV],
  requiresKey: false,
  defaultBaseUrl: undefined,
  options: OpenAiLanguageModel.ProviderOptions,
  maxTokensField: "max_tokens"
}

/**
 * The `openai-compatible` registry entry.
 *
 * @since 0.1.0
 * @category providers
 */
export const provider: Effect.Effect<Provider, never, OpenAiLanguageModel.Services> = OpenAiLanguageModel.providerFor(
  flavor
)
