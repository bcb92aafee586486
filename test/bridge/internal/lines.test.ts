/**
 * The bridge's bounded line reader: lines split at any chunk boundary (multi-byte characters
 * included), CRLF, a line over the limit reported by its size and skipped, a last line without
 * a newline; a whole document cut off once over its limit.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as Lines from "../../../src/bridge/internal/lines.ts"

const bytes = (text: string) => new TextEncoder().encode(text)

// The same input cut into chunks of every size from 1 byte up.
const everyChunking = (text: string): Array<Array<Uint8Array>> => {
  const all = bytes(text)
  return Array.from({ length: all.length }, (_, index) => index + 1).map((size) => {
    const chunks: Array<Uint8Array> = []
    for (let start = 0; start < all.length; start += size) chunks.push(all.slice(start, start + size))
    return chunks
  })
}

describe("bridge lines", () => {
  it.effect("splits lines at any chunk boundary, keeps UTF-8 whole, drops CR, reports an over-long line and goes on", () =>
    Effect.gen(function*() {
      const text = `{"a":"ünï"}\r\n${"x".repeat(30)}\nshort\n\nlast`
      for (const chunks of everyChunking(text)) {
        const lines = yield* Stream.runCollect(Lines.lines(Stream.fromIterable(chunks), 20))
        assert.deepStrictEqual(lines, [
          { _tag: "Line", text: "{\"a\":\"ünï\"}" },
          { _tag: "TooLong", bytes: 30 },
          { _tag: "Line", text: "short" },
          { _tag: "Line", text: "" },
          { _tag: "Line", text: "last" }
        ])
      }
    }))

  it.effect("a document within the limit is read whole; one over it stops being read", () =>
    Effect.gen(function*() {
      const text = "{\n  \"prompt\": \"hi\"\n}\n"
      const whole = yield* Lines.document(Stream.fromIterable([bytes(text)]), 100)
      assert.deepStrictEqual(whole, { _tag: "Line", text })
      let pulled = 0
      const endless = Stream.fromIterable(Array.from({ length: 1000 }, () => bytes("x".repeat(10)))).pipe(
        Stream.tap(() => Effect.sync(() => void pulled++))
      )
      const cut = yield* Lines.document(endless, 35)
      assert.deepStrictEqual(cut, { _tag: "TooLong", bytes: 40 })
      assert.strictEqual(pulled, 4)
    }))
})
