/**
 * Reading a response body as it arrives, for the SSE adapters' pull loops (issue 14, stop 31,
 * ADR 0064).
 *
 * A {@link Reader} is read synchronously ({@link Reader.read}: the chunks that are there now, the
 * end, or the transport's failure) and waited on only when nothing is there ({@link Reader.wait}).
 * A read that finds bytes costs no effect step, and a stream opens without a channel of its own.
 *
 * - {@link ofResponse}: when the response's body is a Node `Readable` (the `source.body` of
 *   `NodeHttpClient.layerUndici`'s response, the `source` `IncomingMessage` of the `node:http`
 *   clients, serve's lean transport among them), it is read directly: `read()` while it has
 *   bytes, one `Effect.callback` while it has none. Its failures are the ones the response's own
 *   `stream` gives (`HttpClientError` with a `DecodeError` of the same cause: the readable's error,
 *   or a premature close). Closing the reader (the stream's scope closes) removes its listeners and
 *   destroys a body not read to its end, as the response's `stream` does.
 * - Any other response (a fetch `Response`, a test's fake): its `stream`, one pull per wait.
 *
 * @since 0.1.0
 * @internal
 */
import { type Array as Arr, Cause, Effect, type Pull, type Stream } from "effect"
import { HttpClientError, type HttpClientResponse } from "effect/http"
import { Readable } from "node:stream"
import * as Streams from "../../internal/streams.ts"

/**
 * What a read found: chunks of bytes (non-empty), `null` at the end of the body, `undefined` when
 * nothing is there yet (wait, then read again), or the transport's failure.
 *
 * @since 0.1.0
 * @category models
 */
export type Read = Arr.NonEmptyReadonlyArray<Uint8Array> | null | undefined | HttpClientError.HttpClientError

/**
 * A body being read.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reader {
  /** What is there now (see {@link Read}); after `null` or a failure, the same again. */
  readonly read: () => Read
  /** Waits until a read may find something new (it may still find nothing: read, then wait again). */
  readonly wait: Effect.Effect<void>
  /** Removes the reader's listeners; destroys a body not read to its end. */
  readonly close: () => void
}

/**
 * The Node `Readable` a response's body is read from, when it has one: the `source` of a
 * `node:http` response, the `source.body` of an undici one; else `undefined` (read its `stream`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const readableOf = (response: HttpClientResponse.HttpClientResponse): Readable | undefined => {
  const source = (response as { readonly source?: unknown }).source
  if (source instanceof Readable) return source
  if (typeof source === "object" && source !== null) {
    const body = (source as { readonly body?: unknown }).body
    if (body instanceof Readable) return body
  }
  return undefined
}

const ignore = () => undefined

const prematureClose = (): Error => Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" })

/**
 * A reader over a Node `Readable` (from {@link readableOf}).
 *
 * @since 0.1.0
 * @category constructors
 */
export const ofReadable = (response: HttpClientResponse.HttpClientResponse, readable: Readable): Reader => {
  let waiting: ((effect: Effect.Effect<void>) => void) | undefined
  let failure: HttpClientError.HttpClientError | undefined
  const wake = () => {
    const resume = waiting
    if (resume === undefined) return
    waiting = undefined
    resume(Effect.void)
  }
  readable.on("readable", wake)
  readable.on("end", wake)
  readable.on("close", wake)
  // (kept after close: an error that comes later is handled)
  readable.on("error", wake)
  const fail = (cause: unknown) =>
    failure ??= new HttpClientError.HttpClientError({
      reason: new HttpClientError.DecodeError({ request: response.request, response, cause })
    })
  const read = (): Read => {
    if (failure !== undefined) return failure
    let item: Uint8Array | null = readable.read()
    if (item !== null) {
      const chunks: Arr.NonEmptyArray<Uint8Array> = [item]
      // read() can refill the buffer synchronously: null is not the end of what is there
      while ((item = readable.read()) !== null) chunks.push(item)
      return chunks
    }
    if (readable.errored !== null) return fail(readable.errored)
    if (readable.readableEnded) return null
    if (readable.destroyed) return fail(prematureClose())
    return undefined
  }
  // (no canceller: an interrupted wait's resume is ignored by the fiber, and `close` drops it)
  const wait = Effect.callback<void>((resume) => {
    waiting = resume
  })
  const close = () => {
    waiting = undefined
    readable.off("readable", wake)
    readable.off("end", wake)
    readable.off("close", wake)
    readable.on("error", ignore)
    if (!readable.readableEnded && !readable.destroyed) readable.destroy()
  }
  return { read, wait, close }
}

/**
 * A reader over the pull of a body's `stream` (any `HttpClientResponse`): each wait is one pull.
 *
 * @since 0.1.0
 * @category constructors
 */
export const ofPull = (
  pull: Pull.Pull<Arr.NonEmptyReadonlyArray<Uint8Array>, HttpClientError.HttpClientError, unknown>
): Reader => {
  let got: Read
  const wait = Effect.matchEffect(pull, {
    onFailure: (error: HttpClientError.HttpClientError | Cause.Done<unknown>) => {
      got = Cause.isDone(error) ? null : error
      return Effect.void
    },
    onSuccess: (chunks: Arr.NonEmptyReadonlyArray<Uint8Array>) => {
      got = chunks
      return Effect.void
    }
  })
  const read = (): Read => {
    const out = got
    // the end and a failure stay; chunks are handed over once
    if (out !== null && !(out instanceof HttpClientError.HttpClientError)) got = undefined
    return out
  }
  return { read, wait, close: ignore }
}

/**
 * The stream a pull over a response's body makes: `f` is given the body's {@link Reader} as the
 * stream opens. A Node body ({@link readableOf}) opens inline, in the step that opens the stream
 * (no channel of its own), its reader closed with the stream's scope; any other is read through
 * the response's `stream` ({@link ofPull}), in the step that opens that stream.
 *
 * @since 0.1.0
 * @category constructors
 */
export const stream = <A, E>(
  response: HttpClientResponse.HttpClientResponse,
  f: (body: Reader) => Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, void>
): Stream.Stream<A, E> => {
  const readable = readableOf(response)
  if (readable === undefined) return Streams.transform(response.stream, (upstream) => f(ofPull(upstream)))
  return Streams.fromOpen((_upstream, scope) => {
    const body = ofReadable(response, readable)
    const pull = f(body)
    const adding = Streams.addFinalizer(scope, () => {
      body.close()
      return undefined
    })
    return adding === undefined ? Effect.succeed(pull) : Effect.as(adding, pull)
  })
}
