/**
 * The OpenAI-protocol `LanguageModel`: chat completions over HTTP.
 *
 * One adapter serves three providers: `openai` (this module's {@link provider}), `openrouter`
 * and `openai-compatible` (vLLM, Ollama, LM Studio), which only change the base URL, the key
 * variable, headers and a few request fields. The request maps the system prompt, `maxTokens`
 * (`max_completion_tokens` for OpenAI, `max_tokens` elsewhere), temperature, top_p and stop; the
 * response maps the content, the usage (normalised: `inputTokens` = `prompt_tokens`, which
 * already includes cached tokens; `cachedInputTokens` and `reasoningTokens` are parts), the
 * finish reason (the raw value kept), the request id (`x-request-id`) and the latency (`Clock`).
 * With no usage in the response, tokens are counted locally and marked `estimated`.
 *
 * Tools: declarations go in `tools` (`function.parameters`, the definition's JSON Schema as
 * given) and the choice in `tool_choice`; an assistant's tool calls in its `tool_calls`
 * (arguments as JSON text), each tool result in a `tool` message linked by `tool_call_id`. The
 * model's `tool_calls` become the response's `toolCalls` (arguments parsed; text that does not
 * parse kept in `rawArguments`).
 *
 * Structured output (`responseFormat`) goes in `response_format: { type: json_schema,
 * json_schema: { name, description?, schema, strict } }`, `strict` as `ResponseFormat.strictOf`
 * decides (the request's, else whether the schema meets strict mode's rules); the object comes
 * back as the message's text.
 *
 * Both paths are native: `generate` reads one JSON completion; `stream` sends the same request
 * with `stream: true` and `stream_options: { include_usage: true }` and turns the server-sent
 * chunks into parts as they arrive (`delta.content` as text deltas, `delta.tool_calls` as
 * tool-call deltas), then one `finish` part with the whole response, mapped as `generate` maps
 * it (`internal/mapping.ts`). The usage comes in the last chunk; a server that sends none (some
 * OpenAI-compatible servers never do, and an aborted stream never gets it) has it counted
 * locally and marked `estimated`. Interrupting the consumer closes the connection.
 *
 * @since 0.1.0
 */
import { Clock, Effect, type FileSystem, Layer, type Path, Result, Schema, Stream } from "effect"
import { HttpClient } from "effect/http"
import * as BaseUrl from "../../BaseUrl.ts"
import * as LanguageModel from "../../LanguageModel.ts"
import * as LlmError from "../../LlmError.ts"
import type { LlmRequest } from "../../LlmRequest.ts"
import * as Message from "../../Message.ts"
import * as ResponseFormat from "../../ResponseFormat.ts"
import * as LlmResponse from "../../LlmResponse.ts"
import type * as Tool from "../../Tool.ts"
import type { Provider } from "../../ProviderRegistry.ts"
import * as StreamPart from "../../StreamPart.ts"
import type * as Usage from "../../Usage.ts"
import * as Checks from "../internal/content.ts"
import * as ProviderKit from "../ProviderKit.ts"
import * as Errors from "./internal/errors.ts"
import * as Mapping from "./internal/mapping.ts"
import type * as OpenAiSchema from "./internal/OpenAiSchema.ts"
import * as StreamAssembler from "./internal/StreamAssembler.ts"
import * as OpenAiClient from "./OpenAiClient.ts"
import type * as OpenAiWire from "openai/resources/chat/completions"

/**
 * The provider's registered name.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROVIDER = "openai"

/**
 * OpenAI's API.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_BASE_URL = "https://api.openai.com/v1"

/**
 * The default model: small, cheap and current.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MODEL = "gpt-4o-mini"

/**
 * The variable read for the key.
 *
 * @since 0.1.0
 * @category constants
 */
export const KEY_ENV = "OPENAI_API_KEY"

/**
 * How an OpenAI-protocol model behaves.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends OpenAiClient.Options {
  /** The model used when a request names none. */
  readonly defaultModel: string
  /** Which field carries `maxTokens`: OpenAI wants `max_completion_tokens`, others `max_tokens`. */
  readonly maxTokensField?: "max_tokens" | "max_completion_tokens" | undefined
  /** Extra fields merged into every request body (e.g. OpenRouter's `usage: { include: true }`). */
  readonly extraBody?: Readonly<Record<string, unknown>> | undefined
  /** Keep the cost the provider reports in `usage.cost` (OpenRouter) as `cost.source = "provider"`. */
  readonly providerCost?: boolean | undefined
}

