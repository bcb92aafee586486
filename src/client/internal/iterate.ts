/**
 * A stream as an async iterator for the Promise client: pulled chunk by chunk in the client's
 * runtime (`Stream.toPull` in a `Scope` the iterator owns), so that the stream's resources (the
 * HTTP response, the subprocess) live until the stream ends, fails, is aborted, the client is
 * closed, or the loop is left (`return()`, which `break` and a throw in `for await` call): each
 * closes the scope, which stops the call.
 *
 * @internal
 */
import { type Cause, Effect, Exit, type Fiber, type ManagedRuntime, Pull, Scope, Stream } from "effect"
import * as ClientError from "../ClientError.ts"

/** What the iterator needs of its client. */
export interface Host<R> {
  readonly runtime: ManagedRuntime.ManagedRuntime<R, unknown>
  /** The error of a closed client, `undefined` while it is open. */
  readonly closedError: () => unknown
  /** The streams being read, ended by the client's `close`. */
  readonly streams: Set<() => Promise<void>>
  /** The fibers running, interrupted by the client's `close`. */
  readonly inFlight: Set<Fiber.Fiber<unknown, unknown>>
}

/** The iterator over `parts`; `signal` aborts it (the pending `next()` rejects `Interrupted`). */
export const iterate = <A, E, R>(
  host: Host<R>,
  parts: Stream.Stream<A, E, R>,
  signal: AbortSignal | undefined
): AsyncIterableIterator<A> => {
  const { runtime } = host
  let scope: Scope.Closeable | undefined
  let pull: Effect.Effect<ReadonlyArray<A>, E | Cause.Done, R> | undefined
  let buffer: ReadonlyArray<A> = []
  let index = 0
  let ended = false
  const end = async (): Promise<void> => {
    if (ended) return
    ended = true
    host.streams.delete(end)
    signal?.removeEventListener("abort", onAbort)
    if (scope !== undefined) await runtime.runPromise(Scope.close(scope, Exit.void)).catch(() => undefined)
  }
  const onAbort = () => void end()
  signal?.addEventListener("abort", onAbort, { once: true })
  const done: IteratorReturnResult<undefined> = { done: true, value: undefined }
  const iterator: AsyncIterableIterator<A> = {
    next: async () => {
      if (signal?.aborted === true) {
        await end()
        throw ClientError.aborted(signal)
      }
      const closed = host.closedError()
      if (closed !== undefined) {
        await end()
        throw closed
      }
      if (ended) return done
      if (index < buffer.length) return { done: false, value: buffer[index++]! }
      if (scope === undefined) {
        scope = Scope.makeUnsafe()
        host.streams.add(end)
      }
      const opened = scope
      const step = pull ?? Effect.flatMap(Scope.provide(Stream.toPull(parts), opened), (next) => {
        pull = next
        return next
      })
      const exit = await runtime.runPromiseExit(step, {
        signal,
        onFiberStart: (fiber) => {
          host.inFlight.add(fiber)
          fiber.addObserver(() => host.inFlight.delete(fiber))
        }
      })
      if (Exit.isSuccess(exit)) {
        buffer = exit.value
        index = 0
        return iterator.next()
      }
      if (Pull.isDoneCause(exit.cause)) {
        await end()
        return done
      }
      await end()
      throw ClientError.fromCause(exit.cause, signal)
    },
    return: async () => {
      await end()
      return done
    },
    throw: async (error?: unknown) => {
      await end()
      throw error
    },
    [Symbol.asyncIterator]: () => iterator
  }
  return iterator
}
