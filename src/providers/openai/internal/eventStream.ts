/**
 * Reading a chat-completions event stream: bytes -> text -> server-sent events (`effect/encoding`'s
 * `Sse.makeParser`, fed in the pull loop so that events go straight on and a `retry:` directive
 * from a proxy is ignored instead of ending the stream) -> JSON -> chunks -> a reader's parts, in
 * one stage from the socket to the consumer.
 *
 * - Each `data:` line is one chunk (`OpenAiSchema.readChatCompletionChunk`); comment lines and
 *   empty data lines are skipped. A line that is not JSON, or not a chunk, ends the stream with
 *   `ResponseMalformed`; an `error` object in a line (or an `event: error`) with the reason of its
 *   code or type (`Errors.fromStreamError`). What was read before a failure goes out first.
 * - `data: [DONE]` ends the answer: nothing after it is parsed, and the reader's last part goes
 *   out at once, in the same chunk as the parts the last read produced (everything it needs, the
 *   usage and the finish reason, came before `[DONE]`): one pull, not two, for every stage above.
 *   The end of the body (it comes with `[DONE]` or right after) is read on the next pull, before
 *   the stream ends. Reading to the end keeps the connection for the next call (closing it
 *   mid-body would cost that call a new connection, a TLS handshake); the openai SDK and the
 *   Vercel AI SDK read to the end too. A server that keeps the body open after `[DONE]` delays
 *   nothing the consumer gets (the text and the finish part are out), but holds the stream's end
 *   until the body ends, or the idle timeout of the resilience layer (or the consumer) ends it
 *   (ADR 0056). A body that ends without `[DONE]` is whole when a `finish_reason` came (a server
 *   that sends no `[DONE]`: the last part goes out when the end of the body is read), else cut
 *   (`Network`). A reader's end that is an error goes out after the parts produced, once the
 *   body's end is read.
 * - The bytes read are counted: past `maxBytes` the stream fails with
 *   `ProviderKit.responseTooLarge` and the connection is closed.
 * - `onBodyEnd` is called when the end of the body has been read (the caller then leaves the
 *   request to finish instead of aborting it: `internal/requests.ts`).
 * - The clock is the opening fiber's, read synchronously (no effect step) for the reader's end.
 * - The body is read with `Body` (`internal/body.ts`, ADR 0064): a Node body from its `Readable`,
 *   every read that finds bytes in the same pull and with no effect step, one wait when none are;
 *   any other through the response's `stream`.
 *
 * @since 0.1.0
 * @internal
 */
import { Clock, Effect, Stream } from "effect"
import { Sse } from "effect/encoding"
import type { HttpClientResponse } from "effect/http"
import * as LlmError from "../../../LlmError.ts"
import * as Body from "../../internal/body.ts"
import * as SsePull from "../../internal/ssePull.ts"
import * as ProviderKit from "../../ProviderKit.ts"
import * as Errors from "./errors.ts"
import * as OpenAiSchema from "./OpenAiSchema.ts"

/**
 * What is known once a stream has opened.
 *
 * @since 0.1.0
 * @category models
 */
export interface Opened {
  /** The request id from the response headers (`x-request-id`...), if any. */
  readonly requestId: string | undefined
  /** When the request was sent (epoch ms, from `Clock`). */
  readonly startedMs: number
}

/**
 * Turns the chunks of one stream into what the stream emits: it reads each chunk as it arrives,
 * hands over what it produced, and gives the last element (or the error the stream ends with)
 * once the answer is whole.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChunkReader<A> {
  /** Reads one chunk. */
  readonly onChunk: (chunk: OpenAiSchema.ChatCompletionChunk) => void
  /**
   * What was produced since the last call: a non-empty array is handed over (the reader's last
   * element may be pushed onto it); an empty one may be the reader's own, and is left alone.
   */
  readonly take: () => Array<A>
  /** The last element (not an `LlmError`), once the answer is whole; `undefined` for none, or the error to end with. */
  readonly end: (nowMs: number) => A | LlmError.LlmError | undefined
}

const preview = (text: string): string => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)

const hasError = (json: unknown): boolean =>
  typeof json === "object" && json !== null && "error" in json &&
  (json as { readonly error: unknown }).error !== null && (json as { readonly error: unknown }).error !== undefined

