/**
 * A wrapping layer that keeps personal data and secrets out of prompts.
 *
 * Before a request reaches the model below, the guard scans its system prompt and messages with
 * {@link PiiDetector}. In `"redact"` mode each finding is replaced with a placeholder
 * (`[REDACTED:email]`) and the call goes on; in `"block"` mode the call fails with an
 * `LlmError` `InvalidRequest` that names the kinds found and where, never the values. Nothing is
 * sent when a call is blocked.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Schema } from "effect"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import * as Message from "../Message.ts"
import * as PiiDetector from "./PiiDetector.ts"

/**
 * What the guard does with a prompt that holds personal data.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "redact" | "block"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `"redact"` (default) replaces findings; `"block"` refuses the call. */
  readonly mode?: Mode | undefined
  /** The kinds to look for (default: all). */
  readonly kinds?: ReadonlyArray<PiiDetector.PiiKind> | undefined
  /** The placeholder for a finding (default `[REDACTED:<kind>]`). */
  readonly replacement?: ((kind: PiiDetector.PiiKind) => string) | undefined
}

/**
 * Redacts the findings in a request's system prompt and messages; returns the same object
 * when nothing was found.
 *
 * @since 0.1.0
 * @category redaction
 */
export const redactRequest = (request: LlmRequest, options: Options = {}): LlmRequest => {
  const redactOptions = { kinds: options.kinds, replacement: options.replacement }
  let changed = false
  const redactText = (text: string) => {
    const out = PiiDetector.redact(text, redactOptions)
    if (out !== text) changed = true
    return out
  }
  const messages = request.messages.map((message) => Message.mapText(message, redactText))
  const system = request.system === undefined ? undefined : redactText(request.system)
  if (!changed) return request
  return { ...request, messages, ...(system !== undefined ? { system } : {}) }
}

/**
 * Where personal data was found in a request: `"system"` or `"messages[i]"`, with the kinds.
 *
 * @since 0.1.0
 * @category detection
 */
export const scanRequest = (
  request: LlmRequest,
  kinds: ReadonlyArray<PiiDetector.PiiKind> = PiiDetector.allKinds
): ReadonlyArray<{ readonly location: string; readonly kinds: ReadonlyArray<PiiDetector.PiiKind> }> => {
  const out: Array<{ location: string; kinds: ReadonlyArray<PiiDetector.PiiKind> }> = []
  if (request.system !== undefined) {
    const found = PiiDetector.kindsIn(request.system, kinds)
    if (found.length > 0) out.push({ location: "system", kinds: found })
  }
  request.messages.forEach((message, index) => {
    const found = PiiDetector.kindsIn(Message.text(message), kinds)
    if (found.length > 0) out.push({ location: `messages[${index}]`, kinds: found })
  })
  return out
}

/**
 * Wraps a model so that every request (generated or streamed) is redacted or blocked before it
 * is sent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrap = (inner: LanguageModel.Service, options: Options = {}): LanguageModel.Service =>
  LanguageModel.wrap(inner, { request: (request) => guard(inner, request, options) })

const guard = (inner: LanguageModel.Service, request: LlmRequest, options: Options): LlmRequest | Effect.Effect<never, LlmError.LlmError> => {
  if (options.mode !== "block") return redactRequest(request, options)
  const found = scanRequest(request, options.kinds)
  if (found.length === 0) return request
  const kinds = [...new Set(found.flatMap((entry) => entry.kinds))]
  const where = found.map((entry) => `${entry.location}: ${entry.kinds.join(", ")}`).join("; ")
  return Effect.fail(
    LlmError.make(
      inner.provider,
      new LlmError.InvalidRequest({
        description: `the prompt holds personal data or secrets (${kinds.join(", ")}; in ${where}); ` +
          `the call was blocked before sending. Remove them, or use the guard's "redact" mode`,
        parameter: "messages"
      }),
      { model: request.model ?? inner.defaultModel }
    )
  )
}

/**
 * The guard as a Layer wrapping the `LanguageModel` below it.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * program.pipe(Effect.provide(PiiGuard.layer({ mode: "block" }).pipe(Layer.provide(providerLayer))))
 */
export const layer = (options: Options = {}): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  LanguageModel.layerWrap((inner) => Effect.succeed(wrap(inner, options)))

/**
 * The `pii` section of the configuration file:
 * `pii: { mode: redact | block, kinds: [email, phone, creditCard, iban, ssn, ipv4, ipv6, apiKey] }`.
 *
 * @since 0.1.0
 * @category config
 */
export const PiiConfig = Schema.Struct({
  mode: Schema.Literals(["redact", "block"]).annotate({
    description: "redact: replace personal data in prompts with placeholders; block: refuse the call (InvalidRequest)."
  }),
  kinds: Schema.optionalKey(
    Schema.Array(Schema.Literals(["email", "phone", "creditCard", "iban", "ssn", "ipv4", "ipv6", "apiKey"]))
  ).annotate({ description: "The kinds to look for (default: all)." })
}).annotate({ identifier: "PiiConfig" })

/**
 * @since 0.1.0
 * @category config
 */
export type PiiConfig = typeof PiiConfig.Type