/**
 * Maps a request to the wire body.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toWireRequest = (
  request: LlmRequest,
  model: string,
  options: Pick<Options, "maxTokensField" | "extraBody">
): OpenAiSchema.ChatCompletionRequest => {
  const messages: Array<OpenAiWire.ChatCompletionMessageParam & OpenAiSchema.WireMessage> = []
  if (request.system !== undefined) messages.push({ role: "system", content: request.system })
  for (const message of request.messages) toWireMessages(message, messages)
  const maxTokens = request.maxTokens === undefined
    ? {}
    : options.maxTokensField === "max_completion_tokens"
    ? { max_completion_tokens: request.maxTokens }
    : { max_tokens: request.maxTokens }
  const tools = request.tools !== undefined && request.tools.length > 0
    ? { tools: request.tools.map(toWireTool) }
    : {}
  const toolChoice = request.toolChoice === undefined ? {} : { tool_choice: toWireToolChoice(request.toolChoice) }
  const responseFormat = request.responseFormat === undefined ? {} : { response_format: toWireResponseFormat(request.responseFormat) }
  // Checked against the `openai` package's wire type (type-only import: nothing at run time,
  // nothing in the emitted declarations).
  const wire = {
    model,
    messages,
    ...maxTokens,
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.topP !== undefined ? { top_p: request.topP } : {}),
    ...(request.stop !== undefined && request.stop.length > 0 ? { stop: [...request.stop] } : {}),
    ...tools,
    ...toolChoice,
    ...responseFormat
  } satisfies OpenAiWire.ChatCompletionCreateParamsNonStreaming
  return options.extraBody === undefined ? wire : { ...options.extraBody, ...wire }
}

const serialise = (value: unknown): string => {
  if (typeof value === "string") return value
  try {
    return JSON.stringify(value) ?? ""
  } catch {
    return String(value)
  }
}

const toWireTool = (tool: Tool.Definition): OpenAiSchema.WireTool & OpenAiWire.ChatCompletionTool => ({
  type: "function",
  function: {
    name: tool.name,
    ...(tool.description !== undefined ? { description: tool.description } : {}),
    parameters: tool.parameters
  }
})

const toWireResponseFormat = (
  format: ResponseFormat.ResponseFormat
): OpenAiSchema.WireResponseFormat & OpenAiWire.ChatCompletionCreateParams["response_format"] => ({
  type: "json_schema",
  json_schema: {
    name: ResponseFormat.nameOf(format),
    ...(format.description !== undefined ? { description: format.description } : {}),
    schema: format.schema,
    strict: ResponseFormat.strictOf(format)
  }
})

const toWireToolChoice = (choice: Tool.ToolChoice): OpenAiSchema.WireToolChoice & OpenAiWire.ChatCompletionToolChoiceOption =>
  typeof choice === "string" ? choice : { type: "function", function: { name: choice.tool } }

/**
 * One message on the wire, or several: text keeps its role; an assistant's tool calls go in its
 * `tool_calls` (arguments as JSON text; `content` null when it has no text); each tool result is
 * a `tool` message linked by `tool_call_id` (its result as text: a string as is, else JSON).
 */
const toWireMessages = (
  message: Message.Message,
  out: Array<OpenAiWire.ChatCompletionMessageParam & OpenAiSchema.WireMessage>
): void => {
  const content = message.content
  if (typeof content === "string" || Message.isText(message) && message.role !== "tool") {
    const text = Message.text(message)
    if (message.role === "assistant") out.push({ role: "assistant", content: text })
    else if (message.role === "tool") out.push({ role: "user", content: text })
    else out.push({ role: message.role, content: text })
    return
  }
  let text = ""
  const calls: Array<OpenAiSchema.WireToolCall & OpenAiWire.ChatCompletionMessageToolCall> = []
  const results: Array<OpenAiSchema.WireMessage & OpenAiWire.ChatCompletionToolMessageParam> = []
  for (const part of content) {
    if (part.type === "text") text += part.text
    else if (part.type === "tool-call") {
      calls.push({ id: part.id, type: "function", function: { name: part.name, arguments: serialise(part.params ?? {}) } })
    } else results.push({ role: "tool", tool_call_id: part.id, content: serialise(part.result) })
  }
  if (message.role === "assistant" || calls.length > 0) {
    if (text !== "" || calls.length > 0) {
      out.push({ role: "assistant", content: text === "" ? null : text, ...(calls.length > 0 ? { tool_calls: calls } : {}) })
    }
  } else if (text !== "") {
    out.push(message.role === "system" ? { role: "system", content: text } : { role: "user", content: text })
  }
  out.push(...results)
}

