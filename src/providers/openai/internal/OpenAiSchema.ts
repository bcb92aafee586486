/**
 * Lenient Schemas for the OpenAI chat-completions wire format.
 *
 * OpenAI, OpenRouter, vLLM, Ollama and LM Studio all answer in this shape, each with a few
 * fields of its own and some fields missing or `null`. The Schemas below require only what the
 * adapter reads (the choices), accept `null` or absence everywhere else, and keep every field
 * they do not know (`ProviderKit.lenientStruct`), so a provider's extras (OpenRouter's `usage.cost`,
 * `provider`, vLLM's `prompt_logprobs`...) survive decoding. The field names and types follow the
 * `openai` package's `ChatCompletion` (a test checks that the SDK's type fits these Schemas).
 * Internal: the wire format is not part of the public API.
 *
 * @since 0.1.0
 * @internal
 */
import { Schema } from "effect"
import { lenientStruct, optionalNullable } from "../../ProviderKit.ts"

/**
 * `usage.prompt_tokens_details`: the cached part of the prompt.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PromptTokensDetails = lenientStruct({ cached_tokens: optionalNullable(Schema.Number) })

/**
 * `usage.completion_tokens_details`: the reasoning part of the completion.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CompletionTokensDetails = lenientStruct({ reasoning_tokens: optionalNullable(Schema.Number) })

/**
 * Token usage as the provider reports it. `prompt_tokens` already includes cached tokens.
 * `cost` is OpenRouter's own figure in USD.
 *
 * @since 0.1.0
 * @category schemas
 */
export const CompletionUsage = lenientStruct({
  prompt_tokens: optionalNullable(Schema.Number),
  completion_tokens: optionalNullable(Schema.Number),
  total_tokens: optionalNullable(Schema.Number),
  prompt_tokens_details: optionalNullable(PromptTokensDetails),
  completion_tokens_details: optionalNullable(CompletionTokensDetails),
  cost: optionalNullable(Schema.Number)
})

/**
 * @since 0.1.0
 * @category models
 */
export type CompletionUsage = typeof CompletionUsage.Type

/**
 * The assistant message of a choice.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletionMessage = lenientStruct({
  role: optionalNullable(Schema.String),
  content: optionalNullable(Schema.String),
  refusal: optionalNullable(Schema.String),
  tool_calls: optionalNullable(Schema.Array(lenientStruct({
    id: optionalNullable(Schema.String),
    type: optionalNullable(Schema.String),
    function: optionalNullable(lenientStruct({
      name: optionalNullable(Schema.String),
      arguments: optionalNullable(Schema.String)
    }))
  })))
})

/**
 * One choice of a completion.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletionChoice = lenientStruct({
  index: optionalNullable(Schema.Number),
  message: optionalNullable(ChatCompletionMessage),
  finish_reason: optionalNullable(Schema.String)
})

/**
 * A chat completion (non-streaming).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletion = lenientStruct({
  id: optionalNullable(Schema.String),
  model: optionalNullable(Schema.String),
  object: optionalNullable(Schema.String),
  created: optionalNullable(Schema.Number),
  choices: Schema.Array(ChatCompletionChoice),
  usage: optionalNullable(CompletionUsage)
}).annotate({ identifier: "OpenAiChatCompletion" })

/**
 * @since 0.1.0
 * @category models
 */
export type ChatCompletion = typeof ChatCompletion.Type

/**
 * Decodes an already-parsed JSON value as a chat completion, synchronously, as an `Exit`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeChatCompletion = Schema.decodeUnknownExit(ChatCompletion)

/**
 * A fragment of a tool call in a streamed chunk: `index` says which call, `id` and
 * `function.name` come with its first fragment, `function.arguments` adds to its arguments' JSON.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletionChunkToolCall = lenientStruct({
  index: optionalNullable(Schema.Number),
  id: optionalNullable(Schema.String),
  type: optionalNullable(Schema.String),
  function: optionalNullable(lenientStruct({
    name: optionalNullable(Schema.String),
    arguments: optionalNullable(Schema.String)
  }))
})

/**
 * @since 0.1.0
 * @category models
 */
