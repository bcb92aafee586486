/**
 * The JSON Lines that `llm-connect prompt --stream --json` writes on stdout, one event a line:
 *
 *   {"type":"text-delta","text":"The Nile "}
 *   {"type":"tool-call-delta","index":0,"id":"call_1","name":"weather","argumentsDelta":"{\"city\""}
 *   {"type":"finish","response":{...}}           the last line on success: the `--json` document
 *   {"type":"error","error":"...","errorType":"..."}   the last line on failure: the error document
 *
 * The first three are the stream parts (`StreamPart`) as they are; the error event is the error
 * document every `--json` failure prints (`LlmError.toDocument`, `contracts/error.schema.json`)
 * with `"type": "error"` in front. A stream has exactly one last line, `finish` or `error`.
 * Readers ignore line types they do not know, so that new types can be added. The JSON Schema
 * of a line is generated from {@link StreamEvent} into `contracts/prompt-stream-event.schema.json`.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as LlmError from "../LlmError.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import * as StreamPart from "../StreamPart.ts"

/**
 * The failure line: `"type": "error"` and the error document, one branch per `errorType` with
 * the reason's own fields (as `contracts/error.schema.json` has them).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorEvent = Schema.Union(
  LlmError.LlmErrorReason.members.map((reason) => {
    const { _tag, ...fields } = reason.fields
    return Schema.Struct({ type: Schema.Literal("error"), ...LlmError.ErrorDocument.fields, errorType: _tag, ...fields }).annotate({
      identifier: `${reason.identifier}Event`
    })
  })
).annotate({
  identifier: "ErrorEvent",
  description: "The last line of a failed stream: \"type\": \"error\" and the error document `--json` prints on failure."
})

/**
 * @since 0.1.0
 * @category models
 */
export type ErrorEvent = typeof ErrorEvent.Type

/**
 * Any line of `prompt --stream --json`. Readers ignore types they do not know.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StreamEvent = Schema.Union([StreamPart.TextDelta, StreamPart.ToolCallDelta, StreamPart.Finish, ErrorEvent]).annotate({
  identifier: "PromptStreamEvent",
  description: "One line of `llm-connect prompt --stream --json`: text-delta and tool-call-delta lines as they arrive, " +
    "then exactly one finish line (the response, as `--json` prints it) or one error line (the error document). " +
    "Readers ignore line types they do not know."
})

/**
 * @since 0.1.0
 * @category models
 */
export type StreamEvent = typeof StreamEvent.Type

/**
 * The line of a stream part (without the newline). Each part is written with its fields only, in
 * a fixed order, so the finish line's `response` is exactly the `--json` document.
 *
 * @since 0.1.0
 * @category rendering
 */
export const partLine = (part: StreamPart.StreamPart): string => {
  switch (part.type) {
    case "text-delta":
      return JSON.stringify({ type: part.type, text: part.text })
    case "tool-call-delta":
      return JSON.stringify({
        type: part.type,
        index: part.index,
        ...(part.id !== undefined ? { id: part.id } : {}),
        ...(part.name !== undefined ? { name: part.name } : {}),
        argumentsDelta: part.argumentsDelta
      })
    case "finish":
      return finishLine(part.response)
  }
}

/**
 * The finish line of a response.
 *
 * @since 0.1.0
 * @category rendering
 */
export const finishLine = (response: LlmResponse): string => JSON.stringify({ type: "finish", response })

/**
 * The error line of an error document (`LlmError.toDocument`, or the CLI's interrupted document).
 *
 * @since 0.1.0
 * @category rendering
 */
export const errorLine = (document: Readonly<Record<string, unknown>>): string => JSON.stringify({ type: "error", ...document })