/**
 * Normalises a wire finish reason.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toFinishReason: (raw: string | null | undefined) => LlmResponse.FinishReason = Mapping.toFinishReason

/**
 * The usage fields {@link toUsage} reads (the decoded Schema type, or the `openai` SDK's).
 *
 * @since 0.1.0
 * @category models
 */
export type UsageFields = Mapping.UsageFields

/**
 * Normalises the wire usage; `undefined` when the provider reported none.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toUsage: (usage: UsageFields | null | undefined) => Usage.Usage | undefined = Mapping.toUsage

/**
 * Builds the service on a client.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromClient = (client: OpenAiClient.Service, options: Options): LanguageModel.Service => {
  const generate = (request: LlmRequest): Effect.Effect<LlmResponse.LlmResponse, LlmError.LlmError> => {
    const model = request.model ?? options.defaultModel
    const invalid = Checks.invalidTools(options.provider, request, model)
    if (invalid !== undefined) return Effect.fail(invalid)
    const body = toWireRequest(request, model, options)
    return Effect.flatMap(Clock.currentTimeMillis, (started) =>
      Effect.flatMap(client.createChatCompletion(body), ({ completion, requestId }) =>
        Effect.flatMap(Clock.currentTimeMillis, (finished) => {
          const choice = completion.choices[0]
          const content = choice?.message?.content ?? ""
          const rawFinish = choice?.finish_reason ?? undefined
          const id = requestId ?? completion.id ?? undefined
          const call = { provider: options.provider, model, baseUrl: client.baseUrl }
          if (choice === undefined) {
            return Effect.fail(Errors.malformed(call, "the completion has no choices"))
          }
          const toolCalls = Mapping.toolCallsOf(choice.message?.tool_calls)
          const filtered = toolCalls.length === 0
            ? Mapping.filteredReason(content, Mapping.toFinishReason(rawFinish), choice.message?.refusal)
            : undefined
          if (filtered !== undefined) return Effect.fail(Errors.contentFiltered(call, filtered, id))
          return Effect.succeed(Mapping.toResponse({
            provider: options.provider,
            model: completion.model ?? model,
            content,
            toolCalls,
            usage: Mapping.toUsage(completion.usage) ?? Mapping.estimateUsage(request, Mapping.outputText(content, toolCalls)),
            rawFinishReason: rawFinish,
            latencyMs: finished - started,
            requestId: id,
            cost: Mapping.providerCost(completion.usage, options.providerCost)
          }))
        })))
  }
  const stream = (request: LlmRequest): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> => {
    const model = request.model ?? options.defaultModel
    const invalid = Checks.invalidTools(options.provider, request, model)
    if (invalid !== undefined) return Stream.fail(invalid)
    const call = { provider: options.provider, model, baseUrl: client.baseUrl }
    return client.streamChatCompletion(toWireRequest(request, model, options), (opened) =>
      StreamAssembler.make({ ...opened, call, request, providerCost: options.providerCost }))
  }
  return LanguageModel.make({ provider: options.provider, defaultModel: options.defaultModel, generate, stream })
}

/**
 * Builds an OpenAI-protocol model with the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service, never, HttpClient.HttpClient> =>
  Effect.map(OpenAiClient.make(options), (client) => fromClient(client, options))

/**
 * An OpenAI-protocol model as a Layer providing `LanguageModel`.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * OpenAiLanguageModel.layer({ provider: "openai", baseUrl: OpenAiLanguageModel.DEFAULT_BASE_URL,
 *   apiKey: Redacted.make(key), defaultModel: "gpt-4o-mini" }).pipe(Layer.provide(NodeHttpClient.layerUndici))
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel, never, HttpClient.HttpClient> =>
  layerEffect(make(options))

/**
 * A Layer providing `LanguageModel` from an effect that builds one.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerEffect = <E, R>(
  build: Effect.Effect<LanguageModel.Service, E, R>
): Layer.Layer<LanguageModel.LanguageModel, E, R> => Layer.effect(LanguageModel.LanguageModel, build)

/**
 * The services a registry entry captures to build models later (`FileSystem` and `Path` for
 * key files).
 *
 * @since 0.1.0
 * @category models
 */
