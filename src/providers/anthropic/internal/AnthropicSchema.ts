/**
 * Schemas for the Anthropic Messages API wire format (`POST /v1/messages`, `anthropic-version:
 * 2023-06-01`): the request body we send, the message we get back, and the events of a stream.
 *
 * The response Schemas require only what the adapter reads and accept `null` or absence
 * everywhere else; the message keeps every field it does not know (`ProviderKit.lenientStruct`),
 * so a gateway's extras survive decoding. Stream events are decoded one type at a time (see
 * {@link streamEventDecoders}): an event type we do not know is ignored, as the API's versioning
 * policy asks, while a known event with a broken shape is an error. Event Schemas are plain
 * structs (extra fields dropped: nothing reads them, and a text delta is decoded on every chunk).
 * Field names and types follow `@anthropic-ai/sdk` (a test checks that the SDK's types fit).
 * Internal: the wire format is not part of the public API.
 *
 * @since 0.1.0
 * @internal
 */
import { type Exit, Schema } from "effect"
import { lenientStruct, optionalNullable } from "../../ProviderKit.ts"

// -----------------------------------------------------------------------------
// Request
// -----------------------------------------------------------------------------

/**
 * A content block we send: text, a tool call (in an assistant message) or a tool result (in a
 * user message).
 *
 * @since 0.1.0
 * @category models
 */
export type RequestBlock =
  | { readonly type: "text"; readonly text: string }
  | { readonly type: "tool_use"; readonly id: string; readonly name: string; readonly input: unknown }
  | {
    readonly type: "tool_result"
    readonly tool_use_id: string
    readonly content: string
    readonly is_error?: boolean
  }

/**
 * A message we send. Anthropic has two roles; tool results travel in user messages.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestMessage {
  readonly role: "user" | "assistant"
  readonly content: string | ReadonlyArray<RequestBlock>
}

/**
 * The body of `POST /v1/messages`. `max_tokens` is required by the API.
 *
 * @since 0.1.0
 * @category models
 */
export interface MessagesRequest {
  readonly model: string
  readonly max_tokens: number
  readonly messages: ReadonlyArray<RequestMessage>
  readonly system?: string
  readonly temperature?: number
  readonly top_p?: number
  readonly stop_sequences?: ReadonlyArray<string>
  readonly tools?: ReadonlyArray<RequestTool>
  readonly tool_choice?: RequestToolChoice
  readonly stream?: boolean
}

/**
 * A tool declaration: its parameters' JSON Schema is `input_schema`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestTool {
  readonly name: string
  readonly description?: string
  readonly input_schema: { readonly type: "object"; readonly [keyword: string]: unknown }
}

/**
 * `tool_choice`: `auto`, `any` (some tool), `tool` (the named one) or `none`.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestToolChoice =
  | { readonly type: "auto" }
  | { readonly type: "any" }
  | { readonly type: "none" }
  | { readonly type: "tool"; readonly name: string }

// -----------------------------------------------------------------------------
// Response
// -----------------------------------------------------------------------------

const Count = optionalNullable(Schema.Number)

/**
 * Token usage as Anthropic reports it. `input_tokens` does not include the cached tokens: the
 * cache reads and writes are reported apart (and billed apart).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Usage = lenientStruct({
  input_tokens: Count,
  output_tokens: Count,
  cache_creation_input_tokens: Count,
  cache_read_input_tokens: Count,
  output_tokens_details: optionalNullable(lenientStruct({ thinking_tokens: Count }))
})

/**
 * @since 0.1.0
 * @category models
 */
export type Usage = typeof Usage.Type

