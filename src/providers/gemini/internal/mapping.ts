/**
 * How Gemini's wire format maps to ours, for both paths: the request (`contents` and the
 * generation config), finish reasons, usage (`usageMetadata`), and the whole response, built
 * from a candidate's parts (text, and `functionCall` parts as tool calls). `generate` reads one
 * response with {@link readCandidate}; `stream` gathers the same facts chunk by chunk
 * (`StreamAssembler`); both end in {@link toResponse}, so the two paths answer alike.
 *
 * @since 0.1.0
 * @internal
 */
import { type Content, FunctionCallingConfigMode, type GenerateContentConfig, type GenerateContentResponse, type Part, type ToolConfig } from "@google/genai"
import type { LlmError } from "../../../LlmError.ts"
import type { LlmRequest } from "../../../LlmRequest.ts"
import type { FinishReason, LlmResponse, ResponsePart } from "../../../LlmResponse.ts"
import * as Message from "../../../Message.ts"
import type * as Tool from "../../../Tool.ts"
import * as ToolCall from "../../../ToolCall.ts"
import * as Tokenizer from "../../../Tokenizer.ts"
import * as Usage from "../../../Usage.ts"
import * as Errors from "./errors.ts"

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
 * Normalises a Gemini finish reason. Gemini ends a turn that calls functions with `STOP`: with
 * tool calls in the answer that is `tool-calls`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toFinishReason = (raw: string | undefined, hasToolCalls = false): FinishReason => {
  if (raw === undefined || raw === "STOP") return hasToolCalls ? "tool-calls" : "stop"
  if (raw === "MAX_TOKENS") return "length"
  if (FILTER_REASONS.has(raw)) return "content-filter"
  if (raw === "MALFORMED_FUNCTION_CALL") return "error"
  return "other"
}

/**
 * Whether a call id is one this adapter made up (Gemini sent none): such ids are not sent back.
 *
 * @since 0.1.0
 * @category mapping
 */
export const isSyntheticId = (id: string): boolean => /^call_\d+_\d+$/.test(id)

/**
 * The id of a call Gemini sent without one: `call_<turn>_<position>`, the turn being the number
 * of assistant messages before the answer. Stable (the same request gets the same ids, on both
 * paths) and unique within a conversation.
 *
 * @since 0.1.0
 * @category mapping
 */
export const syntheticId = (turn: number, ordinal: number): string => `call_${turn}_${ordinal}`

/**
 * The turn of the answer to a request: how many assistant messages it holds.
 *
 * @since 0.1.0
 * @category mapping
 */
export const turnOf = (request: LlmRequest): number => {
  let turn = 0
  for (const message of request.messages) if (message.role === "assistant") turn++
  return turn
}

const functionResponse = (part: Message.ToolResultPart): Record<string, unknown> => {
  const result = part.result
  if (part.isFailure === true) return { error: result }
  return typeof result === "object" && result !== null && !Array.isArray(result) ? { ...result } : { result }
}

const toSdkPart = (part: Message.Part): Part => {
  switch (part.type) {
    case "text":
      return { text: part.text }
    case "tool-call": {
      const signature = thoughtSignatureOf(part)
      return {
        ...(signature !== undefined ? { thoughtSignature: signature } : {}),
        functionCall: {
          ...(isSyntheticId(part.id) ? {} : { id: part.id }),
          name: part.name,
          args: typeof part.params === "object" && part.params !== null && !Array.isArray(part.params)
            ? { ...part.params }
            : { value: part.params }
        }
      }
    }
    case "tool-result":
      return {
        functionResponse: {
          ...(isSyntheticId(part.id) ? {} : { id: part.id }),
          name: part.name,
          response: functionResponse(part)
        }
      }
  }
}

const thoughtSignatureOf = (part: Message.ToolCallPart): string | undefined => {
  const gemini = part.providerMetadata?.gemini
  const signature = typeof gemini === "object" && gemini !== null ? (gemini as { thoughtSignature?: unknown }).thoughtSignature : undefined
  return typeof signature === "string" && signature !== "" ? signature : undefined
}

const toolConfigOf = (choice: Tool.ToolChoice): ToolConfig => {
  if (typeof choice !== "string") {
    return { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY, allowedFunctionNames: [choice.tool] } }
  }
  const mode = choice === "auto"
    ? FunctionCallingConfigMode.AUTO
    : choice === "none"
    ? FunctionCallingConfigMode.NONE
    : FunctionCallingConfigMode.ANY
  return { functionCallingConfig: { mode } }
}

