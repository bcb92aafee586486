/**
 * Bounded reading of the bridge's input: lines of at most `maxBytes` (a longer line is
 * reported by its length and skipped up to its newline, never held in memory), and a whole
 * document of at most `maxBytes` (reading stops as soon as it is passed).
 *
 * @since 0.1.0
 */
import { Effect, Stream } from "effect"

/**
 * One line of input: its text (UTF-8, without the newline and a trailing `\r`), or how long a
 * line over the limit was.
 *
 * @since 0.1.0
 * @category models
 */
export type Line =
  | { readonly _tag: "Line"; readonly text: string }
  | { readonly _tag: "TooLong"; readonly bytes: number }

const NEWLINE = 10
const decoder = new TextDecoder()

const textOf = (parts: ReadonlyArray<Uint8Array>, size: number): string => {
  const joined = parts.length === 1 ? parts[0]! : new Uint8Array(size)
  if (parts.length !== 1) {
    let offset = 0
    for (const part of parts) {
      joined.set(part, offset)
      offset += part.length
    }
  }
  const text = decoder.decode(joined)
  return text.endsWith("\r") ? text.slice(0, -1) : text
}

/**
 * A splitter of byte chunks into {@link Line}s of at most `maxBytes` each.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSplitter = (maxBytes: number) => {
  let parts: Array<Uint8Array> = []
  let size = 0
  let over = false
  const finishLine = (): Line => {
    const line: Line = over ? { _tag: "TooLong", bytes: size } : { _tag: "Line", text: textOf(parts, size) }
    parts = []
    size = 0
    over = false
    return line
  }
  const add = (segment: Uint8Array) => {
    size += segment.length
    if (over) return
    if (size > maxBytes) {
      over = true
      parts = []
    } else if (segment.length > 0) parts.push(segment)
  }
  return {
    push: (chunk: Uint8Array): ReadonlyArray<Line> => {
      const lines: Array<Line> = []
      let start = 0
      for (let index = chunk.indexOf(NEWLINE); index !== -1; index = chunk.indexOf(NEWLINE, start)) {
        add(chunk.subarray(start, index))
        lines.push(finishLine())
        start = index + 1
      }
      // Copy the rest: the chunk's buffer may be reused by the reader.
      if (start < chunk.length) add(chunk.slice(start))
      return lines
    },
    end: (): ReadonlyArray<Line> => (size > 0 || over ? [finishLine()] : [])
  }
}

/**
 * The lines of a byte stream, each at most `maxBytes`.
 *
 * @since 0.1.0
 * @category streams
 */
export const lines = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>, maxBytes: number): Stream.Stream<Line, E, R> =>
  Stream.suspend(() => {
    const splitter = makeSplitter(maxBytes)
    return bytes.pipe(
      Stream.flatMap((chunk) => Stream.fromIterable(splitter.push(chunk))),
      Stream.concat(Stream.suspend(() => Stream.fromIterable(splitter.end())))
    )
  })

/**
 * A whole document of at most `maxBytes`: its text, or `TooLong` with the bytes read when the
 * limit was passed (the rest is not read).
 *
 * @since 0.1.0
 * @category streams
 */
export const document = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>, maxBytes: number): Effect.Effect<Line, E, R> =>
  Effect.suspend(() => {
    const parts: Array<Uint8Array> = []
    let size = 0
    return bytes.pipe(
      Stream.takeUntil((chunk) => {
        size += chunk.length
        if (size <= maxBytes) parts.push(chunk.slice())
        return size > maxBytes
      }),
      Stream.runDrain,
      Effect.map((): Line => (size > maxBytes ? { _tag: "TooLong", bytes: size } : { _tag: "Line", text: textOf(parts, size) }))
    )
  })
