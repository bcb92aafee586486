/**
 * Reading the output pipes of one `claude` run: into a buffer, at most so many bytes, a read
 * error ending the read (what was read is kept). The run reads stdout with a cap that fails the
 * call and stderr with one that drops the rest.
 *
 * @since 0.1.0
 */
import { Effect, Stream } from "effect"

/**
 * What was read from one pipe so far.
 *
 * @since 0.1.0
 * @category models
 */
export interface Collected {
  readonly chunks: Array<Uint8Array>
  size: number
}

/**
 * An empty buffer, for one pipe of one run.
 *
 * @since 0.1.0
 * @category constructors
 */
export const collected = (): Collected => ({ chunks: [], size: 0 })

/**
 * What was read, as UTF-8 text.
 *
 * @since 0.1.0
 * @category accessors
 */
export const textOf = (from: Collected): string => Buffer.concat(from.chunks, from.size).toString("utf8")

/**
 * Reads a pipe into `into` until it ends (a read error ends it too: what was read is kept). Past
 * `maxBytes`, `onFull` decides: fail the read, or go on reading and drop the rest (so that the
 * process never blocks on a full pipe).
 *
 * @since 0.1.0
 * @category reading
 */
export const collect = <E>(
  stream: Stream.Stream<Uint8Array, unknown>,
  into: Collected,
  maxBytes: number,
  onFull: Effect.Effect<void, E>
): Effect.Effect<void, E> =>
  Stream.runForEach(Stream.ignore(stream, { log: false }), (chunk) => {
    if (into.size + chunk.length <= maxBytes) {
      into.chunks.push(chunk)
      into.size += chunk.length
      return Effect.void
    }
    if (into.size < maxBytes) {
      into.chunks.push(chunk.subarray(0, maxBytes - into.size))
      into.size = maxBytes
    }
    return onFull
  })

