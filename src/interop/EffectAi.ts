/**
 * `effect/ai` interop, both directions, without a second implementation of anything:
 *
 * - **Our stack as `effect/ai`'s `LanguageModel`** ({@link layer}, {@link layerLanguageModel},
 *   {@link toAiLanguageModel}): `effect/ai` programs (`LanguageModel.generateText`, `Chat`,
 *   `Toolkit`, `ExecutionPlan`) run on any of our providers with our budget, retry, limits,
 *   timeouts, observability and ledger. Its `Prompt` becomes our {@link LlmRequest.LlmRequest};
 *   our response comes back as its response parts (text, tool calls, response metadata, finish
 *   with usage); our `LlmError` becomes its `AiError` (the original error document kept in the
 *   reason's metadata under `llm-connect`). Generation settings `effect/ai`'s provider-neutral API
 *   has no place for (maxTokens, temperature, a model, a timeout, metadata) are given with
 *   {@link withCallOptions}.
 * - **Any `effect/ai` model as ours** ({@link fromAiLanguageModel}, {@link layerFromAi},
 *   {@link provider}): our request becomes its prompt (tools as dynamic `effect/ai` tools whose
 *   calls come back unresolved), its response and `AiError` become ours, and registered as a
 *   provider it gets the whole stack of a configuration like any built-in provider.
 *
 * What each direction loses is recorded in ADR 0021 and docs/effect-ai.md. A module of its own so
 * that only programs that use it load `effect/ai` (its modules are imported one by one: its
 * index costs hundreds of milliseconds at start-up).
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, type JsonSchema, Layer, Stream } from "effect"
import { dual } from "effect/Function"
import * as AiError from "effect/ai/AiError"
import * as AiLanguageModel from "effect/ai/LanguageModel"
import * as Prompt from "effect/ai/Prompt"
import type * as Response from "effect/ai/Response"
import * as AiTool from "effect/ai/Tool"
import type * as Toolkit from "effect/ai/Toolkit"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type * as LlmRequest from "../LlmRequest.ts"
import * as LlmResponse from "../LlmResponse.ts"
import type * as Message from "../Message.ts"
import type * as ProviderRegistry from "../ProviderRegistry.ts"
import * as Stack from "../Stack.ts"
import * as StreamPart from "../StreamPart.ts"
import * as Tokenizer from "../Tokenizer.ts"
import * as Tool from "../Tool.ts"
import * as ToolCall from "../ToolCall.ts"
import * as Usage from "../Usage.ts"
import * as EffectAiTool from "./EffectAiTool.ts"

// ---------------------------------------------------------------------------------------------
// Our stack as effect/ai's LanguageModel
// ---------------------------------------------------------------------------------------------

/**
 * The settings of our request that `effect/ai`'s provider-neutral options do not carry.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallOptions {
  readonly model?: string | undefined
  readonly maxTokens?: number | undefined
  readonly temperature?: number | undefined
  readonly topP?: number | undefined
  readonly stop?: ReadonlyArray<string> | undefined
  readonly timeoutMs?: number | undefined
  readonly metadata?: LlmRequest.Metadata | undefined
}

/**
 * The {@link CallOptions} of the calls an effect runs (none by default).
 *
 * @since 0.1.0
 * @category references
 */
export const CurrentCallOptions = Context.Reference<CallOptions>("llm-connect/EffectAi/CallOptions", {
  defaultValue: () => ({})
})

/**
 * Runs an effect (e.g. an `effect/ai` `generateText` or a `Chat` turn) with these settings for
 * every call it makes through our stack, over the settings already in place.
 *
 * @since 0.1.0
 * @category combinators
 * @example
 * LanguageModel.generateText({ prompt: "Name a river" }).pipe(EffectAi.withCallOptions({ maxTokens: 50 }))
 */
export const withCallOptions: {
  (options: CallOptions): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, options: CallOptions): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, options: CallOptions): Effect.Effect<A, E, R> =>
    Effect.flatMap(Effect.service(CurrentCallOptions), (current) =>
      Effect.provideService(self, CurrentCallOptions, { ...current, ...options }))
)

const invalid = (method: string, description: string, parameter?: string) =>
  AiError.make({
    module: "llm-connect/EffectAi",
    method,
    reason: new AiError.InvalidUserInputError({ description: parameter === undefined ? description : `${parameter}: ${description}` })
  })

