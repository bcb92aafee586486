/**
 * Decoding a body's bytes to text chunk by chunk (UTF-8), for the SSE adapters' parsers.
 *
 * A character may be split across two reads, so a body is decoded with a streaming `TextDecoder`
 * (`{ stream: true }` keeps the bytes of an unfinished character for the next chunk). That
 * decoder is slow to make and to run: about 4 µs for a new one's first kilobyte and 1.5 µs per
 * kilobyte after, against 0.2-0.4 µs for a shared, non-streaming decoder (Node 24). A chunk that
 * ends with an ASCII byte cannot end inside a character, so, while no character is pending, such
 * a chunk (nearly every chunk of an event stream, whose events end with a newline) is decoded
 * with a shared decoder; the streaming one is made, and used, from the first chunk that ends
 * with another byte until a chunk through it ends with an ASCII byte again.
 *
 * Neither decoder removes a byte order mark (`ignoreBOM`): the SSE parser removes one at the
 * start of the stream, and only there.
 *
 * @since 0.1.0
 * @internal
 */

const whole = new TextDecoder("utf-8", { ignoreBOM: true })
const STREAM: TextDecodeOptions = { stream: true }

/**
 * A decoder for one body: each call decodes the next chunk.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decoder = (): (chunk: Uint8Array) => string => {
  let streaming: TextDecoder | undefined
  let pending = false // the streaming decoder may hold the start of a character
  return (chunk) => {
    if (chunk.length === 0) return ""
    const endsWhole = chunk[chunk.length - 1]! < 0x80
    if (!pending && endsWhole) return whole.decode(chunk)
    streaming ??= new TextDecoder("utf-8", { ignoreBOM: true })
    pending = !endsWhole
    return streaming.decode(chunk, STREAM)
  }
}
