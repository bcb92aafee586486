/**
 * Google Gemini as a `LanguageModel`, through the official `@google/genai` SDK.
 *
 * The request maps the system prompt (and any system messages) to `systemInstruction`, the
 * conversation to `contents` (assistant -> `model`), and `maxTokens`, temperature, topP and stop
 * to the generation config. The response maps the text parts (thoughts excluded), the finish
 * reason (SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII -> `content-filter`;
 * MAX_TOKENS -> `length`; STOP -> `stop`; the raw value kept) and the usage from
 * `usageMetadata`: `inputTokens` = `promptTokenCount` (which includes
 * `cachedContentTokenCount`), `outputTokens` = `candidatesTokenCount` + `thoughtsTokenCount`
 * (thoughts are billed as output), `reasoningTokens` = `thoughtsTokenCount`. A blocked prompt
 * fails with `ContentFiltered`.
 *
 * The SDK never retries here: `httpOptions.retryOptions` is left unset, which is what turns
 * its `p-retry` loop off (retries belong to the resilience layer). Requests go through the
 * global `fetch` (wrapped to keep the response headers, which the SDK's `ApiError` drops, so
 * that a 429's `retry-after` is read as well as Google's `RetryInfo`). Interrupting the fiber
 * aborts the request (`abortSignal`). Base URL (`httpOptions.baseUrl`) and API version
 * (default `v1beta`) are configurable, for proxies and tests. The same `fetch` wrapper caps the
 * body at `maxResponseBytes` (default 32 MiB): past it the read stops and the call fails with
 * `ResponseMalformed` naming the cap.
 *
 * @since 0.1.0
 */
import type { Content, GenerateContentConfig, GenerateContentResponse } from "@google/genai"
import { Clock, Duration, Effect, type FileSystem, Layer, type Path, Redacted, Schema } from "effect"
import * as LanguageModel from "../../LanguageModel.ts"
import * as LlmError from "../../LlmError.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import * as Message from "../../Message.ts"
import * as Redaction from "../../observability/Redaction.ts"
import type { FinishReason, LlmResponse } from "../../LlmResponse.ts"
import type { Provider } from "../../ProviderRegistry.ts"
import * as Tokenizer from "../../Tokenizer.ts"
import * as Usage from "../../Usage.ts"
import * as TextOnly from "../internal/content.ts"
import * as ProviderKit from "../ProviderKit.ts"
import * as Errors from "./internal/errors.ts"

/**
 * The provider's registered name.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROVIDER = Errors.PROVIDER

/**
 * Google's Generative Language API.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"

/**
 * The default API version.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_API_VERSION = "v1beta"

/**
 * The default model: fast, cheap and current.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MODEL = "gemini-2.5-flash"

/**
 * The variables read for the key, in order.
 *
 * @since 0.1.0
 * @category constants
 */
export const KEY_ENV: ReadonlyArray<string> = ["GEMINI_API_KEY", "GOOGLE_API_KEY"]

/**
 * Options of {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly apiKey: Redacted.Redacted<string>
  /** Default `https://generativelanguage.googleapis.com`. */
  readonly baseUrl?: string | undefined
  /** Default `v1beta`. */
  readonly apiVersion?: string | undefined
  readonly defaultModel?: string | undefined
  /** How long one request may take before it fails with `Timeout`; default 10 minutes. */
  readonly timeout?: Duration.Input | undefined
  /** The most bytes of one response read (default `ProviderKit.DEFAULT_MAX_RESPONSE_BYTES`, 32 MiB). */
  readonly maxResponseBytes?: number | undefined
}

const FILTER_REASONS = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
  "IMAGE_PROHIBITED_CONTENT"
])

