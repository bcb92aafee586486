/**
 * Anthropic's Messages API as a `LanguageModel`, on Effect's `HttpClient` (not the
 * `@anthropic-ai/sdk` client: its own retries would stack on the resilience layer's; the SDK's
 * types check the wire format, in development only).
 *
 * Both paths are native: `generate` sends one `POST {baseUrl}/v1/messages` and reads the JSON
 * message; `stream` sends the same request with `stream: true` and turns the server-sent events
 * into parts as they arrive (text deltas, tool-call deltas from `input_json_delta`), then one
 * `finish` part with the whole response. Usage comes from the API (`message_start` for the input
 * and the cache reads and writes, `message_delta` for the output); when the API reports none it is
 * counted locally and marked `estimated`. An `error` event mid-stream fails the stream with the
 * `LlmError` of its type (`overloaded_error` -> `Unavailable`, retryable). Interrupting the
 * consumer closes the connection.
 *
 * The request maps the system prompt (and `system` messages) to `system`, content parts to
 * blocks (tool calls to `tool_use`, tool results to `tool_result` in a user message), and
 * `maxTokens`, which Anthropic requires, to `max_tokens`: the request's, else
 * `providers.anthropic.options.maxTokens`, else {@link DEFAULT_MAX_TOKENS}. Finish reasons,
 * usage and errors are normalised in `internal/` (mapping, errors). Structured output
 * (`responseFormat`) is a forced tool whose input comes back as the response's text (streamed:
 * as text deltas). The key is resolved by the
 * provider kit: `providers.anthropic.apiKey`, `ANTHROPIC_API_KEY`, then the key file.
 *
 * @since 0.1.0
 */
import { Duration, Effect, type FileSystem, Layer, type Path, type Redacted, Schema, Stream } from "effect"
import { HttpClient } from "effect/http"
import * as LanguageModel from "../../LanguageModel.ts"
import type { Provider } from "../../ProviderRegistry.ts"
import * as ResponseFormat from "../../ResponseFormat.ts"
import * as StreamPart from "../../StreamPart.ts"
import * as Checks from "../internal/content.ts"
import * as ProviderKit from "../ProviderKit.ts"
import * as Client from "./internal/client.ts"
import * as Errors from "./internal/errors.ts"
import * as Mapping from "./internal/mapping.ts"

/**
 * The provider's registered name.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROVIDER = Errors.PROVIDER

/**
 * Anthropic's API (requests go to `{baseUrl}/v1/messages`).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_BASE_URL = "https://api.anthropic.com"

/**
 * The default model: small, fast, cheap and current.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MODEL = "claude-haiku-4-5"

/**
 * The variable read for the key.
 *
 * @since 0.1.0
 * @category constants
 */
export const KEY_ENV = "ANTHROPIC_API_KEY"

/**
 * The `max_tokens` sent when a request sets no `maxTokens` (the API requires one): 4096, within
 * every current Claude model's output limit.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_TOKENS = 4096

/**
 * The `anthropic-version` header sent with every request.
 *
 * @since 0.1.0
 * @category constants
 */
export const API_VERSION = Client.API_VERSION

/**
 * The default per-attempt timeout (the SDK's default too).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_TIMEOUT: Duration.Duration = Duration.minutes(10)

/**
 * How to reach Anthropic, and the defaults of a call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Sent as `x-api-key`; omitted when absent (a gateway that adds its own). */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Default {@link DEFAULT_BASE_URL}; a trailing `/v1` is accepted. */
  readonly baseUrl?: string | undefined
  /** Default {@link DEFAULT_MODEL}. */
  readonly defaultModel?: string | undefined
  /** `max_tokens` when a request sets none; default {@link DEFAULT_MAX_TOKENS}. */
  readonly maxTokens?: number | undefined
  /** One JSON call, or a stream's opening; default {@link DEFAULT_TIMEOUT}. */
  readonly timeout?: Duration.Input | undefined
  /** The most bytes of one response read (JSON body or whole stream); default 32 MiB. */
  readonly maxResponseBytes?: number | undefined
}

/**
 * Maps a request to the wire body (`maxTokens`, else `defaultMaxTokens`, as `max_tokens`).
 *
 * @since 0.1.0
 * @category mapping
 */
export const toWireRequest = Mapping.toWireRequest

/**
 * Normalises an Anthropic stop reason (`end_turn`, `max_tokens`, `tool_use`, `refusal`...).
 *
 * @since 0.1.0
 * @category mapping
 */
export const toFinishReason = Mapping.toFinishReason