/** effect/ai's prompt as our messages (and the leading system messages as our system prompt). */
export const messagesOf = (
  prompt: Prompt.Prompt,
  method = "messagesOf"
): Effect.Effect<{ readonly system: string | undefined; readonly messages: Array<Message.Message> }, AiError.AiError> =>
  Effect.suspend(() => {
    const systems: Array<string> = []
    const messages: Array<Message.Message> = []
    for (const message of prompt.content) {
      switch (message.role) {
        case "system": {
          // Leading system messages are the system prompt; later ones stay in the history.
          if (messages.length === 0) systems.push(message.content)
          else messages.push({ role: "system", content: message.content })
          break
        }
        case "user": {
          const parts: Array<Message.Part> = []
          for (const part of message.content) {
            if (part.type === "file") {
              return Effect.fail(invalid(method, "file parts are not supported by llm-connect's providers yet: send text", "prompt"))
            }
            parts.push({ type: "text", text: part.text })
          }
          messages.push({ role: "user", content: onlyText(parts) })
          break
        }
        case "assistant": {
          const parts: Array<Message.Part> = []
          for (const part of message.content) {
            if (part.type === "text") parts.push({ type: "text", text: part.text })
            else if (part.type === "tool-call") {
              parts.push({ type: "tool-call", id: part.id, name: part.name, params: part.params })
            } else if (part.type === "tool-result") {
              parts.push({ type: "tool-result", id: part.id, name: part.name, result: part.result, isFailure: part.isFailure })
            } else if (part.type === "file") {
              return Effect.fail(invalid(method, "file parts are not supported by llm-connect's providers yet", "prompt"))
            }
            // Reasoning and approval requests have no place in our messages: dropped (ADR 0021).
          }
          if (parts.length > 0) messages.push({ role: "assistant", content: onlyText(parts) })
          break
        }
        case "tool": {
          const parts: Array<Message.Part> = []
          for (const part of message.content) {
            if (part.type === "tool-result") {
              parts.push({ type: "tool-result", id: part.id, name: part.name, result: part.result, isFailure: part.isFailure })
            }
          }
          if (parts.length > 0) messages.push({ role: "tool", content: parts })
          break
        }
      }
    }
    return Effect.succeed({ system: systems.length === 0 ? undefined : systems.join("\n\n"), messages })
  })

const onlyText = (parts: ReadonlyArray<Message.Part>): Message.Content =>
  parts.length === 1 && parts[0]!.type === "text" ? parts[0]!.text : parts

const toolChoiceOf = (
  choice: AiLanguageModel.ToolChoice<string>,
  tools: ReadonlyArray<Tool.Definition>
): { readonly toolChoice: Tool.ToolChoice; readonly tools: ReadonlyArray<Tool.Definition> } => {
  if (typeof choice === "string") return { toolChoice: choice, tools }
  if ("tool" in choice) return { toolChoice: { tool: choice.tool }, tools }
  // { mode, oneOf }: only the allowed tools are declared; with one allowed and mode required, that tool.
  const allowed = tools.filter((tool) => choice.oneOf.includes(tool.name))
  const mode = choice.mode ?? "auto"
  return {
    toolChoice: mode === "required" && allowed.length === 1 ? { tool: allowed[0]!.name } : mode,
    tools: allowed
  }
}

/**
 * The request our stack receives for `effect/ai`'s provider options and the current
 * {@link CallOptions}.
 *
 * @since 0.1.0
 * @category converting
 */
