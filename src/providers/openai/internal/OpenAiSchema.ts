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
  refusal: optionalNullable(Schema.String)
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

/**
 * A chat message on the wire.
 *
 * @since 0.1.0
 * @category models
 */
export interface WireMessage {
  readonly role: "system" | "user" | "assistant"
  readonly content: string
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
  /** Set by `OpenAiClient.streamChatCompletion`, with `stream_options: { include_usage: true }`. */
  readonly stream?: boolean
  readonly [extra: string]: unknown
}