/**
 * Normalises a Gemini finish reason.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toFinishReason = (raw: string | undefined): FinishReason => {
  if (raw === undefined || raw === "STOP") return "stop"
  if (raw === "MAX_TOKENS") return "length"
  if (FILTER_REASONS.has(raw)) return "content-filter"
  if (raw === "MALFORMED_FUNCTION_CALL") return "error"
  return "other"
}

/**
 * Maps a request to the SDK's `contents` and generation config.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toSdkRequest = (request: LlmRequest): { contents: Array<Content>; config: GenerateContentConfig } => {
  const system: Array<string> = request.system !== undefined ? [request.system] : []
  const contents: Array<Content> = []
  for (const message of request.messages) {
    // Text only until tools are mapped: `generate` refuses other content before this runs.
    if (message.role === "system") system.push(Message.text(message))
    else if (message.role !== "tool") {
      contents.push({ role: message.role === "assistant" ? "model" : "user", parts: [{ text: Message.text(message) }] })
    }
  }
  const config: GenerateContentConfig = {
    ...(system.length > 0 ? { systemInstruction: system.join("\n\n") } : {}),
    ...(request.maxTokens !== undefined ? { maxOutputTokens: request.maxTokens } : {}),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.topP !== undefined ? { topP: request.topP } : {}),
    ...(request.stop !== undefined && request.stop.length > 0 ? { stopSequences: [...request.stop] } : {})
  }
  return { contents, config }
}

const count = (value: number | undefined): number | undefined =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined

/**
 * Normalises `usageMetadata`; `undefined` when the response has none.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toUsage = (metadata: GenerateContentResponse["usageMetadata"]): Usage.Usage | undefined => {
  const inputTokens = count(metadata?.promptTokenCount)
  if (metadata === undefined || inputTokens === undefined) return undefined
  const thoughts = count(metadata.thoughtsTokenCount)
  return Usage.make({
    inputTokens,
    outputTokens: (count(metadata.candidatesTokenCount) ?? 0) + (thoughts ?? 0),
    cachedInputTokens: count(metadata.cachedContentTokenCount),
    reasoningTokens: thoughts
  })
}

/**
 * Builds a Gemini model.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service> =>
  // The SDK is loaded on first use, so programs that never call Gemini do not pay for it.
  Effect.map(loadSdk, ({ GoogleGenAI }) => {
    const apiKey = Redacted.value(options.apiKey)
    const baseUrl = options.baseUrl ?? DEFAULT_BASE_URL
    // Messages show the base URL with its credentials (a `?key=`, a password) redacted.
    const shownBaseUrl = Redaction.redactUrl(baseUrl)
    const apiVersion = options.apiVersion ?? DEFAULT_API_VERSION
    // No `retryOptions`: the SDK then makes exactly one attempt.
    const client = new GoogleGenAI({ apiKey, apiVersion, httpOptions: { baseUrl, apiVersion } })
    const defaultModel = options.defaultModel ?? DEFAULT_MODEL
    const timeout = Duration.fromInputUnsafe(options.timeout ?? Duration.minutes(10))
    const timeoutMs = Duration.toMillis(timeout)
    const maxResponseBytes = options.maxResponseBytes ?? ProviderKit.DEFAULT_MAX_RESPONSE_BYTES

    const generate = (request: LlmRequest): Effect.Effect<LlmResponse, LlmError.LlmError> => {
      const model = request.model ?? defaultModel
      const call: Errors.CallInfo = { model, baseUrl: shownBaseUrl, apiKey }
      const unsupported = TextOnly.nonText(PROVIDER, request, model)
      if (unsupported !== undefined) return Effect.fail(unsupported)
      const { config, contents } = toSdkRequest(request)
      return Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        // The SDK's ApiError drops the response headers; keep them to read `retry-after`. And
        // cap the body: the SDK would read any length whole.
        let headers: Headers | undefined
        let tooLarge = false
        const fetchKeepingHeaders = (input: RequestInfo | URL, init?: RequestInit) =>
          fetch(input, init).then((response) => {
            headers = response.headers
            return ProviderKit.limitFetchResponse(response, maxResponseBytes, () => {
              tooLarge = true
            })
          })
        const response = yield* Effect.tryPromise({
          try: (signal) =>
            client.models.generateContent({
              model,
              contents,
              config: { ...config, abortSignal: signal, httpOptions: { fetch: fetchKeepingHeaders } }
            }),
          catch: (error) => error
        }).pipe(
          Effect.catch((error) =>
            tooLarge
              ? Effect.fail(ProviderKit.responseTooLarge({ provider: PROVIDER, model, baseUrl }, maxResponseBytes))
              : Effect.flatMap(Clock.currentTimeMillis, (nowMs) =>
                Effect.fail(Errors.fromUnknown(call, error, headers === undefined ? undefined : ProviderKit.retryAfterMs(headers, nowMs))))
          ),
          Effect.timeoutOrElse({ duration: timeout, orElse: () => Effect.fail(Errors.timeout(call, timeoutMs)) })
        )
        const finished = yield* Clock.currentTimeMillis
        return yield* toResponse(call, request, response, finished - started)
      })
    }
    return LanguageModel.make({ provider: PROVIDER, defaultModel, generate })
  })

const loadSdk = Effect.promise(() => import("@google/genai"))

const toResponse = (
  call: Errors.CallInfo,
  request: LlmRequest,
  response: GenerateContentResponse,
  latencyMs: number
): Effect.Effect<LlmResponse, LlmError.LlmError> => {
  if (typeof response !== "object" || response === null) return Effect.fail(Errors.malformed(call, "not an object"))
  const requestId = typeof response.responseId === "string" ? response.responseId : undefined
  const blocked = response.promptFeedback?.blockReason
  const candidate = Array.isArray(response.candidates) ? response.candidates[0] : undefined
  if (candidate === undefined) {
    if (blocked !== undefined) {
      return Effect.fail(Errors.contentFiltered(call, `Gemini blocked the prompt (${blocked})`, requestId))
    }
    return Effect.fail(Errors.malformed(call, "no candidates and no block reason"))
  }
  const parts = Array.isArray(candidate.content?.parts) ? candidate.content.parts : []
  let content = ""
  for (const part of parts) if (typeof part.text === "string" && part.thought !== true) content += part.text
  const rawFinish = typeof candidate.finishReason === "string" ? candidate.finishReason : undefined
  const finishReason = toFinishReason(rawFinish)
  if (finishReason === "content-filter" && content === "") {
    return Effect.fail(Errors.contentFiltered(call, `Gemini filtered the output (${rawFinish})`, requestId))
  }
  const usage = toUsage(response.usageMetadata) ?? Usage.make({
    inputTokens: Tokenizer.countRequest(request),
    outputTokens: Tokenizer.countText(content),
    estimated: true
  })
  return Effect.succeed({
    content,
    model: typeof response.modelVersion === "string" ? response.modelVersion : call.model,
    provider: PROVIDER,
    usage,
    finishReason,
    ...(rawFinish !== undefined ? { rawFinishReason: rawFinish } : {}),
    latencyMs: Math.max(0, latencyMs),
    ...(requestId !== undefined ? { requestId } : {})
  })
}

/**
 * A Gemini model as a Layer providing `LanguageModel`.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * GeminiLanguageModel.layer({ apiKey: Redacted.make(process.env.GEMINI_API_KEY!) })
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/**
 * `providers.gemini.options`: `apiVersion` (default `v1beta`), the per-attempt `timeout`
 * (`30s`, `2m`, or milliseconds; default 10 minutes) and `maxResponseBytes` (default 32 MiB).
 *
 * @since 0.1.0
 * @category options
 */
