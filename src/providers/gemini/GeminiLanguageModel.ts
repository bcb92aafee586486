/**
 * Google Gemini as a `LanguageModel`, through the official `@google/genai` SDK, on both paths:
 * `generate` calls `generateContent`, `stream` calls `generateContentStream`
 * (`:streamGenerateContent?alt=sse`) and turns its chunks into parts as they arrive.
 *
 * The request maps the system prompt (and any system messages) to `systemInstruction`, the
 * conversation to `contents` (assistant -> `model`), and `maxTokens`, temperature, topP and stop
 * to the generation config. The response maps the text parts (thoughts excluded), `functionCall`
 * parts to tool calls, the finish reason (SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT,
 * SPII -> `content-filter`; MAX_TOKENS -> `length`; STOP -> `stop`, or `tool-calls` with tool
 * calls; the raw value kept) and the usage from `usageMetadata`: `inputTokens` =
 * `promptTokenCount` (which includes `cachedContentTokenCount`), `outputTokens` =
 * `candidatesTokenCount` + `thoughtsTokenCount` (thoughts are billed as output),
 * `reasoningTokens` = `thoughtsTokenCount`. A blocked prompt fails with `ContentFiltered`; so
 * does output filtered before any text (and, on a stream, output filtered after some text: the
 * text sent stays sent). Without `usageMetadata` the usage is counted locally and marked
 * `estimated`.
 *
 * Tools are `functionDeclarations` (the definition's JSON Schema as `parametersJsonSchema`) and
 * the choice `toolConfig.functionCallingConfig`; an assistant's calls are `functionCall` parts,
 * tool results `functionResponse` parts. A call Gemini sends without an id gets a stable one,
 * `call_<turn>_<position>` (`internal/mapping.ts`).
 *
 * A stream emits a `text-delta` per text part, one `tool-call-delta` per function call (Gemini
 * sends calls whole), then one `finish` part with the whole response. `usageMetadata` is a running
 * total repeated in every chunk: the latest is kept, never summed. A stream that ends without a
 * finish reason, or loses its connection, fails with `Network` (retryable); a chunk that is not
 * JSON, or a 2xx answer that is not an event stream, with `ResponseMalformed`; an error chunk
 * mid-stream with the reason of its status (`internal/StreamAssembler.ts`).
 *
 * The SDK never retries here: `httpOptions.retryOptions` is left unset, which is what turns its
 * `p-retry` loop off, and a stream's `automaticContinuation` is off, so a dropped stream is not
 * reopened from a checkpoint (retries belong to the resilience layer). Requests go through the
 * global `fetch` (wrapped, `internal/transport.ts`, to keep the response headers, which the SDK's
 * `ApiError` drops, so that a 429's `retry-after` is read as well as Google's `RetryInfo`; and
 * to cap the body at `maxResponseBytes`, default 32 MiB, a JSON body or a whole event stream:
 * past it the read stops and the call fails with `ResponseMalformed` naming the cap).
 * Interrupting the fiber aborts the request (`abortSignal`); for a stream, ending or interrupting
 * the consumer closes the connection. The `timeout` bounds a `generate` call, and a stream's
 * opening (until the response headers). Base URL (`httpOptions.baseUrl`) and API version
 * (default `v1beta`) are configurable, for proxies and tests.
 *
 * @since 0.1.0
 */
import type { Content, GenerateContentConfig, GenerateContentResponse } from "@google/genai"
import { Array as Arr, Cause, Clock, Duration, Effect, type FileSystem, Layer, type Path, type Pull, Redacted, Schema, Stream } from "effect"
import * as LanguageModel from "../../LanguageModel.ts"
import type * as LlmError from "../../LlmError.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import type { FinishReason, LlmResponse } from "../../LlmResponse.ts"
import * as Redaction from "../../observability/Redaction.ts"
import type { Provider } from "../../ProviderRegistry.ts"
import * as StreamPart from "../../StreamPart.ts"
import type * as Usage from "../../Usage.ts"
import * as Checks from "../internal/content.ts"
import * as ProviderKit from "../ProviderKit.ts"
import * as Errors from "./internal/errors.ts"
import * as Mapping from "./internal/mapping.ts"
import * as StreamAssembler from "./internal/StreamAssembler.ts"
import * as Transport from "./internal/transport.ts"
import * as Deadlines from "../../internal/deadlines.ts"

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
  /** How long one request (or a stream's opening) may take before it fails with `Timeout`; default 10 minutes. */
  readonly timeout?: Duration.Input | undefined
  /** The most bytes of one response read (default `ProviderKit.DEFAULT_MAX_RESPONSE_BYTES`, 32 MiB). */
  readonly maxResponseBytes?: number | undefined
}

/**
 * Normalises a Gemini finish reason (`STOP` with tool calls in the answer is `tool-calls`).
 *
 * @since 0.1.0
 * @category mapping
 */
export const toFinishReason: (raw: string | undefined, hasToolCalls?: boolean) => FinishReason = Mapping.toFinishReason

