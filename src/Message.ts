/**
 * A chat message, its content parts, and the prompt shorthand that becomes a list of messages.
 *
 * Every request carries its conversation as `messages`. A plain string is shorthand for one
 * user message, so `LanguageModel.generate("hi")` and
 * `generate({ messages: [{ role: "user", content: "hi" }] })` are the same call.
 *
 * A message's `content` is a string or a list of parts. The parts are a subset of `effect/ai`'s
 * `Prompt` parts, spelled the same way so that interop is a like-for-like mapping: `text`,
 * `tool-call` (an assistant asking for a tool, `params` being the parsed arguments) and
 * `tool-result` (the answer to a call, linked by its `id`, on a `tool` message). Everything that
 * reads a message's text goes through {@link text}; everything that rewrites it through
 * {@link mapText}.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Who wrote a message: `tool` messages carry tool results.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Role = Schema.Literals(["system", "user", "assistant", "tool"]).annotate({
  identifier: "Role",
  description: "Who wrote the message: system, user, assistant, or tool (tool results)."
})

/**
 * @since 0.1.0
 * @category models
 */
export type Role = typeof Role.Type

/**
 * Text.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TextPart = Schema.Struct({
  type: Schema.Literal("text"),
  text: Schema.String
}).annotate({ identifier: "TextPart" })

/**
 * @since 0.1.0
 * @category models
 */
export type TextPart = typeof TextPart.Type

/**
 * An assistant's request to call a tool: its call id, the tool's name and the parsed arguments;
 * `providerMetadata` keeps what the provider wants back when the call is sent again (Gemini's
 * thought signature), keyed by provider.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolCallPart = Schema.Struct({
  type: Schema.Literal("tool-call"),
  id: Schema.String,
  name: Schema.String,
  params: Schema.Unknown,
  providerMetadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)).annotate({
    description: "What the provider needs back with the call in a later turn, by provider (e.g. gemini's thoughtSignature)."
  })
}).annotate({ identifier: "ToolCallPart" })

/**
 * @since 0.1.0
 * @category models
 */
export type ToolCallPart = typeof ToolCallPart.Type

/**
 * The result of a tool call, linked to the call by `id`; `isFailure` marks an error result.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolResultPart = Schema.Struct({
  type: Schema.Literal("tool-result"),
  id: Schema.String,
  name: Schema.String,
  result: Schema.Unknown,
  isFailure: Schema.optionalKey(Schema.Boolean)
}).annotate({ identifier: "ToolResultPart" })

/**
 * @since 0.1.0
 * @category models
 */
export type ToolResultPart = typeof ToolResultPart.Type

/**
 * One part of a message's content.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Part = Schema.Union([TextPart, ToolCallPart, ToolResultPart]).annotate({ identifier: "MessagePart" })

/**
 * @since 0.1.0
 * @category models
 */
export type Part = typeof Part.Type

/**
 * A message's content: a string (one text part), or a list of parts.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Content = Schema.Union([Schema.String, Schema.Array(Part)]).annotate({
  identifier: "MessageContent",
  description: "A string, or a list of parts (text, tool-call, tool-result)."
})

/**
 * @since 0.1.0
 * @category models
 */
export type Content = typeof Content.Type

/**
 * One message of a conversation.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Message = Schema.Struct({
  role: Role,
  content: Content
}).annotate({ identifier: "Message" })

/**
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type

/**
 * A prompt: a plain string (one user message) or a list of messages.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Prompt = Schema.Union([Schema.String, Schema.Array(Message)]).annotate({
  identifier: "Prompt",
  description: "A plain string (one user message) or a list of messages."
})

/**
 * @since 0.1.0
 * @category models
 */
export type Prompt = typeof Prompt.Type

const serialise = (value: unknown): string => {
  if (typeof value === "string") return value
  try {
    return JSON.stringify(value) ?? ""
  } catch {
    return String(value)
  }
}

const partText = (part: Part): string => {
  switch (part.type) {
    case "text":
      return part.text
    case "tool-call":
      return `${part.name}${serialise(part.params)}`
    case "tool-result":
      return serialise(part.result)
  }
}

/**
 * The text a model reads in a message: a string content as it is; for parts, the text parts,
 * each tool call's name and JSON arguments, and each tool result (JSON unless a string), joined.
 * The one helper for every reader of message text (token counts, estimates, PII scans, logs).
 *
 * @since 0.1.0
 * @category accessors
 * @example
 * Message.text({ role: "user", content: [{ type: "text", text: "hi" }] }) // "hi"
 */
export const text = (message: Pick<Message, "content">): string => {
  const content = message.content
  if (typeof content === "string") return content
  if (content.length === 1) return partText(content[0]!)
  let out = ""
  for (const part of content) out += partText(part)
  return out
}

/**
 * Whether a message holds only text (a string, or text parts only): what a provider without
 * tool support can send.
 *
 * @since 0.1.0
 * @category guards
 */
export const isText = (message: Pick<Message, "content">): boolean =>
  typeof message.content === "string" || message.content.every((part) => part.type === "text")

/**
 * Rewrites every text of a message (a string content, text parts, and string tool results) with
 * `f`; returns the same message when nothing changed.
 *
 * @since 0.1.0
 * @category combinators
 */
export const mapText = <M extends Pick<Message, "content">>(message: M, f: (text: string) => string): M => {
  const content = message.content
  if (typeof content === "string") {
    const next = f(content)
    return next === content ? message : { ...message, content: next }
  }
  let changed = false
  const parts = content.map((part): Part => {
    if (part.type === "text") {
      const next = f(part.text)
      if (next === part.text) return part
      changed = true
      return { ...part, text: next }
    }
    if (part.type === "tool-result" && typeof part.result === "string") {
      const next = f(part.result)
      if (next === part.result) return part
      changed = true
      return { ...part, result: next }
    }
    return part
  })
  return changed ? { ...message, content: parts } : message
}

/**
 * Turns a prompt into its list of messages.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * Message.fromPrompt("hi") // [{ role: "user", content: "hi" }]
 */
export const fromPrompt = (prompt: Prompt): ReadonlyArray<Message> =>
  typeof prompt === "string" ? [{ role: "user", content: prompt }] : prompt

/**
 * Builds a user message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const user = (content: Content): Message => ({ role: "user", content })

/**
 * Builds a system message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const system = (content: string): Message => ({ role: "system", content })

/**
 * Builds an assistant message.
 *
 * @since 0.1.0
 * @category constructors
 */
export const assistant = (content: Content): Message => ({ role: "assistant", content })

/**
 * Builds a tool message carrying tool results.
 *
 * @since 0.1.0
 * @category constructors
 */
export const tool = (results: ReadonlyArray<ToolResultPart>): Message => ({ role: "tool", content: results })
