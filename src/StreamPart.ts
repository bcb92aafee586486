/**
 * The parts of a streamed response.
 *
 * A stream is a sequence of parts ending with exactly one `finish` part, which carries the whole
 * `LlmResponse` (content, usage, finish reason, model). Before it come `text-delta` parts (text
 * as it arrives) and `tool-call-delta` parts (a tool call's fragments, by `index`: the first
 * fragment of a call names its `id` and `name`, every fragment adds to its arguments' JSON). The
 * CLI's JSON Lines and the Promise client use the same shapes; `effect/ai` interop maps `text` to
 * its `delta`. Readers ignore part types they do not know, so new types can be added.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as LlmResponse from "./LlmResponse.ts"
import * as ToolCall from "./ToolCall.ts"

/**
 * Text added to the answer.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TextDelta = Schema.Struct({
  type: Schema.Literal("text-delta"),
  text: Schema.String
}).annotate({ identifier: "TextDelta" })

/**
 * @since 0.1.0
 * @category models
 */
export type TextDelta = typeof TextDelta.Type

/**
 * A fragment of a tool call: `index` says which call (0, 1, ...), `id` and `name` come with its
 * first fragment, `argumentsDelta` adds to its arguments' JSON text.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCallDelta = Schema.Struct({
  type: Schema.Literal("tool-call-delta"),
  index: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  id: Schema.optionalKey(Schema.String),
  name: Schema.optionalKey(Schema.String),
  argumentsDelta: Schema.String
}).annotate({ identifier: "ToolCallDelta" })

/**
 * @since 0.1.0
 * @category models
 */
export type ToolCallDelta = typeof ToolCallDelta.Type

/**
 * The end of the stream: the whole response.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Finish = Schema.Struct({
  type: Schema.Literal("finish"),
  response: LlmResponse.LlmResponse
}).annotate({ identifier: "Finish" })

/**
 * @since 0.1.0
 * @category models
 */
export type Finish = typeof Finish.Type

/**
 * Any stream part.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StreamPart = Schema.Union([TextDelta, ToolCallDelta, Finish]).annotate({ identifier: "StreamPart" })

/**
 * @since 0.1.0
 * @category models
 */
export type StreamPart = typeof StreamPart.Type

/**
 * Builds a text delta.
 *
 * @since 0.1.0
 * @category constructors
 */
export const textDelta = (text: string): TextDelta => ({ type: "text-delta", text })

/**
 * Builds the finish part.
 *
 * @since 0.1.0
 * @category constructors
 */
export const finish = (response: LlmResponse.LlmResponse): Finish => ({ type: "finish", response })

/**
 * The parts of a whole response, as a model without native streaming yields them: its text as
 * one delta (none when empty), each tool call as one delta, then the finish part.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (response: LlmResponse.LlmResponse): ReadonlyArray<StreamPart> => {
  const parts: Array<StreamPart> = []
  if (response.content !== "") parts.push(textDelta(response.content))
  const calls = response.toolCalls ?? ToolCall.fromParts(response.parts ?? [])
  for (let index = 0; index < calls.length; index++) {
    const call = calls[index]!
    parts.push({ type: "tool-call-delta", index, id: call.id, name: call.name, argumentsDelta: ToolCall.argumentsText(call) })
  }
  parts.push(finish(response))
  return parts
}

/**
 * Whether a part is the finish part.
 *
 * @since 0.1.0
 * @category guards
 */
export const isFinish = (part: StreamPart): part is Finish => part.type === "finish"