export const requestOf = (
  options: AiLanguageModel.ProviderOptions,
  method = "requestOf"
): Effect.Effect<LlmRequest.LlmRequest, AiError.AiError> =>
  Effect.gen(function*() {
    const call = yield* Effect.service(CurrentCallOptions)
    const { messages, system } = yield* messagesOf(options.prompt, method)
    if (messages.length === 0) return yield* invalid(method, "the prompt has no user or assistant message", "prompt")
    const declared = options.tools.map((tool) => EffectAiTool.definitionOf(tool))
    const { toolChoice, tools } = declared.length === 0
      ? { toolChoice: undefined, tools: declared }
      : toolChoiceOf(options.toolChoice, declared)
    const format = options.responseFormat
    let responseFormat: LlmRequest.LlmRequest["responseFormat"]
    if (format.type === "json") {
      const schema = AiTool.getJsonSchemaFromSchema(format.schema as never)
      responseFormat = { type: "json", schema: { ...schema }, name: safeName(format.objectName) }
    }
    const request: LlmRequest.LlmRequest = {
      messages,
      ...(system !== undefined ? { system } : {}),
      ...(tools.length > 0 ? { tools } : {}),
      ...(toolChoice !== undefined && tools.length > 0 ? { toolChoice } : {}),
      ...(responseFormat !== undefined ? { responseFormat } : {}),
      ...(call.model !== undefined ? { model: call.model } : {}),
      ...(call.maxTokens !== undefined ? { maxTokens: call.maxTokens } : {}),
      ...(call.temperature !== undefined ? { temperature: call.temperature } : {}),
      ...(call.topP !== undefined ? { topP: call.topP } : {}),
      ...(call.stop !== undefined ? { stop: call.stop } : {}),
      ...(call.timeoutMs !== undefined ? { timeoutMs: call.timeoutMs } : {}),
      ...(call.metadata !== undefined ? { metadata: call.metadata } : {})
    }
    const problem = Tool.checkDeclarations(request.tools, request.toolChoice)
    if (problem !== undefined) return yield* invalid(method, problem.description, problem.parameter)
    return request
  })

// Our tool and format names are [A-Za-z0-9_-]{1,64}; effect/ai's object names are free text.
const safeName = (name: string): string => {
  const cleaned = name.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64)
  return cleaned === "" ? "object" : cleaned
}

const usageOf = (usage: Usage.Usage): Response.FinishPartEncoded["usage"] => ({
  inputTokens: {
    total: usage.inputTokens,
    uncached: usage.inputTokens - (usage.cachedInputTokens ?? 0),
    ...(usage.cachedInputTokens !== undefined ? { cacheRead: usage.cachedInputTokens } : {}),
    ...(usage.cacheWriteInputTokens !== undefined ? { cacheWrite: usage.cacheWriteInputTokens } : {})
  },
  outputTokens: {
    total: usage.outputTokens,
    ...(usage.reasoningTokens !== undefined
      ? { reasoning: usage.reasoningTokens, text: usage.outputTokens - usage.reasoningTokens }
      : {})
  }
})

/** The facts of our response effect/ai has no field for, in the finish part's metadata. */
const finishMetadata = (response: LlmResponse.LlmResponse) => ({
  "llm-connect": {
    provider: response.provider,
    model: response.model,
    latencyMs: response.latencyMs,
    ...(response.cost !== undefined ? { costUsd: response.cost.usd, costSource: response.cost.source } : {}),
    ...(response.priced === false ? { priced: false } : {}),
    ...(response.usage.estimated === true ? { estimated: true } : {}),
    ...(response.rawFinishReason !== undefined ? { rawFinishReason: response.rawFinishReason } : {}),
    ...(response.warnings !== undefined ? { warnings: [...response.warnings] } : {})
  }
})

const responseMetadataPart = (response: LlmResponse.LlmResponse): Response.ResponseMetadataPartEncoded => ({
  type: "response-metadata",
  modelId: response.model,
  ...(response.requestId !== undefined ? { id: response.requestId } : {})
})

const finishPart = (response: LlmResponse.LlmResponse): Response.FinishPartEncoded => ({
  type: "finish",
  reason: response.finishReason,
  usage: usageOf(response.usage),
  metadata: finishMetadata(response)
})

/**
 * Our response as `effect/ai` response parts: its text and tool calls in order, the response
 * metadata, and the finish part with usage.
 *
 * @since 0.1.0
 * @category converting
 */
export const partsOf = (response: LlmResponse.LlmResponse): Array<Response.PartEncoded> => {
  const parts: Array<Response.PartEncoded> = [responseMetadataPart(response)]
  for (const part of LlmResponse.partsOf(response)) {
    if (part.type === "text") parts.push({ type: "text", text: part.text })
    else parts.push({ type: "tool-call", id: part.id, name: part.name, params: part.params, providerExecuted: false })
  }
  parts.push(finishPart(response))
  return parts
}

const TEXT_ID = "text-0"

