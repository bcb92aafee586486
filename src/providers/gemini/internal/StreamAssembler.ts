/**
 * Turns the chunks of one Gemini stream (`generateContentStream`'s `GenerateContentResponse`s)
 * into stream parts and, at the end, the whole response.
 *
 * Each chunk holds the candidate's new parts, and may hold its finish reason, the usage, the
 * model version and the response id:
 *
 * - a text part (thoughts excluded) emits a `text-delta`;
 * - a `functionCall` part comes whole: it emits one `tool-call-delta` with its id, name and all
 *   its arguments, and becomes a tool-call part of the response;
 * - `usageMetadata` is a running total, repeated in every chunk: the latest is kept, never summed;
 * - a filter finish reason (SAFETY, RECITATION, PROHIBITED_CONTENT...) fails the stream with
 *   `ContentFiltered`, after the text already sent; a blocked prompt (`promptFeedback`) too.
 *
 * The assembler is a small mutable state machine, made fresh for each call and used by one fiber
 * only (the stream's pull loop): no effect step per chunk.
 *
 * @since 0.1.0
 * @internal
 */
import type { GenerateContentResponse } from "@google/genai"
import type * as LlmError from "../../../LlmError.ts"
import type { LlmRequest } from "../../../LlmRequest.ts"
import type { LlmResponse } from "../../../LlmResponse.ts"
import * as StreamPart from "../../../StreamPart.ts"
import * as ToolCall from "../../../ToolCall.ts"
import * as Errors from "./errors.ts"
import * as Mapping from "./mapping.ts"

/**
 * The state of one stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface Assembler {
  /** Reads one chunk. */
  readonly onChunk: (chunk: GenerateContentResponse) => void
  /** The parts produced since the last call (the array is handed over). */
  readonly take: () => Array<StreamPart.StreamPart>
  /** Whether the answer is whole: a finish reason, or a blocked prompt, arrived. */
  readonly ended: () => boolean
  /** The response id, once a chunk named it. */
  readonly requestId: () => string | undefined
  /** The whole response at the end of the stream, or the error it ends with. */
  readonly finish: (latencyMs: number) => LlmResponse | LlmError.LlmError
}

/**
 * Makes the assembler of one stream.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (call: Errors.CallInfo, request: LlmRequest): Assembler => {
  const answer = Mapping.emptyAnswer(Mapping.turnOf(request))
  let pending: Array<StreamPart.StreamPart> = []
  let usageMetadata: GenerateContentResponse["usageMetadata"]
  let rawFinishReason: string | undefined
  let modelVersion: string | undefined
  let requestId: string | undefined
  let blockReason: string | undefined
  let hasCandidate = false

  const onChunk = (chunk: GenerateContentResponse) => {
    if (typeof chunk !== "object" || chunk === null) return
    // A running total: the latest replaces the one before.
    if (typeof chunk.usageMetadata?.promptTokenCount === "number") usageMetadata = chunk.usageMetadata
    if (typeof chunk.modelVersion === "string") modelVersion = chunk.modelVersion
    if (typeof chunk.responseId === "string") requestId = chunk.responseId
    const blocked = chunk.promptFeedback?.blockReason
    if (typeof blocked === "string") blockReason = blocked
    const candidate = Array.isArray(chunk.candidates) ? chunk.candidates[0] : undefined
    if (candidate === undefined || candidate === null) return
    hasCandidate = true
    const parts = candidate.content?.parts
    if (Array.isArray(parts)) {
      for (const part of parts) {
        const added = Mapping.addPart(answer, part)
        if (added === undefined) continue
        if (added.text !== undefined) pending.push(StreamPart.textDelta(added.text))
        else {
          const toolCall = added.toolCall
          pending.push({
            type: "tool-call-delta",
            index: answer.toolCalls - 1,
            id: toolCall.id,
            name: toolCall.name,
            argumentsDelta: ToolCall.argumentsText(toolCall)
          })
        }
      }
    }
    if (typeof candidate.finishReason === "string") rawFinishReason = candidate.finishReason
  }

  const finish = (latencyMs: number): LlmResponse | LlmError.LlmError => {
    const facts: Mapping.Facts = {
      answer,
      rawFinishReason,
      usage: Mapping.toUsage(usageMetadata),
      modelVersion,
      requestId,
      blockReason,
      hasCandidate
    }
    const response = Mapping.toResponse(call, request, facts, latencyMs)
    if ("content" in response && response.finishReason === "content-filter") {
      // The text before the block was sent; the rest of the answer was withheld.
      return Errors.contentFiltered(call, `Gemini filtered the output mid-stream (${rawFinishReason})`, requestId)
    }
    return response
  }

  return {
    onChunk,
    take: () => {
      const out = pending
      if (out.length > 0) pending = []
      return out
    },
    ended: () => rawFinishReason !== undefined || (blockReason !== undefined && !hasCandidate),
    requestId: () => requestId,
    finish
  }
}
