/**
 * The maximum request size: one limit for every front door (CLI, workflows, and later the
 * bridge, the server and the Promise client), so that no request can make the process do work
 * in proportion to an unbounded input (counting tokens, scanning for personal data, serialising
 * the body) before anything is refused.
 *
 * The size of a request is the UTF-8 length of the text it carries: the system prompt, every
 * message (tool calls and results as their JSON), the stop sequences and the tool declarations. A request over the
 * limit fails with `LlmError` reason `InvalidRequest` (`parameter: "maxRequestBytes"`) naming
 * its size, the limit and how to raise it, before the PII guard, the budget (nothing is reserved)
 * or the provider see it. The stack (`Stack.ts`) always includes the guard, inside observability
 * so that a refusal is logged, counted and recorded.
 *
 * The limit is the `maxRequestBytes` setting (file key, `LLM_CONNECT_MAX_REQUEST_BYTES`,
 * `--max-request-bytes`; default {@link DEFAULT_MAX_REQUEST_BYTES}, 4 MiB). A door that reads a
 * body (a server) uses the same resolved value as its body limit and answers 413 past it.
 *
 * @since 0.1.0
 */
import { Effect, type Layer, Schema } from "effect"
import * as ConfigSection from "./ConfigSection.ts"
import * as LanguageModel from "./LanguageModel.ts"
import * as LlmError from "./LlmError.ts"
import type { LlmRequest } from "./LlmRequest.ts"
import * as LlmRequestModule from "./LlmRequest.ts"
import * as Message from "./Message.ts"

/**
 * The limit when none is configured: 4 MiB.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024

/**
 * The name of the setting, as errors quote it.
 *
 * @since 0.1.0
 * @category constants
 */
export const SETTING = "maxRequestBytes"

const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8")

/**
 * The size of a request in UTF-8 bytes: its system prompt, messages, stop sequences and tool
 * declarations (name, description and JSON Schema).
 *
 * @since 0.1.0
 * @category measuring
 */
export const measure = (request: LlmRequest): number => {
  let bytes = request.system === undefined ? 0 : utf8Length(request.system)
  for (const message of request.messages) bytes += utf8Length(Message.text(message))
  if (request.stop !== undefined) for (const stop of request.stop) bytes += utf8Length(stop)
  if (request.tools !== undefined && request.tools.length > 0) bytes += utf8Length(LlmRequestModule.toolsText(request))
  return bytes
}

/**
 * The size of a request when it is over `maxBytes`, else `undefined`. Cheap on the call path: a
 * UTF-16 unit is one to three UTF-8 bytes, so a request whose text is short enough is passed
 * without measuring it.
 *
 * @since 0.1.0
 * @category measuring
 */
export const excess = (request: LlmRequest, maxBytes: number): number | undefined => {
  let units = request.system === undefined ? 0 : request.system.length
  // (an index, not `for...of`: the iterator's results were allocated per call, stop 29)
  const messages = request.messages
  for (let index = 0; index < messages.length; index++) {
    const message = messages[index]!
    units += typeof message.content === "string" ? message.content.length : Message.text(message).length
  }
  if (request.stop !== undefined) for (const stop of request.stop) units += stop.length
  if (request.tools !== undefined && request.tools.length > 0) units += LlmRequestModule.toolsText(request).length
  if (units * 3 <= maxBytes) return undefined
  const bytes = measure(request)
  return bytes > maxBytes ? bytes : undefined
}

/**
 * A size for people: `300 bytes`, `512 KiB`, `4 MiB`, `10.5 MiB`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatBytes = (bytes: number): string => {
  const unit = (value: number, name: string) => `${Number.isInteger(value) ? value : value.toFixed(1)} ${name}`
  if (bytes >= 1024 * 1024) return unit(bytes / (1024 * 1024), "MiB")
  if (bytes >= 1024) return unit(bytes / 1024, "KiB")
  return `${bytes} bytes`
}

/**
 * The `InvalidRequest` error of a request of `bytes` over the limit `maxBytes`: what it was, the
 * limit, and the setting to raise.
 *
 * @since 0.1.0
 * @category errors
 */
export const tooLarge = (
  bytes: number,
  maxBytes: number,
  context: { readonly provider: string; readonly model?: string | undefined }
): LlmError.LlmError =>
  LlmError.make(
    context.provider,
    new LlmError.InvalidRequest({
      description: `the request is ${formatBytes(bytes)} (${bytes} bytes), over the maximum request size of ` +
        `${formatBytes(maxBytes)} (${maxBytes} bytes); send less text, or raise ${SETTING} ` +
        `(--max-request-bytes, LLM_CONNECT_MAX_REQUEST_BYTES)`,
      parameter: SETTING
    }),
    { model: context.model }
  )

/**
 * Wraps a model so that a request over `maxBytes` fails with {@link tooLarge} before it reaches
 * the model (on both paths); other requests pass unchanged, with no extra effect step.
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrap = (inner: LanguageModel.Service, maxBytes: number = DEFAULT_MAX_REQUEST_BYTES): LanguageModel.Service =>
  LanguageModel.wrap(inner, {
    request: (request) => {
      const bytes = excess(request, maxBytes)
      return bytes === undefined
        ? request
        : Effect.fail(tooLarge(bytes, maxBytes, { provider: inner.provider, model: request.model ?? inner.defaultModel }))
    }
  })

/**
 * The guard as a Layer wrapping the `LanguageModel` below it.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * program.pipe(Effect.provide(RequestSize.layer(1024 * 1024).pipe(Layer.provide(providerLayer))))
 */
export const layer = (
  maxBytes: number = DEFAULT_MAX_REQUEST_BYTES
): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  LanguageModel.layerWrap((inner) => Effect.succeed(wrap(inner, maxBytes)))

/**
 * The setting's Schema: a whole number of bytes, more than zero.
 *
 * @since 0.1.0
 * @category config
 */
export const MaxRequestBytes = Schema.Int.check(Schema.isGreaterThan(0)).annotate({
  description: `The largest request accepted, in UTF-8 bytes of prompt text (default ${DEFAULT_MAX_REQUEST_BYTES}, 4 MiB).`,
  examples: [8_388_608]
})

/**
 * The configuration section: the top-level `maxRequestBytes` key (also
 * `LLM_CONNECT_MAX_REQUEST_BYTES` and `--max-request-bytes`), resolved to a number of bytes
 * (the default when absent).
 *
 * @since 0.1.0
 * @category config
 */
export const section = ConfigSection.make({
  name: "requestSize",
  fields: { maxRequestBytes: Schema.optionalKey(MaxRequestBytes) },
  settings: {
    maxRequestBytes: {
      env: "LLM_CONNECT_MAX_REQUEST_BYTES",
      flag: {
        name: "max-request-bytes",
        metavar: "BYTES",
        description: `largest request accepted, in bytes of prompt text (default ${DEFAULT_MAX_REQUEST_BYTES}, 4 MiB)`
      },
      kind: "integer",
      example: "8388608",
      expected: "a whole number of bytes greater than 0"
    }
  },
  finish: ({ maxRequestBytes }) =>
    Effect.succeed<{ readonly maxRequestBytes: number }>({ maxRequestBytes: maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES })
})
