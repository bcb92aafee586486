/**
 * Sending a request whose body is read as a stream (server-sent events), with the request's
 * lifetime tied to the stream's: the HTTP side shared by the SSE adapters (`OpenAiClient`, the
 * Anthropic client). See ADR 0037.
 *
 * Effect's `HttpClient` wraps the response of an ordinary `execute` so that its `stream` ends with
 * `Stream.suspend` + `Stream.ensuring(abort)`: the request's `AbortController` is aborted when the
 * body stream ends, even when the body was read to its end. Aborting makes a `DOMException` (a
 * stack trace captured through the fiber's frames) and dispatches an `abort` event: about a tenth
 * of a streamed call's client CPU, for nothing, since a body read to its end has nothing left to
 * abort (undici drops its abort listener when the body closes). Here the request is executed
 * through `HttpClient.withScope` instead (Effect's public way to tie a request to a scope; its
 * response is not wrapped) in a scope of the request's own, and the stream's scope closes that
 * scope, aborting the request, unless the body's end was read ({@link Sent.bodyEnded}):
 *
 * - the stream fails, is interrupted (the consumer stops, a timeout), or ends before the body's
 *   end was read (a size cap while draining, a consumer that stops early): the request is
 *   aborted, as before (the server sees the socket close);
 * - the body was read to its end: nothing is aborted; the request's scope, holding only the
 *   abort, is dropped with the call, and the connection goes back to the pool.
 *
 * A `generate` call keeps the ordinary `execute` (its body is read whole with `text`, which does
 * not abort): sent this way too it cost more, not less (measured, ADR 0037).
 *
 * The request can also be aborted from outside the fiber reading it: it registers its abort with
 * the stream timeouts above it, when they offered a slot for the stream's scope
 * (`Deadlines.registerAbort`). A first-part or idle wait that runs out then aborts the request (the
 * server sees the socket close), and the pending read of the body fails instead of having to be
 * abandoned by a reader fiber of the timeouts' own (ADR 0045).
 *
 * @since 0.1.0
 * @internal
 */
import { type Cause, type Clock, type Context, Effect, Exit, Scope } from "effect"
import { HttpClient, type HttpClientError, type HttpClientRequest, type HttpClientResponse } from "effect/http"
import { type Deadline, registerAbort, wheelOf } from "../../internal/deadlines.ts"
import * as Streams from "../../internal/streams.ts"

/**
 * A request being sent: its response (headers read), and the mark that its body was read to the
 * end.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sent {
  /** Sends the request; succeeds with the response once its headers are read. */
  readonly response: Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>
  /** Marks the body as read to its end: the request is then left to finish, not aborted. */
  readonly bodyEnded: () => void
  /**
   * Bounds the stream's opening (the request sent, its response headers, and whatever `effect`
   * reads before the stream starts, e.g. an error body) by the adapter's timeout: when it runs
   * out, the request is aborted and the opening fails with `onTimeout()` (see {@link stream}).
   */
  readonly opening: <A, E, E2>(effect: Effect.Effect<A, E>, onTimeout: () => E2) => Effect.Effect<A, E | E2>
}

/**
 * The bound on a stream's opening: the adapter's timeout, on the shared timer of the fiber's
 * clock (`internal/deadlines.ts`).
 *
 * @since 0.1.0
 * @category models
 */
export interface OpeningBound {
  readonly clock: Clock.Clock
  readonly context: Context.Context<never>
  readonly timeoutMs: number
}

/**
 * A client whose requests are tied to the scope in their context (`HttpClient.withScope`): made
 * once per client, used with {@link stream}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const client = (http: HttpClient.HttpClient): Scoped => HttpClient.withScope(http)

/**
 * A client whose requests need the scope they are tied to.
 *
 * @since 0.1.0
 * @category models
 */
export type Scoped = HttpClient.HttpClient.With<HttpClientError.HttpClientError, Scope.Scope>

/**
 * Prepares `request` with `scoped` (from {@link client}), in the step that opens the stream: the
 * request is aborted when `streamScope` closes, unless {@link Sent.bodyEnded} was called first.
 * Its abort is added to the stream's scope as the layers add theirs (`Streams.addFinalizerNow`: in
 * this step, joined with the layers' finalizers when they are the scope's only one), and offered
 * to the stream timeouts above (`registerAbort`), before the request is sent.
 *
 * The opening is bounded by `bound` without a fiber of its own ({@link Sent.opening}): a deadline
 * on the shared timer, armed here, that aborts the request when it runs out (the pending read of
 * the headers, or of an error body, then fails, and the opening fails with the timeout instead),
 * disarmed when the opening ends (or the stream's scope closes). `Deadlines.bounded` would run the
 * opening in a fiber of its own, to be able to interrupt it: a request that can be aborted needs
 * none.
 *
 * @since 0.1.0
 * @category constructors
 */
export const stream = (
  scoped: Scoped,
  request: HttpClientRequest.HttpClientRequest,
  streamScope: Scope.Scope,
  bound: OpeningBound
): Sent => {
  const requestScope = Scope.makeUnsafe()
  let ended = false
  const bodyEnded = () => {
    ended = true
  }
  // The opening's deadline: aborts the request when it runs out.
  let timedOut = false
  const wheel = wheelOf(bound.clock, bound.timeoutMs, bound.context)
  let deadline: Deadline | undefined = wheel.add(bound.clock.currentTimeMillisUnsafe() + bound.timeoutMs, () => {
    deadline = undefined
    timedOut = true
    if (!ended) abortNow(requestScope)
  })
  const settle = () => {
    if (deadline === undefined) return
    wheel.leave(deadline)
    deadline = undefined
  }
  // A timeout above that can abort this request from its timer (registered before it is sent).
  const slot = registerAbort(streamScope, () => {
    if (!ended) abortNow(requestScope)
  })
  const adding = Streams.addFinalizerNow(streamScope, (exit) => {
    settle()
    slot?.release()
    return ended ? undefined : Scope.close(requestScope, exit)
  })
  const execute = Effect.provideService(scoped.execute(request), Scope.Scope, requestScope)
  const opening = <A, E, E2>(effect: Effect.Effect<A, E>, onTimeout: () => E2): Effect.Effect<A, E | E2> =>
    Effect.matchCauseEffect(effect, {
      onSuccess: (value: A): Effect.Effect<A, E | E2> => {
        settle()
        return Effect.succeed(value)
      },
      onFailure: (cause: Cause.Cause<E>): Effect.Effect<A, E | E2> => {
        settle()
        return timedOut ? Effect.fail(onTimeout()) : Effect.failCause(cause)
      }
    })
  return { response: adding === undefined ? execute : Effect.andThen(adding, execute), bodyEnded, opening }
}

// Closes a request's scope at once, outside any fiber's run of it: its one finalizer (from
// `HttpClient.withScope`) aborts the request's `AbortController`, synchronously. Closed before the
// request was sent, the request is aborted as it is sent (a closed scope runs a finalizer added to
// it at once), so it never reaches the server.
const abortNow = (requestScope: Scope.Closeable): void => {
  const closing = Scope.closeUnsafe(requestScope, Exit.interrupt())
  if (closing !== undefined) Effect.runSyncExit(closing)
}

