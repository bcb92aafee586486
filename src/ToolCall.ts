/**
 * A model's request to call a tool, as a response reports it: `{ id, name, arguments }` with the
 * arguments parsed from the JSON the model wrote.
 *
 * A call whose arguments are not JSON (a model that wrote half an object, a stream cut short) is
 * kept, not thrown away: `{ id, name, arguments: null, rawArguments, argumentsError }`, so that a
 * caller (or an agent loop) can send the error back to the model. The id links the call to its
 * result (`Message.ToolResultPart.id`); a provider that gives none (Gemini) gets a stable one.
 *
 * Every provider builds its calls with {@link fromJsonText} (arguments as JSON text: OpenAI,
 * Anthropic streams) or {@link fromValue} (arguments already parsed: Anthropic, Gemini), and
 * builds the response's `parts` from them with {@link toPart}. Streams send a call in
 * `tool-call-delta` fragments; {@link Assembler} puts them back together.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type * as Message from "./Message.ts"

/**
 * A call whose arguments parsed.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ParsedToolCall = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  arguments: Schema.Unknown.annotate({ description: "The arguments, parsed from the model's JSON." })
}).annotate({ identifier: "ParsedToolCall" })

/**
 * A call whose arguments are not JSON: `rawArguments` is what the model wrote, `argumentsError`
 * why it does not parse.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UnparsedToolCall = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  arguments: Schema.Null,
  rawArguments: Schema.String.annotate({ description: "The arguments as the model wrote them." }),
  argumentsError: Schema.String.annotate({ description: "Why they do not parse as JSON." })
}).annotate({ identifier: "UnparsedToolCall" })

/**
 * A tool call: parsed, or kept with its raw arguments and the parse error.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCall = Schema.Union([UnparsedToolCall, ParsedToolCall]).annotate({
  identifier: "ToolCall",
  description: "{ id, name, arguments } or, when the arguments are not JSON, { id, name, arguments: null, rawArguments, argumentsError }."
})

/**
 * @since 0.1.0
 * @category models
 */
export type ToolCall = typeof ToolCall.Type

/**
 * @since 0.1.0
 * @category models
 */
export type UnparsedToolCall = typeof UnparsedToolCall.Type

/**
 * Whether a call's arguments did not parse.
 *
 * @since 0.1.0
 * @category guards
 */
export const isUnparsed = (call: ToolCall): call is UnparsedToolCall => "rawArguments" in call

/**
 * A call from its arguments' JSON text. Empty text (a call with no parameters, as OpenAI may
 * send it) is `{}`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ToolCall.fromJsonText("call_1", "get_weather", "{\"city\":\"Paris\"}") // arguments { city: "Paris" }
 * ToolCall.fromJsonText("call_2", "get_weather", "{\"city\":") // arguments null, rawArguments, argumentsError
 */
export const fromJsonText = (id: string, name: string, text: string): ToolCall => {
  if (text.trim() === "") return { id, name, arguments: {} }
  try {
    return { id, name, arguments: JSON.parse(text) }
  } catch (error) {
    return {
      id,
      name,
      arguments: null,
      rawArguments: text,
      argumentsError: error instanceof Error ? error.message : String(error)
    }
  }
}

/**
 * A call from arguments the provider already parsed (absent arguments are `{}`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromValue = (id: string, name: string, args: unknown): ToolCall => ({
  id,
  name,
  arguments: args === undefined || args === null ? {} : args
})

/**
 * The JSON text of a call's arguments: what the model wrote when it did not parse.
 *
 * @since 0.1.0
 * @category accessors
 */
export const argumentsText = (call: ToolCall): string =>
  isUnparsed(call) ? call.rawArguments : JSON.stringify(call.arguments ?? {}) ?? "{}"

/**
 * The call as a message part (for a response's `parts`, and for the assistant message that
 * sends it back in a conversation). A call that did not parse keeps its raw text as `params`.
 *
 * @since 0.1.0
 * @category converting
 */
export const toPart = (call: ToolCall): Message.ToolCallPart => ({
  type: "tool-call",
  id: call.id,
  name: call.name,
  params: isUnparsed(call) ? call.rawArguments : call.arguments
})

/**
 * The tool calls of a list of parts (their `params` taken as parsed arguments).
 *
 * @since 0.1.0
 * @category converting
 */
export const fromParts = (parts: ReadonlyArray<Message.Part>): ReadonlyArray<ToolCall> => {
  const calls: Array<ToolCall> = []
  for (const part of parts) if (part.type === "tool-call") calls.push(fromValue(part.id, part.name, part.params))
  return calls
}

/**
 * The warning a response carries for a call whose arguments did not parse.
 *
 * @since 0.1.0
 * @category converting
 */
export const unparsedWarning = (call: UnparsedToolCall, finishReason: string | undefined): string =>
  `the arguments of tool call ${call.id} (${call.name}) are not whole JSON (finish reason ${finishReason ?? "none"}): ` +
  `${call.argumentsError}; kept in rawArguments`

/**
 * Puts the calls of a stream back together from its `tool-call-delta` parts (by `index`: the
 * first fragment names the id and name, every fragment adds to the arguments' JSON). For
 * consumers of a stream who want the calls before the finish part; the finish part's response
 * already carries them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Assembler {
  /** Adds one fragment. */
  readonly add: (delta: { readonly index: number; readonly id?: string; readonly name?: string; readonly argumentsDelta: string }) => void
  /** The calls so far, in index order; a call with no id gets `call_<index>`. */
  readonly calls: () => ReadonlyArray<ToolCall>
}

/**
 * Makes an {@link Assembler}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const assembler = (): Assembler => {
  const byIndex = new Map<number, { id: string; name: string; text: string }>()
  return {
    add: (delta) => {
      let call = byIndex.get(delta.index)
      if (call === undefined) {
        call = { id: "", name: "", text: "" }
        byIndex.set(delta.index, call)
      }
      if (delta.id !== undefined && call.id === "") call.id = delta.id
      if (delta.name !== undefined && call.name === "") call.name = delta.name
      call.text += delta.argumentsDelta
    },
    calls: () =>
      [...byIndex.entries()].sort(([a], [b]) => a - b).map(([index, call]) =>
        fromJsonText(call.id === "" ? `call_${index}` : call.id, call.name, call.text)
      )
  }
}
