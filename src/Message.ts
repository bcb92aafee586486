/**
 * A chat message, and the prompt shorthand that becomes a list of them.
 *
 * Every request carries its conversation as `messages`. A plain string is shorthand for one
 * user message, so `LanguageModel.generate("hi")` and
 * `generate({ messages: [{ role: "user", content: "hi" }] })` are the same call.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * Who wrote a message.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Role = Schema.Literals(["system", "user", "assistant"]).annotate({
  identifier: "Role",
  description: "Who wrote the message: system, user or assistant."
})

/**
 * @since 0.1.0
 * @category models
 */
export type Role = typeof Role.Type

/**
 * One message of a conversation.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Message = Schema.Struct({
  role: Role,
  content: Schema.String
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
export const user = (content: string): Message => ({ role: "user", content })

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
export const assistant = (content: string): Message => ({ role: "assistant", content })