/**
 * Maps a request to the SDK's `contents` and generation config.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toSdkRequest: (request: LlmRequest) => { contents: Array<Content>; config: GenerateContentConfig } =
  Mapping.toSdkRequest

/**
 * Normalises `usageMetadata`; `undefined` when the response has none.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toUsage: (metadata: GenerateContentResponse["usageMetadata"]) => Usage.Usage | undefined = Mapping.toUsage

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
    const callOf = (model: string): Errors.CallInfo => ({ model, baseUrl: shownBaseUrl, apiKey })

    const generate = (request: LlmRequest): Effect.Effect<LlmResponse, LlmError.LlmError> => {
      const model = request.model ?? defaultModel
      const call = callOf(model)
      const invalid = Checks.invalidTools(PROVIDER, request, model)
      if (invalid !== undefined) return Effect.fail(invalid)
      const { config, contents } = Mapping.toSdkRequest(request)
      return Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const transport = Transport.make(call, { maxResponseBytes, stream: false })
        const response = yield* Effect.tryPromise({
          try: (signal) =>
            client.models.generateContent({
              model,
              contents,
              config: { ...config, abortSignal: signal, httpOptions: { fetch: transport.fetch } }
            }),
          catch: (error) => error
        }).pipe(
          Effect.catch((error) => Effect.flatMap(Clock.currentTimeMillis, (nowMs) => Effect.fail(transport.failure(error, nowMs)))),
          (self) => Deadlines.bounded(self, timeoutMs, () => Errors.timeout(call, timeoutMs))
        )
        const finished = yield* Clock.currentTimeMillis
        const facts = Mapping.readCandidate(response, Mapping.turnOf(request))
        if (facts === undefined) return yield* Effect.fail(Errors.malformed(call, "not an object"))
        const answer = Mapping.toResponse(call, request, facts, finished - started)
        return "content" in answer ? answer : yield* Effect.fail(answer)
      })
    }

    const stream = (request: LlmRequest): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> => {
      const model = request.model ?? defaultModel
      const call = callOf(model)
      const invalid = Checks.invalidTools(PROVIDER, request, model)
      if (invalid !== undefined) return Stream.fail(invalid)
      const { config, contents } = Mapping.toSdkRequest(request)
      return Stream.unwrap(Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const transport = Transport.make(call, { maxResponseBytes, stream: true })
        // Ending the stream for any reason (the last chunk read, a failure, the consumer gone)
        // aborts the request: an unfinished one closes its connection.
        const controller = new AbortController()
        yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
        const failure = (error: unknown, midStream?: boolean) =>
          Effect.flatMap(Clock.currentTimeMillis, (nowMs) => Effect.fail(transport.failure(error, nowMs, midStream)))
        const chunks = yield* Effect.tryPromise({
          try: () =>
            client.models.generateContentStream({
              model,
              contents,
              config: {
                ...config,
                abortSignal: controller.signal,
                // Its continuation would reopen a dropped stream: retries belong to the resilience layer.
                automaticContinuation: false,
                httpOptions: { fetch: transport.fetch }
              }
            }),
          catch: (error) => error
        }).pipe(
          Effect.catch((error) => failure(error)),
          // Bounds the opening (until the response headers); the gaps between chunks are the
          // resilience layer's idle timeout.
          (self) => Deadlines.bounded(self, timeoutMs, () => Errors.timeout(call, timeoutMs))
        )
        // The SDK's generator is closed too, so that it releases its reader (not awaited: a read
        // it may be waiting on ends with the abort).
        yield* Effect.addFinalizer(() => Effect.sync(() => void chunks.return(undefined).catch(() => undefined)))
        return partsOf(chunks, StreamAssembler.make(call, request), call, started, failure)
      }))
    }

    return LanguageModel.make({ provider: PROVIDER, defaultModel, generate, stream })
  })

const loadSdk = Effect.promise(() => import("@google/genai"))

type PartsPull = Pull.Pull<Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>, LlmError.LlmError, void>

/**
 * The parts of a stream: each chunk from the SDK goes through the assembler, and what it produced
 * goes out before the next read; the finish part comes once the SDK's stream ends after a finish
 * reason. A stream that ends without one was cut off (`Network`).
 */
const partsOf = (
  chunks: AsyncGenerator<GenerateContentResponse>,
  assembler: StreamAssembler.Assembler,
  call: Errors.CallInfo,
  startedMs: number,
  failure: (error: unknown, midStream: boolean) => Effect.Effect<never, LlmError.LlmError>
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> => {
  let done = false
  const read = Effect.tryPromise({ try: () => chunks.next(), catch: (error) => error }).pipe(
    Effect.catch((error) => failure(error, true))
  )
  const complete = Effect.flatMap(Clock.currentTimeMillis, (nowMs): PartsPull => {
    done = true
    if (!assembler.ended()) {
      return Effect.fail(Errors.cutOff(call, "ended before Gemini's last chunk (no finish reason)", assembler.requestId()))
    }
    const response = assembler.finish(nowMs - startedMs)
    return "content" in response ? Effect.succeed(Arr.of(StreamPart.finish(response))) : Effect.fail(response)
  })
  const next = (): PartsPull => {
    const parts = assembler.take()
    if (Arr.isArrayNonEmpty(parts)) return Effect.succeed(parts)
    if (done) return Cause.done()
    return Effect.flatMap(read, (result) => {
      if (result.done === true) return complete
      assembler.onChunk(result.value)
      return next()
    })
  }
  return Stream.fromPull(Effect.succeed(Effect.suspend(next)))
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
 * `providers.gemini.options`: `apiVersion` (default `v1beta`), the per-attempt `timeout` (one
 * call, or a stream's opening; `30s`, `2m`, or milliseconds; default 10 minutes) and
 * `maxResponseBytes` (default 32 MiB).
 *
 * @since 0.1.0
 * @category options
 */
export const ProviderOptions = Schema.Struct({
  apiVersion: Schema.optionalKey(Schema.NonEmptyString.annotate({ examples: ["v1beta", "v1"] })).annotate({
    description: "The API version (default v1beta)."
  }),
  timeout: Schema.optionalKey(
    ProviderKit.Timeout.pipe(
      Schema.annotateEncoded({ description: "How long one request (or a stream's opening) may take (default 10m)." })
    )
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
  description: "Google Gemini (generativelanguage.googleapis.com) via @google/genai, JSON and streaming",
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