/**
 * A content block of a message: `text`, `tool_use` (its `id`, `name` and `input`), or a type
 * the adapter does not read (`thinking`, server tools...).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ContentBlock = lenientStruct({
  type: Schema.String,
  text: optionalNullable(Schema.String),
  id: optionalNullable(Schema.String),
  name: optionalNullable(Schema.String),
  input: Schema.optionalKey(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ContentBlock = typeof ContentBlock.Type

/**
 * A message (the answer of a call without streaming).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Message = lenientStruct({
  id: optionalNullable(Schema.String),
  type: optionalNullable(Schema.String),
  role: optionalNullable(Schema.String),
  model: optionalNullable(Schema.String),
  content: Schema.Array(ContentBlock),
  stop_reason: optionalNullable(Schema.String),
  stop_sequence: optionalNullable(Schema.String),
  usage: optionalNullable(Usage)
}).annotate({ identifier: "AnthropicMessage" })

/**
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type

/**
 * Decodes an already-parsed JSON value as a message, synchronously, as an `Exit`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeMessage = Schema.decodeUnknownExit(Message)

/**
 * The `error` of an error body (`{ type: "error", error: { type, message }, request_id }`) or of
 * an `error` event.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorDetail = Schema.Struct({
  type: optionalNullable(Schema.String),
  message: optionalNullable(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ErrorDetail = typeof ErrorDetail.Type

// -----------------------------------------------------------------------------
// Stream events
// -----------------------------------------------------------------------------

const Index = Schema.Number

/**
 * `message_start`: the message without content; its usage holds the input tokens (and usually
 * `output_tokens: 1`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageStart = Schema.Struct({
  type: Schema.Literal("message_start"),
  message: Schema.Struct({
    id: optionalNullable(Schema.String),
    model: optionalNullable(Schema.String),
    usage: optionalNullable(Usage)
  })
})

/**
 * `content_block_start`: a block opens at `index` (a `tool_use` block names its id and tool).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ContentBlockStart = Schema.Struct({
  type: Schema.Literal("content_block_start"),
  index: Index,
  content_block: Schema.Struct({
    type: Schema.String,
    text: optionalNullable(Schema.String),
    id: optionalNullable(Schema.String),
    name: optionalNullable(Schema.String),
    input: Schema.optionalKey(Schema.Unknown)
  })
})

/**
 * `content_block_delta`: `text_delta` (text), `input_json_delta` (a fragment of a tool call's
 * input JSON), or a delta the adapter does not read (`thinking_delta`, `signature_delta`...).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ContentBlockDelta = Schema.Struct({
  type: Schema.Literal("content_block_delta"),
  index: Index,
  delta: Schema.Struct({
    type: Schema.String,
    text: Schema.optionalKey(Schema.String),
    partial_json: Schema.optionalKey(Schema.String)
  })
})

/**
 * `content_block_stop`: the block at `index` is complete.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ContentBlockStop = Schema.Struct({
  type: Schema.Literal("content_block_stop"),
  index: Index
})

/**
 * `message_delta`: the stop reason, and the usage so far (the output count is cumulative).
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageDelta = Schema.Struct({
  type: Schema.Literal("message_delta"),
  delta: optionalNullable(Schema.Struct({
    stop_reason: optionalNullable(Schema.String),
    stop_sequence: optionalNullable(Schema.String)
  })),
  usage: optionalNullable(Usage)
})

/**
 * `message_stop`: the end of the message.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MessageStop = Schema.Struct({ type: Schema.Literal("message_stop") })

/**
 * `ping`: keeps the connection open.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Ping = Schema.Struct({ type: Schema.Literal("ping") })

/**
 * `error`: the API failed after the stream opened (e.g. `overloaded_error`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ErrorEvent = Schema.Struct({
  type: Schema.Literal("error"),
  error: optionalNullable(ErrorDetail)
})

/**
 * Every stream event the adapter reads.
 *
 * @since 0.1.0
 * @category models
 */
export type StreamEvent =
  | typeof MessageStart.Type
  | typeof ContentBlockStart.Type
  | typeof ContentBlockDelta.Type
  | typeof ContentBlockStop.Type
  | typeof MessageDelta.Type
  | typeof MessageStop.Type
  | typeof Ping.Type
  | typeof ErrorEvent.Type

/**
 * Decodes the parsed JSON data of one event, synchronously, as an `Exit`.
 *
 * @since 0.1.0
 * @category decoding
 */
export type EventDecoder = (input: unknown) => Exit.Exit<StreamEvent, Schema.SchemaError>

const decoderOf = <S extends Schema.Decoder<StreamEvent>>(schema: S): EventDecoder => Schema.decodeUnknownExit(schema)

/**
 * A synchronous decoder per event type (the `type` field of the event's JSON data).
 *
 * @since 0.1.0
 * @category decoding
 */
export const streamEventDecoders: Readonly<Record<string, EventDecoder>> = {
  message_start: decoderOf(MessageStart),
  content_block_start: decoderOf(ContentBlockStart),
  content_block_delta: decoderOf(ContentBlockDelta),
  content_block_stop: decoderOf(ContentBlockStop),
  message_delta: decoderOf(MessageDelta),
  message_stop: decoderOf(MessageStop),
  ping: decoderOf(Ping),
  error: decoderOf(ErrorEvent)
}