export type Services = HttpClient.HttpClient | FileSystem.FileSystem | Path.Path

/**
 * The `providers.<name>.options` every OpenAI-protocol provider reads: `timeout`, the
 * per-attempt timeout (`30s`, `2m`, or milliseconds; default 10 minutes), and
 * `maxResponseBytes`, the most bytes of one response read (default 32 MiB).
 *
 * @since 0.1.0
 * @category options
 */
export const ProviderOptions = Schema.Struct({
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
 * What differs between the three OpenAI-protocol providers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Flavor<FlavorOptions extends ProviderOptions = ProviderOptions> {
  readonly name: string
  readonly description: string
  readonly defaultModel: string
  readonly keyEnv: ReadonlyArray<string>
  readonly requiresKey: boolean
  /** `undefined` when the base URL must be given. */
  readonly defaultBaseUrl: string | undefined
  /** Decodes `providers.<name>.options` (at least {@link ProviderOptions}). */
  readonly options: Schema.Decoder<FlavorOptions>
  /** The provider-specific options of the adapter (headers, extra body...), from the decoded options. */
  readonly configure?: ((options: FlavorOptions) => Partial<Options>) | undefined
  readonly maxTokensField: "max_tokens" | "max_completion_tokens"
}

/**
 * Builds a registry entry for an OpenAI-protocol flavour with `ProviderKit.define`: it captures
 * the `HttpClient` (and `FileSystem`/`Path` for key files) of its context.
 *
 * @since 0.1.0
 * @category providers
 */
export const providerFor = <FlavorOptions extends ProviderOptions>(
  flavor: Flavor<FlavorOptions>
): Effect.Effect<Provider, never, Services> =>
  ProviderKit.define({
    name: flavor.name,
    description: flavor.description,
    defaultModel: flavor.defaultModel,
    keyEnv: flavor.keyEnv,
    requiresKey: flavor.requiresKey,
    defaultBaseUrl: flavor.defaultBaseUrl,
    options: flavor.options,
    services: [HttpClient.HttpClient],
    make: (settings) =>
      Effect.gen(function*() {
        const baseUrl = settings.baseUrl
        if (baseUrl === undefined || baseUrl === "") {
          return yield* Effect.fail(LlmError.make(flavor.name, new LlmError.Configuration({
            description: `${flavor.name} needs the base URL of the server`,
            setting: `providers.${flavor.name}.baseUrl`,
            fix: `pass --base-url http://localhost:11434/v1 (Ollama), http://localhost:8000/v1 (vLLM) or ` +
              `http://localhost:1234/v1 (LM Studio), or set baseUrl in the config file`
          })))
        }
        const checked = BaseUrl.check(baseUrl)
        if (Result.isFailure(checked)) {
          return yield* Effect.fail(LlmError.make(flavor.name, new LlmError.Configuration({
            description: `the base URL of ${flavor.name} is not usable: ${checked.failure}`,
            setting: `providers.${flavor.name}.baseUrl`,
            fix: `give an http:// or https:// URL (--base-url or baseUrl in the config file), e.g. ${BaseUrl.EXAMPLE}`
          })))
        }
        const http = yield* HttpClient.HttpClient
        const { maxResponseBytes, timeout } = settings.options
        const options: Options = {
          provider: flavor.name,
          baseUrl,
          apiKey: settings.apiKey,
          defaultModel: settings.model,
          maxTokensField: flavor.maxTokensField,
          ...(timeout !== undefined ? { timeout } : {}),
          ...(maxResponseBytes !== undefined ? { maxResponseBytes } : {}),
          ...flavor.configure?.(settings.options)
        }
        return fromClient(OpenAiClient.fromHttpClient(http, options), options)
      })
  })

/**
 * The `openai` flavour.
 *
 * @since 0.1.0
 * @category providers
 */
export const flavor: Flavor = {
  name: PROVIDER,
  description: "OpenAI chat completions (api.openai.com)",
  defaultModel: DEFAULT_MODEL,
  keyEnv: [KEY_ENV],
  requiresKey: true,
  defaultBaseUrl: DEFAULT_BASE_URL,
  options: ProviderOptions,
  maxTokensField: "max_completion_tokens"
}

/**
 * The `openai` registry entry (needs an `HttpClient`, `FileSystem` and `Path` for keys).
 *
 * @since 0.1.0
 * @category providers
 */
export const provider: Effect.Effect<Provider, never, Services> = providerFor(flavor)