/**
 * Normalises Anthropic usage: `inputTokens` includes the cache reads (`cachedInputTokens`) and
 * writes (`cacheWriteInputTokens`); `undefined` when no input or output count was sent.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toUsage = Mapping.toUsage

// Structured output in a stream: the fragments of the forced tool's input become text deltas,
// and the finish part's response has the object as its text (ResponseFormat.fromForcedTool).
const forcedToolAsText = (format: ResponseFormat.ResponseFormat) => {
  const name = ResponseFormat.nameOf(format)
  let index: number | undefined
  return (part: StreamPart.StreamPart): StreamPart.StreamPart => {
    switch (part.type) {
      case "tool-call-delta": {
        if (part.name === name && index === undefined) index = part.index
        return part.index === index ? StreamPart.textDelta(part.argumentsDelta) : part
      }
      case "finish":
        return StreamPart.finish(ResponseFormat.fromForcedTool(format, part.response))
      default:
        return part
    }
  }
}

/**
 * Builds the service on an `HttpClient`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromHttpClient = (http: HttpClient.HttpClient, options: Options = {}): LanguageModel.Service => {
  const defaultModel = options.defaultModel ?? DEFAULT_MODEL
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS
  const client = Client.make(http, {
    provider: PROVIDER,
    baseUrl: options.baseUrl ?? DEFAULT_BASE_URL,
    apiKey: options.apiKey,
    timeout: Duration.fromInputUnsafe(options.timeout ?? DEFAULT_TIMEOUT),
    maxResponseBytes: options.maxResponseBytes ?? ProviderKit.DEFAULT_MAX_RESPONSE_BYTES
  })
  return LanguageModel.make({
    provider: PROVIDER,
    defaultModel,
    generate: (request) => {
      const invalid = Checks.invalidTools(PROVIDER, request, request.model ?? defaultModel)
      if (invalid !== undefined) return Effect.fail(invalid)
      const created = client.createMessage(request, Mapping.toWireRequest(request, request.model ?? defaultModel, maxTokens))
      const format = request.responseFormat
      return format === undefined ? created : Effect.map(created, (response) => ResponseFormat.fromForcedTool(format, response))
    },
    stream: (request) => {
      const invalid = Checks.invalidTools(PROVIDER, request, request.model ?? defaultModel)
      if (invalid !== undefined) return Stream.fail(invalid)
      const streamed = client.streamMessage(request, Mapping.toWireRequest(request, request.model ?? defaultModel, maxTokens))
      const format = request.responseFormat
      return format === undefined ? streamed : Stream.suspend(() =>
        Stream.map(streamed, forcedToolAsText(format)).pipe(
          // The call's opening fragment is empty: no empty text delta for it.
          Stream.filter((part) => part.type !== "text-delta" || part.text !== "")
        ))
    }
  })
}

/**
 * Builds the model with the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.map(Effect.service(HttpClient.HttpClient), (http) => fromHttpClient(http, options))

/**
 * The model as a Layer providing `LanguageModel`.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * AnthropicLanguageModel.layer({ apiKey: Redacted.make(key) }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 */
export const layer = (options: Options = {}): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/**
 * `providers.anthropic.options`: `timeout`, one JSON call or a stream's opening (`30s`, `2m`,
 * or milliseconds; default 10 minutes); `maxTokens`, the `max_tokens` sent when a request sets
 * none (default 4096).
 *
 * @since 0.1.0
 * @category options
 */
export const ProviderOptions = Schema.Struct({
  timeout: Schema.optionalKey(
    ProviderKit.Timeout.pipe(
      Schema.annotateEncoded({ description: "How long one request (or a stream's opening) may take (default 10m).", examples: ["30s"] })
    )
  ),
  maxResponseBytes: Schema.optionalKey(ProviderKit.MaxResponseBytes),
  maxTokens: Schema.optionalKey(
    Schema.Int.check(Schema.isGreaterThan(0)).annotate({
      description: "The max_tokens sent when a request sets none (default 4096).",
      examples: [8192]
    })
  )
})

/**
 * The decoded {@link ProviderOptions}.
 *
 * @since 0.1.0
 * @category options
 */
export type ProviderOptions = typeof ProviderOptions.Type

/**
 * The `anthropic` registry entry (needs an `HttpClient`, `FileSystem` and `Path` for keys): the
 * key from `providers.anthropic.apiKey`, `ANTHROPIC_API_KEY`, then the key file.
 *
 * @since 0.1.0
 * @category providers
 */
export const provider: Effect.Effect<Provider, never, HttpClient.HttpClient | FileSystem.FileSystem | Path.Path> =
  ProviderKit.define({
    name: PROVIDER,
    description: "Anthropic Messages API (api.anthropic.com), JSON and streaming",
    defaultModel: DEFAULT_MODEL,
    keyEnv: [KEY_ENV],
    requiresKey: true,
    defaultBaseUrl: DEFAULT_BASE_URL,
    options: ProviderOptions,
    services: [HttpClient.HttpClient],
    make: ({ apiKey, baseUrl, model, options }) =>
      Effect.map(Effect.service(HttpClient.HttpClient), (http) =>
        fromHttpClient(http, {
          apiKey,
          baseUrl,
          defaultModel: model,
          ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
          ...(options.maxResponseBytes !== undefined ? { maxResponseBytes: options.maxResponseBytes } : {}),
          ...(options.timeout !== undefined ? { timeout: options.timeout } : {})
        }))
  })