export type ChatCompletionChunkToolCall = typeof ChatCompletionChunkToolCall.Type

/**
 * What a streamed chunk adds to the assistant message.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletionChunkDelta = lenientStruct({
  role: optionalNullable(Schema.String),
  content: optionalNullable(Schema.String),
  refusal: optionalNullable(Schema.String),
  tool_calls: optionalNullable(Schema.Array(ChatCompletionChunkToolCall))
})

/**
 * One choice of a streamed chunk.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletionChunkChoice = lenientStruct({
  index: optionalNullable(Schema.Number),
  delta: optionalNullable(ChatCompletionChunkDelta),
  finish_reason: optionalNullable(Schema.String)
})

/**
 * One chunk of a streamed completion (`stream: true`): the `data:` of one server-sent event.
 * With `stream_options: { include_usage: true }` the last chunk before `[DONE]` has the usage
 * and no choices; `choices` may be absent there on some servers.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletionChunk = lenientStruct({
  id: optionalNullable(Schema.String),
  model: optionalNullable(Schema.String),
  object: optionalNullable(Schema.String),
  created: optionalNullable(Schema.Number),
  choices: optionalNullable(Schema.Array(ChatCompletionChunkChoice)),
  usage: optionalNullable(CompletionUsage)
}).annotate({ identifier: "OpenAiChatCompletionChunk" })

/**
 * @since 0.1.0
 * @category models
 */
export type ChatCompletionChunk = typeof ChatCompletionChunk.Type

/**
 * Decodes an already-parsed JSON value as a streamed chunk, synchronously, as an `Exit`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeChatCompletionChunk = Schema.decodeUnknownExit(ChatCompletionChunk)

type Json = Readonly<Record<string, unknown>>

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)
const absent = (value: unknown): boolean => value === undefined || value === null
const maybeString = (value: unknown): boolean => value === undefined || value === null || typeof value === "string"
const maybeNumber = (value: unknown): boolean => value === undefined || value === null || typeof value === "number"

const isDetails = (value: unknown, field: string): boolean => absent(value) || (isObject(value) && maybeNumber(value[field]))

const isUsage = (value: Json): boolean =>
  maybeNumber(value.prompt_tokens) && maybeNumber(value.completion_tokens) && maybeNumber(value.total_tokens) &&
  maybeNumber(value.cost) && isDetails(value.prompt_tokens_details, "cached_tokens") &&
  isDetails(value.completion_tokens_details, "reasoning_tokens")

// A tool call: a streamed chunk's (`delta.tool_calls`, with its `index`) or a message's.
const toolCallWith = (indexed: boolean) => (value: unknown): boolean => {
  if (!isObject(value) || (indexed && !maybeNumber(value.index)) || !maybeString(value.id) || !maybeString(value.type)) return false
  const fn = value.function
  return absent(fn) || (isObject(fn) && maybeString(fn.name) && maybeString(fn.arguments))
}

// A choice: a streamed chunk's (its `delta`) or a completion's (its `message`).
const choiceWith = (field: "delta" | "message", isToolCall: (value: unknown) => boolean) => (value: unknown): boolean => {
  if (!isObject(value) || !maybeNumber(value.index) || !maybeString(value.finish_reason)) return false
  const message = value[field]
  if (absent(message)) return true
  if (!isObject(message) || !maybeString(message.role) || !maybeString(message.content) || !maybeString(message.refusal)) return false
  const calls = message.tool_calls
  if (absent(calls)) return true
  if (!Array.isArray(calls)) return false
  for (const call of calls) if (!isToolCall(call)) return false
  return true
}

// A chunk or a completion: its scalar fields, its choices (a completion must have them), its usage.
const documentWith = (choicesRequired: boolean, isChoice: (value: unknown) => boolean) => (json: unknown): boolean => {
  if (!isObject(json) || !maybeString(json.id) || !maybeString(json.model) || !maybeString(json.object)) return false
  if (!maybeNumber(json.created)) return false
  const choices = json.choices
  if (choicesRequired || !absent(choices)) {
    if (!Array.isArray(choices)) return false
    for (const choice of choices) if (!isChoice(choice)) return false
  }
  const usage = json.usage
  return absent(usage) || (isObject(usage) && isUsage(usage))
}

const isChunk = documentWith(false, choiceWith("delta", toolCallWith(true)))
const isCompletion = documentWith(true, choiceWith("message", toolCallWith(false)))

/**
 * Reads an already-parsed JSON value as a streamed chunk: the same check as
 * {@link decodeChatCompletionChunk} (a test holds them equal), written out for the stream's hot
 * path, where a chunk arrives every few tokens. The value itself is returned (no copy): every
 * field the Schema names has the right type, and fields it does not name are kept as they are.
 * `undefined` when it is not a chunk.
 *
 * @since 0.1.0
 * @category decoding
 */