/** Our stream as effect/ai stream parts (text start/delta/end, tool parameters, calls, finish). */
const streamPartsOf = (stream: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>) =>
  Stream.suspend(() => {
    let textOpen = false
    const toolIds = new Map<number, string>()
    return stream.pipe(
      Stream.map((part): ReadonlyArray<Response.StreamPartEncoded> => {
        switch (part.type) {
          case "text-delta": {
            const out: Array<Response.StreamPartEncoded> = []
            if (!textOpen) {
              textOpen = true
              out.push({ type: "text-start", id: TEXT_ID })
            }
            out.push({ type: "text-delta", id: TEXT_ID, delta: part.text })
            return out
          }
          case "tool-call-delta": {
            const out: Array<Response.StreamPartEncoded> = []
            let id = toolIds.get(part.index)
            if (id === undefined) {
              id = part.id ?? `tool-${part.index}`
              toolIds.set(part.index, id)
              out.push({ type: "tool-params-start", id, name: part.name ?? "", providerExecuted: false })
            }
            if (part.argumentsDelta !== "") out.push({ type: "tool-params-delta", id, delta: part.argumentsDelta })
            return out
          }
          case "finish": {
            const out: Array<Response.StreamPartEncoded> = []
            if (textOpen) out.push({ type: "text-end", id: TEXT_ID })
            for (const id of toolIds.values()) out.push({ type: "tool-params-end", id })
            for (const call of LlmResponse.toolCallsOf(part.response)) {
              out.push({ type: "tool-call", id: call.id, name: call.name, params: ToolCall.toPart(call).params, providerExecuted: false })
            }
            out.push(responseMetadataPart(part.response), finishPart(part.response))
            return out
          }
        }
      }),
      Stream.flattenIterable
    )
  })

const aiReasonOf = (error: LlmError.LlmError): AiError.AiErrorReason => {
  const metadata = { "llm-connect": LlmError.toDocument(error) as never }
  const reason = error.reason
  const description = error.message
  switch (reason._tag) {
    case "Authentication":
      return new AiError.AuthenticationError({ kind: "InvalidKey", description, metadata })
    case "PermissionDenied":
    case "PolicyDenied":
      return new AiError.AuthenticationError({ kind: "InsufficientPermissions", description, metadata })
    case "InvalidRequest":
    case "NotFound":
    case "Configuration":
    case "Unsupported":
      return new AiError.InvalidRequestError({
        description,
        metadata,
        ...(reason._tag === "InvalidRequest" && reason.parameter !== undefined ? { parameter: reason.parameter } : {}),
        ...(reason._tag === "NotFound" ? { parameter: "model" } : {})
      })
    case "RateLimited":
      return new AiError.RateLimitError({
        metadata,
        ...(reason.retryAfterMs !== undefined ? { retryAfter: Duration.millis(reason.retryAfterMs) } : {})
      })
    case "BudgetExceeded":
      return new AiError.QuotaExhaustedError({ metadata })
    case "ServerError":
    case "Unavailable":
      return new AiError.InternalProviderError({ description, metadata })
    case "Network":
    case "Timeout":
      return new AiError.NetworkError({ reason: "TransportError", method: "POST", url: error.provider, description })
    case "ContentFiltered":
      return new AiError.ContentPolicyError({ description, metadata })
    case "ResponseMalformed":
      return new AiError.InvalidResponseError({ description, metadata })
    case "InvalidOutput":
      return new AiError.InvalidOutputError({ description, metadata })
    case "CircuitOpen":
    case "Interrupted":
    case "Unknown":
      return new AiError.UnknownError({ description, metadata })
  }
}

/**
 * Our error as `effect/ai`'s: the nearest `AiError` reason (see ADR 0021's table), with our
 * error document (reason tag and fields, provider, model, status; never a key or a prompt) in its
 * metadata under `llm-connect`.
 *
 * @since 0.1.0
 * @category converting
 */
export const toAiError = (error: LlmError.LlmError, method = "generateText"): AiError.AiError =>
  AiError.make({ module: "llm-connect", method, reason: aiReasonOf(error) })