const hasFinishReason = (chunk: OpenAiSchema.ChatCompletionChunk): boolean => {
  const choices = chunk.choices
  if (choices === undefined || choices === null) return false
  for (const choice of choices) if (typeof choice.finish_reason === "string" && choice.finish_reason !== "") return true
  return false
}

const isBlank = (text: string): boolean => text.length === 0 || text.trim().length === 0

/**
 * Reads an event-stream body with a reader, as a stream of what the reader produces. The body is
 * read through `Body` (ADR 0064): a Node body directly (a read that finds bytes costs no effect
 * step, and the stream opens inline, without a channel of its own), any other through the
 * response's `stream`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const read = <A>(
  response: HttpClientResponse.HttpClientResponse,
  call: Errors.CallInfo,
  opened: Opened,
  /** The clock of the fiber that opened the stream (read synchronously for the reader's end). */
  clock: Clock.Clock,
  maxBytes: number,
  reader: ChunkReader<A>,
  onBodyEnd?: () => void
): Stream.Stream<A, LlmError.LlmError> =>
  Body.stream(response, (body) => pullOf(body, call, opened, clock, maxBytes, reader, onBodyEnd))

const pullOf = <A>(
  body: Body.Reader,
  call: Errors.CallInfo,
  opened: Opened,
  clock: Clock.Clock,
  maxBytes: number,
  reader: ChunkReader<A>,
  onBodyEnd: (() => void) | undefined
): SsePull.Pulled<A> => {
  const { requestId } = opened
  let failure: LlmError.LlmError | undefined
  let done = false // [DONE] arrived
  let finishReason = false // a finish_reason arrived
  const fail = (error: LlmError.LlmError) => {
    if (failure === undefined) failure = error
  }
  const parser = Sse.makeParser((event) => {
    if (event._tag !== "Event" || failure !== undefined || done) return
    const data = event.data
    if (data === "[DONE]") {
      done = true
      return
    }
    if (isBlank(data)) return // a keep-alive
    let json: unknown
    try {
      json = JSON.parse(data)
    } catch {
      if (event.event === "error") fail(Errors.fromStreamError(call, { error: data }, requestId))
      else fail(Errors.malformed(call, `a data line of the stream is not JSON (${preview(data)})`))
      return
    }
    if (event.event === "error" || hasError(json)) {
      fail(Errors.fromStreamError(call, json, requestId))
      return
    }
    const chunk = OpenAiSchema.readChatCompletionChunk(json)
    if (chunk === undefined) {
      fail(Errors.malformed(call, `a chunk of the stream has an unexpected shape (${preview(data)})`))
      return
    }
    if (!finishReason && hasFinishReason(chunk)) finishReason = true
    reader.onChunk(chunk)
  })
  // The answer is whole at [DONE], or at the end of a body that sent a finish_reason.
  return SsePull.pull(body, {
    parser,
    take: () => reader.take(),
    failure: () => failure,
    whole: (bodyEnded) => done || (bodyEnded && finishReason),
    end: (nowMs) => reader.end(nowMs)
  }, {
    fromTransport: (error) => Errors.fromTransport(call, error),
    cutOff: () => Errors.cutOff(call, requestId),
    tooLarge: () => ProviderKit.responseTooLarge(call, maxBytes, { requestId }),
    malformed: (message) => Errors.malformed(call, message)
  }, clock, maxBytes, onBodyEnd)
}

/**
 * The same reader over chunks already read (a server that answered one JSON completion).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromChunks = <A>(
  chunks: ReadonlyArray<OpenAiSchema.ChatCompletionChunk>,
  reader: ChunkReader<A>
): Stream.Stream<A, LlmError.LlmError> =>
  Stream.unwrap(Effect.map(Clock.currentTimeMillis, (nowMs) => {
    for (const chunk of chunks) reader.onChunk(chunk)
    const produced: Array<A> = reader.take()
    const element = reader.end(nowMs)
    if (element === undefined) return Stream.fromIterable(produced)
    if (LlmError.isLlmError(element)) return Stream.concat(Stream.fromIterable(produced), Stream.fail(element))
    produced.push(element)
    return Stream.fromIterable(produced)
  }))