export const readChatCompletionChunk = (json: unknown): ChatCompletionChunk | undefined =>
  isChunk(json) ? json as ChatCompletionChunk : undefined

/**
 * Reads an already-parsed JSON value as a chat completion: the same check as
 * {@link decodeChatCompletion} (a test holds them equal), written out for the JSON call's path
 * (issue 16, stop 31: the Schema's copy of every answer, with its issues machinery, was the
 * adapter's largest JSON cost). The value itself is returned (no copy): every field the Schema
 * names has the right type, and fields it does not name are kept as they are (in the order the
 * provider sent them; the Schema's copy put the named ones first). `undefined` when it is not a
 * completion.
 *
 * @since 0.1.0
 * @category decoding
 */
export const readChatCompletion = (json: unknown): ChatCompletion | undefined =>
  isCompletion(json) ? json as ChatCompletion : undefined

/**
 * A chat message on the wire.
 *
 * @since 0.1.0
 * @category models
 */
export type WireMessage =
  | { readonly role: "system" | "user"; readonly content: string }
  | {
    readonly role: "assistant"
    readonly content: string | null
    readonly tool_calls?: ReadonlyArray<WireToolCall>
  }
  | { readonly role: "tool"; readonly tool_call_id: string; readonly content: string }

/**
 * A tool call in an assistant message we send back (the arguments as JSON text).
 *
 * @since 0.1.0
 * @category models
 */
export interface WireToolCall {
  readonly id: string
  readonly type: "function"
  readonly function: { readonly name: string; readonly arguments: string }
}

/**
 * A tool declaration in a request.
 *
 * @since 0.1.0
 * @category models
 */
export interface WireTool {
  readonly type: "function"
  readonly function: {
    readonly name: string
    readonly description?: string
    readonly parameters: Readonly<Record<string, unknown>>
  }
}

/**
 * `tool_choice`: a mode, or one named function.
 *
 * @since 0.1.0
 * @category models
 */
export type WireToolChoice = "auto" | "none" | "required" | { readonly type: "function"; readonly function: { readonly name: string } }

/**
 * Structured output on the wire: `{ type: json_schema, json_schema: { name, description?,
 * schema, strict } }`.
 *
 * @since 0.1.0
 * @category models
 */
export interface WireResponseFormat {
  readonly type: "json_schema"
  readonly json_schema: {
    readonly name: string
    readonly description?: string
    readonly schema: Record<string, unknown>
    readonly strict: boolean
  }
}

/**
 * The request body we send to `POST /chat/completions`. Extra fields a
 * provider understands (OpenRouter's `usage: { include: true }`) go in the index signature.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatCompletionRequest {
  readonly model: string
  readonly messages: ReadonlyArray<WireMessage>
  readonly max_tokens?: number
  readonly max_completion_tokens?: number
  readonly temperature?: number
  readonly top_p?: number
  readonly stop?: ReadonlyArray<string>
  readonly tools?: ReadonlyArray<WireTool>
  readonly tool_choice?: WireToolChoice
  /** Structured output (`LlmRequest.responseFormat`). */
  readonly response_format?: WireResponseFormat
  /** Set by `OpenAiClient.streamChatCompletion`, with `stream_options: { include_usage: true }`. */
  readonly stream?: boolean
  readonly [extra: string]: unknown
}
