/**
 * The output cap of a stream, held locally: a stream whose answer passes the call's output cap
 * (a provider or gateway that ignores `max_tokens`) is cut off where it passes it.
 *
 * The cap is the attempt's `maxTokens`: the one the caller gave, or the one a budget reserved
 * (the budget layer sends its reserved output cap as `maxTokens`). Output tokens are counted as
 * the deltas arrive (text and tool-call fragments, with the `o200k` tokenizer, `Tokenizer`), as
 * cheaply as the cap allows: while the UTF-8 bytes streamed stay within the cap, no token count
 * is needed (a token is at least a byte); past that, the whole text is counted once and each
 * later delta's count is added to it, and when that sum passes the cap the whole text is counted
 * again (a word split across deltas counts more in pieces than whole), so that a stream that
 * stops at its cap is never cut. The first delta whose exact count passes
 * the cap is still passed on (its tokens were generated and billed: the caller and the budget
 * both see them), then the stream fails with `BudgetExceeded` (dimension `outputTokens`, `limit`
 * the cap, `consumed` the tokens counted, `overshoot` the tokens past the cap, at most one delta),
 * which ends the stream below: the HTTP request is aborted (or the subprocess killed). The budget
 * layer above commits what was streamed, so the usage is never lost; the tracker records the
 * overshoot against the reservation.
 *
 * Where it sits: right above the provider in every candidate stack (`Resilience.candidate`,
 * below retry, the limits and the budget's attempt settlement), because that is the one place
 * every streamed attempt passes through, with or without a budget layer, and where the request
 * carries the attempt's final cap (a retry under a budget may get a lower one). A stack composed
 * by hand adds {@link layer} right above its provider. A request without `maxTokens` has no cap
 * to hold: its stream passes through untouched. `generate` is left as it is: a whole answer has
 * already been generated and billed when it arrives, and the budget commits what it reports.
 *
 * @since 0.1.0
 */
import { Array as Arr, Cause, Effect, type Stream } from "effect"
import * as Streams from "../internal/streams.ts"
import * as LanguageModel from "../LanguageModel.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmRequest } from "../LlmRequest.ts"
import type * as StreamPart from "../StreamPart.ts"
import * as Tokenizer from "../Tokenizer.ts"

/**
 * The error a stream cut off at its output cap ends with.
 *
 * @since 0.1.0
 * @category constructors
 */
export const cutOffError = (
  provider: string,
  model: string | undefined,
  cap: number,
  counted: number
): LlmError.LlmError =>
  LlmError.make(
    provider,
    new LlmError.BudgetExceeded({
      description: `the stream passed its output cap of ${cap} tokens (maxTokens, or the budget's reserved output) by ` +
        `${counted - cap} tokens: the provider did not stop at max_tokens, so the stream was cut off here and the ` +
        `request aborted; the text so far was kept and its usage charged. Check that the provider honours max_tokens`,
      dimension: "outputTokens",
      limit: cap,
      consumed: counted,
      reserved: cap,
      requested: counted,
      overshoot: counted - cap
    }),
    { model }
  )

/**
 * Holds one stream to an output cap (see the module description). `cap` undefined: the stream
 * as it is.
 *
 * @since 0.1.0
 * @category combinators
 */
export const guard = (
  parts: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError>,
  cap: number | undefined,
  provider: string,
  model: string | undefined
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> => {
  if (cap === undefined) return parts
  // Hooks of the layers' one stage (`Streams.hooked`): the chunk with the part that passes the cap
  // goes out up to that part, and the next read fails before it reads (no upstream read after it;
  // the stream's end aborts the request). A failed opening below is the first read's failure (as
  // a stage of its own made it).
  return Streams.hooked<StreamPart.StreamPart, LlmError.LlmError>(parts, () => {
    // Per stream: the text so far and an upper bound on its tokens. A token is at least one UTF-8
    // byte, so while the bytes stay within the cap nothing is counted (most answers end there);
    // past that, the whole text is counted once, then each delta's count is added.
    let text = ""
    let counted = 0
    let counting = false
    let passed: number | undefined
    const check = (delta: string): boolean => {
      text += delta
      if (counting) {
        counted += Tokenizer.countText(delta)
        if (counted <= cap) return false
        // The sum of the pieces' counts can exceed the count of the whole: count the whole once.
        counted = Tokenizer.countText(text)
      } else {
        counted += Buffer.byteLength(delta, "utf8")
        if (counted <= cap) return false
        counting = true
        counted = Tokenizer.countText(text)
      }
      if (counted <= cap) return false
      passed = counted
      return true
    }
    const passes = (part: StreamPart.StreamPart): boolean =>
      part.type === "text-delta"
        ? check(part.text)
        : part.type === "tool-call-delta"
        ? check((part.name ?? "") + part.argumentsDelta)
        : false
    // (one class instance, not an object literal: `Streams.HookSet`)
    return new Streams.HookSet<StreamPart.StreamPart, LlmError.LlmError>(
      (chunk) => {
        const index = chunk.findIndex(passes)
        if (index < 0 || index === chunk.length - 1) return chunk
        const kept = chunk.slice(0, index + 1)
        return Arr.isArrayNonEmpty(kept) ? kept : chunk
      },
      undefined,
      undefined,
      () => (passed === undefined ? undefined : Cause.fail(cutOffError(provider, model, cap, passed)))
    )
  }, { catchOpening: true })
}

/**
 * Wraps a model so that each of its streams is held to its request's `maxTokens`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const wrap = (inner: LanguageModel.Service): LanguageModel.Service =>
  LanguageModel.wrap(inner, {
    generate: "unchanged",
    stream: (request: LlmRequest, next) =>
      request.maxTokens === undefined
        ? next(request)
        : guard(next(request), request.maxTokens, inner.provider, request.model ?? inner.defaultModel)
  })

/**
 * {@link wrap} as a wrapping layer: put it right above the provider.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = LanguageModel.layerWrap((inner) => Effect.succeed(wrap(inner)))