/**
 * Maps a request to the SDK's `contents` and generation config: text as text parts, an
 * assistant's tool calls as `functionCall` parts (with the `thoughtSignature` Gemini gave them,
 * kept in the part's `providerMetadata.gemini`), tool results as `functionResponse` parts in a
 * user turn (consecutive tool messages joined, as Gemini wants the results of one turn
 * together); tools as `functionDeclarations` with their JSON Schema as `parametersJsonSchema`,
 * and the tool choice as `toolConfig.functionCallingConfig` (`auto` AUTO, `none` NONE,
 * `required` ANY, a named tool ANY with `allowedFunctionNames`); structured output
 * (`responseFormat`) as `responseMimeType: application/json` and `responseJsonSchema`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toSdkRequest = (request: LlmRequest): { contents: Array<Content>; config: GenerateContentConfig } => {
  const system: Array<string> = request.system !== undefined ? [request.system] : []
  const contents: Array<Content> = []
  let results: Array<Part> | undefined
  for (const message of request.messages) {
    if (message.role === "system") {
      system.push(Message.text(message))
      continue
    }
    const parts = typeof message.content === "string" ? [{ text: message.content }] : message.content.map(toSdkPart)
    if (message.role === "tool") {
      if (results !== undefined) results.push(...parts)
      else {
        results = parts
        contents.push({ role: "user", parts: results })
      }
      continue
    }
    results = undefined
    contents.push({ role: message.role === "assistant" ? "model" : "user", parts })
  }
  const tools = request.tools !== undefined && request.tools.length > 0
    ? {
      tools: [{
        functionDeclarations: request.tools.map((tool) => ({
          name: tool.name,
          ...(tool.description !== undefined ? { description: tool.description } : {}),
          parametersJsonSchema: tool.parameters
        }))
      }]
    }
    : {}
  const config: GenerateContentConfig = {
    ...(system.length > 0 ? { systemInstruction: system.join("\n\n") } : {}),
    ...(request.maxTokens !== undefined ? { maxOutputTokens: request.maxTokens } : {}),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.topP !== undefined ? { topP: request.topP } : {}),
    ...(request.stop !== undefined && request.stop.length > 0 ? { stopSequences: [...request.stop] } : {}),
    ...tools,
    ...(request.toolChoice !== undefined ? { toolConfig: toolConfigOf(request.toolChoice) } : {}),
    // Structured output: JSON Schema as is in responseJsonSchema (responseSchema takes Gemini's
    // OpenAPI subset instead), with the JSON MIME type it requires.
    ...(request.responseFormat !== undefined
      ? { responseMimeType: "application/json", responseJsonSchema: request.responseFormat.schema }
      : {})
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
 * A tool call in a response.
 *
 * @since 0.1.0
 * @category models
 */
export type ToolCallPart = Extract<ResponsePart, { type: "tool-call" }>

/**
 * A `functionCall` part as a tool call. Gemini often sends no id: the call then gets a stable
 * one from its turn and position ({@link syntheticId}), so that a tool result can refer to it.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toToolCall = (part: Part, turn: number, ordinal: number): ToolCall.ToolCall | undefined => {
  const call = part.functionCall
  if (call === undefined || call === null) return undefined
  return ToolCall.fromValue(
    typeof call.id === "string" && call.id !== "" ? call.id : syntheticId(turn, ordinal),
    typeof call.name === "string" ? call.name : "",
    call.args
  )
}

/**
 * The answer gathered from a candidate's parts: its text, and (once a tool call came) its parts
 * up to `textStart`, where the text not yet in a part starts.
 *
 * @since 0.1.0
 * @category models
 */
export interface Answer {
  content: string
  readonly parts: Array<ResponsePart>
  readonly calls: Array<ToolCall.ToolCall>
  textStart: number
  toolCalls: number
  /** The turn of the answer, for the ids of calls Gemini sends without one. */
  readonly turn: number
}

/**
 * An empty answer.
 *
 * @since 0.1.0
 * @category constructors
 */
export const emptyAnswer = (turn = 0): Answer => ({ content: "", parts: [], calls: [], textStart: 0, toolCalls: 0, turn })

/**
 * Adds a part of a candidate to the answer so far: text (thoughts excluded) to the content, a
 * function call as a tool call (after the text before it, as a text part). Returns what it
 * added, for the stream.
 *
 * @since 0.1.0
 * @category mapping
 */
