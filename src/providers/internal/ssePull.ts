/**
 * The pull loop of the SSE adapters (OpenAI protocol and Anthropic; issue 14, ADRs 0056 and
 * 0064): one pull hands over what the reads of the body produce, reading while bytes are there
 * (no effect step for a read that finds them) and waiting only when none are. Each adapter gives
 * its {@link Source} (what its SSE parser produced, whether the answer is whole, its last element)
 * and its {@link Failures}; the loop, the byte cap, the drain after the last event and the order in
 * which parts, the last element and failures go out are the same for both.
 *
 * @since 0.1.0
 * @internal
 */
import { Array as Arr, Cause, type Clock, Effect, type Pull } from "effect"
import type { Sse } from "effect/encoding"
import { HttpClientError } from "effect/http"
import * as LlmError from "../../LlmError.ts"
import type * as Body from "./body.ts"
import * as ChunkText from "./chunkText.ts"

/**
 * One pull: a non-empty array of elements, the end, or the stream's failure.
 *
 * @since 0.1.0
 * @category models
 */
export type Pulled<A> = Pull.Pull<Arr.NonEmptyReadonlyArray<A>, LlmError.LlmError, void>

/**
 * What an adapter's SSE parser feeds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Source<A> {
  /** The parser the body's text is fed to (its handler fills the source). */
  readonly parser: Sse.Parser
  /**
   * What was produced since the last call: a non-empty array is handed over (the last element may
   * be pushed onto it); an empty one may be the source's own, and is left alone.
   */
  readonly take: () => Array<A>
  /** The failure an event gave (an error event, a line that is not JSON...), if any. */
  readonly failure: () => LlmError.LlmError | undefined
  /** Whether the answer is whole: its last event arrived, or the body ended after a finish reason. */
  readonly whole: (bodyEnded: boolean) => boolean
  /** The last element once the answer is whole; `undefined` for none, or the error to end with. */
  readonly end: (nowMs: number) => A | LlmError.LlmError | undefined
}

/**
 * The adapter's errors for what the loop finds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failures {
  readonly fromTransport: (error: HttpClientError.HttpClientError) => LlmError.LlmError
  /** The body ended before the answer was whole. */
  readonly cutOff: () => LlmError.LlmError
  /** The body passed the byte cap. */
  readonly tooLarge: () => LlmError.LlmError
  /** The parser's own refusal (an event too large). */
  readonly malformed: (message: string) => LlmError.LlmError
}

/**
 * The stream's pull over `body`. The last element goes out with what the last read produced, in
 * the same chunk, once the answer is whole: at its last event (the end of the body is read on the
 * next pull: what comes after is counted, not parsed, and past the cap the connection is left), or
 * at the end of a body after a finish reason. An error it ends with goes out after what was
 * produced (and after the drain).
 *
 * @since 0.1.0
 * @category constructors
 */
export const pull = <A>(
  body: Body.Reader,
  source: Source<A>,
  failures: Failures,
  /** The clock of the fiber that opened the stream (read synchronously for the last element). */
  clock: Clock.Clock,
  maxBytes: number,
  onBodyEnd: (() => void) | undefined
): Pulled<A> => {
  const decode = ChunkText.decoder()
  let bodyEnded = false
  let ended = false // the source's last element was taken
  let lastFailure: LlmError.LlmError | undefined // what the source's end gave instead of an element
  let drained = false
  let size = 0
  const endOfBody = () => {
    bodyEnded = true
    onBodyEnd?.()
  }
  // After the last event; a failure there does not matter any more.
  const drain = (): Effect.Effect<void, LlmError.LlmError> => {
    for (;;) {
      const got = body.read()
      if (got === undefined) return Effect.flatMap(body.wait, drain)
      if (got === null) {
        endOfBody()
        return Effect.void
      }
      if (got instanceof HttpClientError.HttpClientError) return Effect.fail(failures.fromTransport(got))
      for (const chunk of got) size += chunk.length
      if (size > maxBytes) return Effect.void
    }
  }
  const afterDrain = () => next()
  // (`take` hands over a non-empty array only: an empty one may be the source's own.)
  const last = (produced: Array<A>): Pulled<A> => {
    ended = true
    const element = source.end(clock.currentTimeMillisUnsafe())
    const failed = element !== undefined && LlmError.isLlmError(element)
    if (failed) lastFailure = element
    if (element === undefined || failed) {
      return Arr.isArrayNonEmpty(produced) ? Effect.succeed(produced) : next()
    }
    if (!Arr.isArrayNonEmpty(produced)) return Effect.succeed(Arr.of(element))
    produced.push(element)
    return Effect.succeed(produced)
  }
  const next = (): Pulled<A> => {
    for (;;) {
      // What was read goes out first: a failure ends the stream after what came before it.
      const produced = source.take()
      const failure = source.failure()
      if (failure !== undefined) return Arr.isArrayNonEmpty(produced) ? Effect.succeed(produced) : Effect.fail(failure)
      if (!ended && source.whole(bodyEnded)) return last(produced)
      if (Arr.isArrayNonEmpty(produced)) return Effect.succeed(produced)
      if (ended) {
        if (!bodyEnded && !drained) {
          drained = true
          return Effect.matchEffect(drain(), { onFailure: afterDrain, onSuccess: afterDrain })
        }
        return lastFailure === undefined ? Cause.done() : Effect.fail(lastFailure)
      }
      if (bodyEnded) return Effect.fail(failures.cutOff())
      const got = body.read()
      if (got === undefined) return Effect.flatMap(body.wait, next)
      if (got === null) {
        endOfBody()
        continue
      }
      // A transport failure (a dropped connection) ends the stream after what was produced.
      if (got instanceof HttpClientError.HttpClientError) return Effect.fail(failures.fromTransport(got))
      for (const chunk of got) {
        // A stream that goes on past the cap is cut: failing the read closes the connection.
        size += chunk.length
        if (size > maxBytes) return Effect.fail(failures.tooLarge())
        const tooLarge = source.parser.feed(decode(chunk))
        if (tooLarge !== undefined) return Effect.fail(failures.malformed(tooLarge.message))
      }
    }
  }
  return Effect.suspend(next)
}