export const ProviderOptions = Schema.Struct({
  apiVersion: Schema.optionalKey(Schema.NonEmptyString.annotate({ examples: ["v1beta", "v1"] })).annotate({
    description: "The API version (default v1beta)."
  }),
  timeout: Schema.optionalKey(
    ProviderKit.Timeout.pipe(Schema.annotateEncoded({ description: "How long one request may take (default 10m)." }))
  ),
  maxResponseBytes: Schema.optionalKey(ProviderKit.MaxResponseBytes)
})

/**
 * The decoded {@link ProviderOptions}.
 *
 * @since 0.1.0
 * @category options
 */
export type ProviderOptions = typeof ProviderOptions.Type

/**
 * The `gemini` registry entry (needs `FileSystem` and `Path` to read key files). Settings from
 * the provider config: `baseUrl`, `options.apiVersion`, `options.timeout`,
 * `options.maxResponseBytes`.
 *
 * @since 0.1.0
 * @category providers
 */
export const provider: Effect.Effect<Provider, never, FileSystem.FileSystem | Path.Path> = ProviderKit.define({
  name: PROVIDER,
  description: "Google Gemini (generativelanguage.googleapis.com) via @google/genai",
  defaultModel: DEFAULT_MODEL,
  keyEnv: KEY_ENV,
  requiresKey: true,
  options: ProviderOptions,
  make: ({ apiKey, baseUrl, model, options }) =>
    make({
      apiKey,
      ...(baseUrl !== undefined ? { baseUrl } : {}),
      ...(options.apiVersion !== undefined ? { apiVersion: options.apiVersion } : {}),
      defaultModel: model,
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
      ...(options.maxResponseBytes !== undefined ? { maxResponseBytes: options.maxResponseBytes } : {})
    })
})
