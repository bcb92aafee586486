/**
 * What a caller asks of a model: the conversation, the model and the sampling parameters.
 *
 * `LlmRequest` is provider-neutral. Every layer (budget, retry, observability) and every
 * provider receives the same shape; a provider maps it to its own wire format once.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as Message from "./Message.ts"
import * as ResponseFormat from "./ResponseFormat.ts"
import * as Tool from "./Tool.ts"

/**
 * Free-form metadata that travels with a request through every layer and into logs, spans,
 * the usage ledger and budgets.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Metadata = Schema.Struct({
  taskType: Schema.optionalKey(Schema.String),
  correlationId: Schema.optionalKey(Schema.String),
  conversationId: Schema.optionalKey(Schema.String),
  workflow: Schema.optionalKey(Schema.String),
  step: Schema.optionalKey(Schema.String),
  tags: Schema.optionalKey(Schema.Record(Schema.String, Schema.String))
}).annotate({ identifier: "LlmRequestMetadata" })

/**
 * @since 0.1.0
 * @category models
 */
export type Metadata = typeof Metadata.Type

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

/**
 * A request to a language model.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LlmRequest = Schema.Struct({
  model: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "The model to call; the provider's default when absent."
  }),
  messages: Schema.Array(Message.Message).check(Schema.isMinLength(1)).annotate({
    description: "The conversation, oldest first; at least one message."
  }),
  system: Schema.optionalKey(Schema.String).annotate({ description: "A system prompt." }),
  maxTokens: Schema.optionalKey(PositiveInt).annotate({ description: "The most output tokens to generate." }),
  temperature: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 2 }))),
  topP: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 1 }))),
  stop: Schema.optionalKey(Schema.Array(Schema.String)),
  timeoutMs: Schema.optionalKey(PositiveInt).annotate({
    description: "A timeout for the whole call (all attempts), in milliseconds."
  }),
  tools: Schema.optionalKey(Schema.Array(Tool.Definition)).annotate({
    description: "Tools the model may call (name, description, parameters as JSON Schema); names unique."
  }),
  toolChoice: Schema.optionalKey(Tool.ToolChoice),
  responseFormat: Schema.optionalKey(ResponseFormat.ResponseFormat).annotate({
    description: "Structured output: answer with a JSON object matching this JSON Schema (see ResponseFormat)."
  }),
  metadata: Schema.optionalKey(Metadata)
}).check(
  Schema.makeFilter((request: { readonly tools?: ReadonlyArray<Tool.Definition>; readonly toolChoice?: Tool.ToolChoice }) => {
    const problem = Tool.checkDeclarations(request.tools, request.toolChoice)
    return problem === undefined ? undefined : { path: [problem.parameter], issue: problem.description }
  }),
  Schema.makeFilter((request: { readonly responseFormat?: ResponseFormat.ResponseFormat }) => {
    const problem = request.responseFormat === undefined ? undefined : ResponseFormat.check(request.responseFormat)
    return problem === undefined ? undefined : { path: ["responseFormat", "schema"], issue: problem }
  })
).annotate({ identifier: "LlmRequest" })

/**
 * @since 0.1.0
 * @category models
 */
export type LlmRequest = typeof LlmRequest.Type

/**
 * What programs may pass where a request is expected: a plain prompt string, or the request's
 * fields with `prompt` as shorthand for `messages`.
 *
 * @since 0.1.0
 * @category models
 */
export type Input =
  | string
  | (Fields & { readonly messages: ReadonlyArray<Message.Message> })
  | (Fields & { readonly prompt: Message.Prompt })

/**
 * The fields of an {@link Input} besides its conversation: a request's, with `tools` given as
 * declared tools (`Tool.make`) or as definitions.
 *
 * @since 0.1.0
 * @category models
 */
export type Fields = Omit<LlmRequest, "messages" | "tools"> & {
  readonly tools?: ReadonlyArray<Tool.Any | Tool.Definition> | undefined
}

const toolsOf = (tools: ReadonlyArray<Tool.Any | Tool.Definition> | undefined) =>
  tools === undefined ? {} : { tools: tools.map(Tool.definitionOf) }

/**
 * Normalises an {@link Input} into an `LlmRequest` (no validation: see {@link decode}).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * LlmRequest.make("Summarise this")
 * LlmRequest.make({ prompt: "Summarise this", maxTokens: 200 })
 */
export const make = (input: Input): LlmRequest => {
  if (typeof input === "string") return { messages: Message.fromPrompt(input) }
  if ("prompt" in input) {
    const { prompt, tools, ...rest } = input
    return { ...rest, ...toolsOf(tools), messages: Message.fromPrompt(prompt) }
  }
  // A request of definitions only (the common case on the call path) is used as it is.
  if (input.tools === undefined ? !("tools" in input) : input.tools.every((tool) => !Tool.isTool(tool))) {
    return input as LlmRequest
  }
  const { tools, ...rest } = input
  return { ...rest, ...toolsOf(tools) }
}

/**
 * Decodes and validates an unknown value as an `LlmRequest`, reporting every issue.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = Schema.decodeUnknownEffect(LlmRequest)

/**
 * The text of a request (system prompt, all messages, the tool declarations and the
 * structured-output schema), used for token estimates.
 *
 * @since 0.1.0
 * @category accessors
 */
export const promptText = (request: LlmRequest): string => {
  const parts: Array<string> = []
  if (request.system !== undefined) parts.push(request.system)
  for (const message of request.messages) parts.push(Message.text(message))
  const tools = toolsText(request)
  if (tools !== "") parts.push(tools)
  return parts.join("\n")
}

/**
 * The text of a request's declarations as a model reads them: each tool's name, description and
 * JSON Schema, and the structured-output schema (`responseFormat`, sent with the request too:
 * as its own field, or as a forced tool), `""` when it declares neither. What the token counts
 * add for tools and schemas, so a budget reserves for them.
 *
 * @since 0.1.0
 * @category accessors
 */
export const toolsText = (request: Pick<LlmRequest, "tools" | "responseFormat">): string => {
  const declared = declarationsText(request.tools)
  const format = request.responseFormat
  return format === undefined ? declared : `${declared}${responseFormatText(format)}\n`
}

const declarationsText = (tools: ReadonlyArray<Tool.Definition> | undefined): string => {
  if (tools === undefined || tools.length === 0) return ""
  // The same declarations travel with every call of a conversation and are read by several
  // layers (size guard, estimates, the mock): their text is kept per list.
  const known = toolsTexts.get(tools)
  if (known !== undefined) return known
  let out = ""
  for (const tool of tools) {
    out += `${tool.name}\n${tool.description ?? ""}\n${JSON.stringify(tool.parameters)}\n`
  }
  toolsTexts.set(tools, out)
  return out
}

/**
 * The text of a request's structured-output schema as a model reads it (its name, description
 * and JSON Schema): what the token counts add for it.
 *
 * @since 0.1.0
 * @category accessors
 */
export const responseFormatText = (format: ResponseFormat.ResponseFormat): string => {
  const known = formatTexts.get(format)
  if (known !== undefined) return known
  const text = `${ResponseFormat.nameOf(format)}\n${format.description ?? ""}\n${JSON.stringify(format.schema)}`
  formatTexts.set(format, text)
  return text
}

const formatTexts = new WeakMap<ResponseFormat.ResponseFormat, string>()

const toolsTexts = new WeakMap<ReadonlyArray<Tool.Definition>, string>()
