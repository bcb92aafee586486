/**
 * Span attributes after the OpenTelemetry semantic conventions for generative AI
 * (`gen_ai.*`), plus llm-connect's own (`llm_connect.*`) for the correlation id, workflow
 * and step.
 *
 * Only facts about the call go into attributes: names, counts, parameters and outcomes. The
 * prompt and the reply never do (the conventions' `gen_ai.input.messages` is deliberately not
 * set), and neither does anything from the provider's configuration such as keys or headers.
 *
 * @since 0.1.0
 */
import type * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import type { LlmResponse } from "../LlmResponse.ts"

/**
 * Attribute names.
 *
 * @since 0.1.0
 * @category constants
 */
export const Names = {
  operation: "gen_ai.operation.name",
  system: "gen_ai.system",
  providerName: "gen_ai.provider.name",
  requestModel: "gen_ai.request.model",
  requestMaxTokens: "gen_ai.request.max_tokens",
  requestTemperature: "gen_ai.request.temperature",
  requestTopP: "gen_ai.request.top_p",
  requestStop: "gen_ai.request.stop_sequences",
  responseModel: "gen_ai.response.model",
  responseId: "gen_ai.response.id",
  finishReasons: "gen_ai.response.finish_reasons",
  inputTokens: "gen_ai.usage.input_tokens",
  outputTokens: "gen_ai.usage.output_tokens",
  conversationId: "gen_ai.conversation.id",
  errorType: "error.type",
  correlationId: "llm_connect.correlation_id",
  workflow: "llm_connect.workflow",
  step: "llm_connect.step",
  taskType: "llm_connect.task_type",
  costUsd: "llm_connect.cost_usd",
  usageEstimated: "llm_connect.usage.estimated",
  attempt: "llm_connect.attempt",
  cancelled: "llm_connect.cancelled",
  timeToFirstTokenMs: "llm_connect.time_to_first_token_ms",
  promptChars: "llm_connect.request.prompt_chars",
  messageCount: "llm_connect.request.message_count"
} as const

/**
 * The span name for a call, as the conventions ask: `"{operation} {model}"`.
 *
 * @since 0.1.0
 * @category naming
 */
export const spanName = (model: string): string => `chat ${model}`

/**
 * Attributes known before the call: provider, model, parameters, metadata and sizes.
 *
 * @since 0.1.0
 * @category attributes
 */
export const request = (provider: string, model: string, request: LlmRequest): Record<string, unknown> => {
  const attributes: Record<string, unknown> = {
    [Names.operation]: "chat",
    [Names.system]: provider,
    [Names.providerName]: provider,
    [Names.requestModel]: model,
    [Names.messageCount]: request.messages.length
  }
  if (request.maxTokens !== undefined) attributes[Names.requestMaxTokens] = request.maxTokens
  if (request.temperature !== undefined) attributes[Names.requestTemperature] = request.temperature
  if (request.topP !== undefined) attributes[Names.requestTopP] = request.topP
  const metadata = request.metadata
  if (metadata !== undefined) {
    if (metadata.correlationId !== undefined) attributes[Names.correlationId] = metadata.correlationId
    if (metadata.workflow !== undefined) attributes[Names.workflow] = metadata.workflow
    if (metadata.step !== undefined) attributes[Names.step] = metadata.step
    if (metadata.taskType !== undefined) attributes[Names.taskType] = metadata.taskType
    if (metadata.conversationId !== undefined) attributes[Names.conversationId] = metadata.conversationId
  }
  return attributes
}

/**
 * Attributes known after a successful call: the model that answered, usage, finish reason, cost.
 *
 * @since 0.1.0
 * @category attributes
 */
export const response = (response: LlmResponse): Record<string, unknown> => {
  const attributes: Record<string, unknown> = {
    [Names.responseModel]: response.model,
    [Names.inputTokens]: response.usage.inputTokens,
    [Names.outputTokens]: response.usage.outputTokens,
    [Names.finishReasons]: [response.finishReason]
  }
  if (response.requestId !== undefined) attributes[Names.responseId] = response.requestId
  if (response.cost !== undefined) attributes[Names.costUsd] = response.cost.usd
  if (response.usage.estimated === true) attributes[Names.usageEstimated] = true
  return attributes
}

/**
 * Attributes of a failed call: `error.type` is the reason tag (`RateLimited`, ...).
 *
 * @since 0.1.0
 * @category attributes
 */
export const error = (error: LlmError.LlmError): Record<string, unknown> => ({
  [Names.errorType]: error.reason._tag,
  ...(error.status !== undefined ? { "http.response.status_code": error.status } : {})
})