export const addPart = (
  answer: Answer,
  part: Part
): { readonly text: string; readonly toolCall?: undefined } | { readonly text?: undefined; readonly toolCall: ToolCall.ToolCall } | undefined => {
  if (typeof part !== "object" || part === null) return undefined
  if (typeof part.text === "string" && part.thought !== true) {
    if (part.text === "") return undefined
    answer.content += part.text
    return { text: part.text }
  }
  const toolCall = toToolCall(part, answer.turn, answer.toolCalls)
  if (toolCall === undefined) return undefined
  if (answer.content.length > answer.textStart) answer.parts.push({ type: "text", text: answer.content.slice(answer.textStart) })
  answer.textStart = answer.content.length
  answer.toolCalls++
  answer.calls.push(toolCall)
  // Thinking models sign their calls; the signature must come back with the call next turn.
  const signature = typeof part.thoughtSignature === "string" && part.thoughtSignature !== "" ? part.thoughtSignature : undefined
  answer.parts.push({
    ...ToolCall.toPart(toolCall),
    ...(signature !== undefined ? { providerMetadata: { gemini: { thoughtSignature: signature } } } : {})
  })
  return { toolCall }
}

/**
 * The parts of a finished answer (`undefined` when it is text only).
 *
 * @since 0.1.0
 * @category mapping
 */
export const partsOf = (answer: Answer): Array<ResponsePart> | undefined => {
  if (answer.toolCalls === 0) return undefined
  return answer.content.length > answer.textStart
    ? [...answer.parts, { type: "text", text: answer.content.slice(answer.textStart) }]
    : answer.parts
}

/**
 * What one whole response says (or, for a stream, what its chunks said, the latest of each).
 *
 * @since 0.1.0
 * @category models
 */
export interface Facts {
  readonly answer: Answer
  readonly rawFinishReason: string | undefined
  readonly usage: Usage.Usage | undefined
  readonly modelVersion: string | undefined
  readonly requestId: string | undefined
  /** `promptFeedback.blockReason`: the prompt itself was blocked. */
  readonly blockReason: string | undefined
  /** Whether a candidate came at all. */
  readonly hasCandidate: boolean
}

/**
 * Reads a whole (non-streamed) response; `undefined` when it is not an object.
 *
 * @since 0.1.0
 * @category mapping
 */
export const readCandidate = (response: GenerateContentResponse, turn = 0): Facts | undefined => {
  if (typeof response !== "object" || response === null) return undefined
  const candidate = Array.isArray(response.candidates) ? response.candidates[0] : undefined
  const answer = emptyAnswer(turn)
  const parts = Array.isArray(candidate?.content?.parts) ? candidate.content.parts : []
  for (const part of parts) addPart(answer, part)
  return {
    answer,
    rawFinishReason: typeof candidate?.finishReason === "string" ? candidate.finishReason : undefined,
    usage: toUsage(response.usageMetadata),
    modelVersion: typeof response.modelVersion === "string" ? response.modelVersion : undefined,
    requestId: typeof response.responseId === "string" ? response.responseId : undefined,
    blockReason: typeof response.promptFeedback?.blockReason === "string" ? response.promptFeedback.blockReason : undefined,
    hasCandidate: candidate !== undefined
  }
}

/**
 * The whole response, or the error it ends with: a blocked prompt, or output filtered before
 * any text, is `ContentFiltered`; no candidate and no block reason is `ResponseMalformed`.
 * Usage without `usageMetadata` is counted locally and marked `estimated`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toResponse = (
  call: Errors.CallInfo,
  request: LlmRequest,
  facts: Facts,
  latencyMs: number
): LlmResponse | LlmError => {
  const { answer, rawFinishReason, requestId } = facts
  if (!facts.hasCandidate) {
    if (facts.blockReason !== undefined) {
      return Errors.contentFiltered(call, `Gemini blocked the prompt (${facts.blockReason})`, requestId)
    }
    return Errors.malformed(call, "no candidates and no block reason")
  }
  const finishReason = toFinishReason(rawFinishReason, answer.toolCalls > 0)
  if (finishReason === "content-filter" && answer.content === "" && answer.toolCalls === 0) {
    return Errors.contentFiltered(call, `Gemini filtered the output (${rawFinishReason})`, requestId)
  }
  return {
    content: answer.content,
    ...(answer.toolCalls > 0 ? { parts: partsOf(answer)!, toolCalls: answer.calls } : {}),
    model: facts.modelVersion ?? call.model,
    provider: Errors.PROVIDER,
    usage: facts.usage ?? estimateUsage(request, answer),
    finishReason,
    ...(rawFinishReason !== undefined ? { rawFinishReason } : {}),
    latencyMs: Math.max(0, latencyMs),
    ...(requestId !== undefined ? { requestId } : {})
  }
}

/**
 * Usage counted locally (the request, and the answer's text and tool-call arguments), marked
 * `estimated`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const estimateUsage = (request: LlmRequest, answer: Answer): Usage.Usage => {
  let output = answer.content
  if (answer.toolCalls > 0) {
    for (const call of answer.calls) output += call.name + ToolCall.argumentsText(call)
  }
  return Usage.make({
    inputTokens: Tokenizer.countRequest(request),
    outputTokens: Tokenizer.countText(output),
    estimated: true
  })
}