/**
 * Our `LanguageModel` (any provider, with whatever stack it was built with) as `effect/ai`'s.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toAiLanguageModel = (model: LanguageModel.Service): Effect.Effect<AiLanguageModel.LanguageModel> =>
  AiLanguageModel.make({
    generateText: (options) =>
      Effect.flatMap(requestOf(options, "generateText"), (request) =>
        Effect.mapError(Effect.map(model.generate(request), partsOf), (error) => toAiError(error, "generateText"))),
    streamText: (options) =>
      Stream.unwrap(Effect.map(requestOf(options, "streamText"), (request) =>
        streamPartsOf(model.stream(request)).pipe(Stream.mapError((error) => toAiError(error, "streamText")))))
  })

/**
 * `effect/ai`'s `LanguageModel` from our `LanguageModel` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<AiLanguageModel.LanguageModel, never, LanguageModel.LanguageModel> = Layer.effect(
  AiLanguageModel.LanguageModel,
  Effect.flatMap(Effect.service(LanguageModel.LanguageModel), toAiLanguageModel)
)

/**
 * `effect/ai`'s `LanguageModel` on the stack a configuration describes (`Stack.make`: the
 * provider with its budget, retry, limits, timeouts, observability and ledger), and our
 * `LanguageModel` beside it.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * const program = LanguageModel.generateText({ prompt: "Name a river" })
 * program.pipe(Effect.provide(EffectAi.layerLanguageModel({ provider: { provider: "openai" }, budget })), Effect.provide(NodeProviders.layer))
 */
export const layerLanguageModel = (
  config: Stack.StackConfig
): Layer.Layer<
  AiLanguageModel.LanguageModel | LanguageModel.LanguageModel,
  LlmError.LlmError,
  ProviderRegistry.ProviderRegistry
> => Layer.provideMerge(layer, Stack.layer(config))

// ---------------------------------------------------------------------------------------------
// Any effect/ai model as ours
// ---------------------------------------------------------------------------------------------

/**
 * How an `effect/ai` model is named as our provider, and how our request's generation settings
 * reach it.
 *
 * @since 0.1.0
 * @category models
 */
export interface FromAiOptions {
  /** Our provider name for it (responses, errors, the ledger, prices), e.g. `"my-ai"`. */
  readonly provider: string
  /** The model name reported when the `effect/ai` model names none. */
  readonly defaultModel: string
  /**
   * Applies our request's settings `effect/ai`'s provider-neutral options do not carry
   * (maxTokens, temperature, topP, stop, the model) to one call, usually with the `effect/ai`
   * provider's own config override (e.g. its `withConfigOverride`). Without it such settings
   * cannot be honoured and each response says so in `warnings`.
   */
  readonly configure?: (<A, E, R>(request: LlmRequest.LlmRequest, call: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) | undefined
}

/**
 * Our request as `effect/ai`'s encoded prompt.
 *
 * @since 0.1.0
 * @category converting
 */
export const promptOf = (request: LlmRequest.LlmRequest): Prompt.Prompt => {
  const messages: Array<Prompt.MessageEncoded> = []
  if (request.system !== undefined) messages.push({ role: "system", content: request.system })
  for (const message of request.messages) {
    const parts: ReadonlyArray<Message.Part> = typeof message.content === "string"
      ? [{ type: "text", text: message.content }]
      : message.content
    switch (message.role) {
      case "system":
        messages.push({ role: "system", content: parts.map((part) => (part.type === "text" ? part.text : "")).join("") })
        break
      case "user":
        messages.push({
          role: "user",
          content: parts.map((part): Prompt.UserMessagePartEncoded => ({
            type: "text",
            text: part.type === "text" ? part.text : part.type === "tool-result" ? JSON.stringify(part.result) : ""
          }))
        })
        break
      case "assistant":
        messages.push({
          role: "assistant",
          content: parts.map((part): Prompt.AssistantMessagePartEncoded =>
            part.type === "text"
              ? { type: "text", text: part.text }
              : part.type === "tool-call"
              ? { type: "tool-call", id: part.id, name: part.name, params: part.params }
              : { type: "tool-result", id: part.id, name: part.name, result: part.result, isFailure: part.isFailure === true }
          )
        })
        break
      case "tool":
        messages.push({
          role: "tool",
          content: parts.flatMap((part): Array<Prompt.ToolMessagePartEncoded> =>
            part.type === "tool-result"
              ? [{ type: "tool-result", id: part.id, name: part.name, result: part.result, isFailure: part.isFailure === true }]
              : [])
        })
        break
    }
  }
  return Prompt.make(messages)
}

const dynamicTool = (tool: Tool.Definition) =>
  AiTool.dynamic(tool.name, {
    ...(tool.description !== undefined ? { description: tool.description } : {}),
    parameters: tool.parameters as JsonSchema.JsonSchema
  })

type DynamicTools = Record<string, ReturnType<typeof dynamicTool>>

// Our declared tools as effect/ai dynamic tools, in a toolkit whose calls are never resolved
// (the caller runs them, as with every provider of ours): `disableToolCallResolution`.
const toolkitOf = (tools: ReadonlyArray<Tool.Definition>): Toolkit.WithHandler<DynamicTools> => {
  const byName: DynamicTools = {}
  for (const tool of tools) {
    byName[tool.name] = dynamicTool(tool)
  }
  return {
    tools: byName,
    handle: (name) => Effect.die(`llm-connect does not resolve tool calls inside a provider (tool ${String(name)})`)
  }
}

const finishReasonOf = (reason: Response.FinishReason): LlmResponse.FinishReason => {
  switch (reason) {
    case "pause":
    case "unknown":
      return "other"
    default:
      return reason
  }
}

const UNHONOURED = ["maxTokens", "temperature", "topP", "stop"] as const

const unhonoured = (request: LlmRequest.LlmRequest, options: FromAiOptions): ReadonlyArray<string> =>
  options.configure !== undefined
    ? []
    : UNHONOURED.filter((key) => request[key] !== undefined).map((key) =>
      `${key} cannot be passed through effect/ai's provider-neutral LanguageModel: give EffectAi.fromAiLanguageModel a configure function (${key} not honoured)`
    )

interface Collected {
  text: string
  readonly parts: Array<LlmResponse.ResponsePart>
  readonly calls: Array<ToolCall.ToolCall>
  model: string | undefined
  requestId: string | undefined
  reason: Response.FinishReason | undefined
  usage: Response.Usage | undefined
}

const emptyCollected = (): Collected => ({
  text: "",
  parts: [],
  calls: [],
  model: undefined,
  requestId: undefined,
  reason: undefined,
  usage: undefined
})

const collect = (state: Collected, part: AnyPart): void => {
  switch (part.type) {
    case "text": {
      const text = (part as Response.TextPart).text
      state.text += text
      state.parts.push({ type: "text", text })
      break
    }
    case "text-delta":
      state.text += (part as Response.TextDeltaPart).delta
      break
    case "tool-call": {
      const { id, name, params, providerExecuted } = part as Response.ToolCallPart<string, unknown>
      if (providerExecuted === true) break
      const call = ToolCall.fromValue(id, name, params)
      state.calls.push(call)
      state.parts.push(ToolCall.toPart(call))
      break
    }
    case "response-metadata": {
      const { id, modelId } = part as Response.ResponseMetadataPart
      if (modelId !== undefined) state.model = modelId
      if (id !== undefined) state.requestId = id
      break
    }
    case "finish": {
      const { reason, usage } = part as Response.FinishPart
      state.reason = reason
      state.usage = usage
      break
    }
  }
}

const responseOf = (
  state: Collected,
  request: LlmRequest.LlmRequest,
  options: FromAiOptions,
  startedAt: number,
  now: number
): LlmResponse.LlmResponse => {
  const reported = state.usage
  const inputTotal = reported?.inputTokens.total
  const outputTotal = reported?.outputTokens.total
  // A provider that reports no usage is charged our count, marked estimated (never 0).
  const estimated = inputTotal === undefined || outputTotal === undefined
  const usage = Usage.make({
    inputTokens: inputTotal ?? Tokenizer.countRequest(request),
    outputTokens: outputTotal ?? Tokenizer.countText(state.text),
    cachedInputTokens: reported?.inputTokens.cacheRead,
    cacheWriteInputTokens: reported?.inputTokens.cacheWrite,
    reasoningTokens: reported?.outputTokens.reasoning,
    estimated
  })
  const warnings = unhonoured(request, options)
  const model = state.model ?? request.model ?? options.defaultModel
  const textOnly = state.calls.length === 0
  return {
    content: state.text,
    ...(textOnly ? {} : { parts: mergeText(state), toolCalls: state.calls }),
    model,
    ...(request.model !== undefined && request.model !== model ? { requestedModel: request.model } : {}),
    provider: options.provider,
    usage,
    finishReason: state.reason === undefined ? "other" : finishReasonOf(state.reason),
    ...(state.reason !== undefined ? { rawFinishReason: state.reason } : {}),
    latencyMs: Math.max(0, now - startedAt),
    ...(state.requestId !== undefined ? { requestId: state.requestId } : {}),
    ...(warnings.length > 0 ? { warnings } : {})
  }
}

// Streamed text arrives as deltas: one text part before the calls.
const mergeText = (state: Collected): ReadonlyArray<LlmResponse.ResponsePart> =>
  state.parts.length > 0 ? state.parts : [...(state.text === "" ? [] : [{ type: "text" as const, text: state.text }]), ...state.calls.map(ToolCall.toPart)]

const statusOf = (reason: AiError.AiErrorReason): number | undefined =>
  "http" in reason && reason.http !== undefined ? reason.http.response?.status : undefined

/**
 * `effect/ai`'s error as ours: the nearest reason, retryable where `effect/ai` says it is
 * (see ADR 0021's table).
 *
 * @since 0.1.0
 * @category converting
 */
export const fromAiError = (error: AiError.AiError, options: { readonly provider: string; readonly model?: string | undefined }): LlmError.LlmError => {
  const reason = error.reason
  const status = statusOf(reason)
  const description = reason.message ?? error.message
  const extra = { model: options.model, status, sent: !(reason._tag === "NetworkError" && reason.reason !== "TransportError") }
  const make = (llmReason: LlmError.LlmErrorReason) => LlmError.make(options.provider, llmReason, extra)
  switch (reason._tag) {
    case "RateLimitError":
      return make(new LlmError.RateLimited({
        description,
        ...(reason.retryAfter !== undefined ? { retryAfterMs: Duration.toMillis(reason.retryAfter) } : {})
      }))
    case "QuotaExhaustedError":
      return make(new LlmError.PermissionDenied({ description: `quota exhausted: ${description}` }))
    case "AuthenticationError":
      return make(reason.kind === "InsufficientPermissions"
        ? new LlmError.PermissionDenied({ description })
        : new LlmError.Authentication({ description }))
    case "ContentPolicyError":
      return make(new LlmError.ContentFiltered({ description }))
    case "InvalidRequestError":
    case "InvalidUserInputError":
    case "ToolNotFoundError":
    case "ToolParameterValidationError":
    case "ToolkitRequiredError":
    case "ToolConfigurationError":
      return make(new LlmError.InvalidRequest({
        description,
        ...(reason._tag === "InvalidRequestError" && reason.parameter !== undefined ? { parameter: reason.parameter } : {})
      }))
    case "InternalProviderError":
      return make(status === 503
        ? new LlmError.Unavailable({ description })
        : new LlmError.ServerError({ description, status: status ?? 500 }))
    case "NetworkError":
      return make(new LlmError.Network({ description }))
    case "InvalidResponseError":
      return make(new LlmError.ResponseMalformed({ description }))
    case "InvalidOutputError":
    case "StructuredOutputError":
    case "InvalidToolResultError":
    case "ToolResultEncodingError":
      return make(new LlmError.InvalidOutput({ description }))
    case "UnsupportedSchemaError":
      return make(new LlmError.Unsupported({ description, feature: "responseFormat" }))
    case "UnknownError":
      return make(status !== undefined && status >= 500
        ? new LlmError.ServerError({ description, status })
        : new LlmError.Unknown({ description }))
  }
}

type AnyPart = { readonly type: string }

// One call of the effect/ai model: our tools as its dynamic tools, their calls left unresolved.
const callText = (
  ai: AiLanguageModel.LanguageModel,
  request: LlmRequest.LlmRequest
): Effect.Effect<ReadonlyArray<AnyPart>, AiError.AiError> => {
  const prompt = promptOf(request)
  const tools = request.tools ?? []
  if (tools.length === 0) return Effect.map(ai.generateText({ prompt }), (response) => response.content)
  return Effect.map(
    ai.generateText({
      prompt,
      toolkit: toolkitOf(tools),
      disableToolCallResolution: true,
      toolCallValidation: "deferred",
      toolChoice: request.toolChoice ?? "auto"
    }),
    (response) => response.content
  )
}

const callStream = (
  ai: AiLanguageModel.LanguageModel,
  request: LlmRequest.LlmRequest
): Stream.Stream<AnyPart, AiError.AiError> => {
  const prompt = promptOf(request)
  const tools = request.tools ?? []
  if (tools.length === 0) return ai.streamText({ prompt })
  return ai.streamText({
    prompt,
    toolkit: toolkitOf(tools),
    disableToolCallResolution: true,
    toolCallValidation: "deferred",
    toolChoice: request.toolChoice ?? "auto"
  })
}

/**
 * An `effect/ai` model as our `LanguageModel` (the bare provider: wrap it with the stack, e.g.
 * by registering {@link provider}). A request with `responseFormat` asks for a JSON answer in the
 * prompt only (effect/ai's `generateObject` takes an Effect Schema, ours a JSON Schema): our
 * structured-output layer parses and repairs it as for any provider.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromAiLanguageModel = (ai: AiLanguageModel.LanguageModel, options: FromAiOptions): LanguageModel.Service => {
  const configure = <A, E, R>(request: LlmRequest.LlmRequest, call: Effect.Effect<A, E, R>) =>
    options.configure === undefined ? call : options.configure(request, call)
  const failWith = (request: LlmRequest.LlmRequest) => (error: AiError.AiError) =>
    fromAiError(error, { provider: options.provider, model: request.model ?? options.defaultModel })
  const generate = (request: LlmRequest.LlmRequest): Effect.Effect<LlmResponse.LlmResponse, LlmError.LlmError> =>
    Effect.gen(function*() {
      const startedAt = Date.now()
      const response = yield* Effect.mapError(configure(request, callText(ai, request)), failWith(request))
      const state = emptyCollected()
      for (const part of response) collect(state, part)
      return responseOf(state, request, options, startedAt, Date.now())
    })
  const stream = (request: LlmRequest.LlmRequest): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
    Stream.suspend(() => {
      const startedAt = Date.now()
      const state = emptyCollected()
      let calls = 0
      const parts: Stream.Stream<AnyPart, AiError.AiError> = Stream.unwrap(configure(request, Effect.succeed(callStream(ai, request))))
      return parts.pipe(
        Stream.mapError(failWith(request)),
        Stream.map((part): ReadonlyArray<StreamPart.StreamPart> => {
          const before = state.calls.length
          collect(state, part)
          if (part.type === "text-delta" && (part as Response.TextDeltaPart).delta !== "") {
            return [StreamPart.textDelta((part as Response.TextDeltaPart).delta)]
          }
          if (state.calls.length > before) {
            const call = state.calls[state.calls.length - 1]!
            return [{ type: "tool-call-delta", index: calls++, id: call.id, name: call.name, argumentsDelta: ToolCall.argumentsText(call) }]
          }
          return []
        }),
        Stream.flattenIterable,
        Stream.concat(Stream.suspend(() => Stream.succeed(StreamPart.finish(responseOf(state, request, options, startedAt, Date.now())))))
      )
    })
  return LanguageModel.make({ provider: options.provider, defaultModel: options.defaultModel, generate, stream })
}

/**
 * Our `LanguageModel` from the `effect/ai` model in context (the bare provider).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromAi = (options: FromAiOptions): Layer.Layer<LanguageModel.LanguageModel, never, AiLanguageModel.LanguageModel> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.map(Effect.service(AiLanguageModel.LanguageModel), (ai) => fromAiLanguageModel(ai, options))
  )

/**
 * The `effect/ai` model in context as a provider to register (`ProviderRegistry.register`), so
 * that a configuration naming `options.provider` builds the whole stack (budget, retry, limits,
 * timeouts, observability, ledger) over it like over a built-in provider.
 *
 * @since 0.1.0
 * @category constructors
 */
export const provider = (
  options: FromAiOptions & { readonly description?: string | undefined }
): Effect.Effect<ProviderRegistry.Provider, never, AiLanguageModel.LanguageModel> =>
  Effect.map(Effect.service(AiLanguageModel.LanguageModel), (ai) => {
    const base = fromAiLanguageModel(ai, options)
    return {
      name: options.provider,
      description: options.description ?? `an effect/ai LanguageModel (${options.defaultModel})`,
      defaultModel: options.defaultModel,
      keyEnv: [],
      requiresKey: false,
      make: (config) =>
        Effect.succeed(config.model === undefined || config.model === options.defaultModel
          ? base
          : fromAiLanguageModel(ai, { ...options, defaultModel: config.model }))
    }
  })
