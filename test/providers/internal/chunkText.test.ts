import { assert, describe, it } from "@effect/vitest"
import * as ChunkText from "../../../src/providers/internal/chunkText.ts"

const encode = (text: string) => new TextEncoder().encode(text)

/** Decodes `bytes` cut at `cuts` (byte offsets), chunk by chunk with one decoder. */
const decodeCut = (bytes: Uint8Array, cuts: ReadonlyArray<number>): string => {
  const decode = ChunkText.decoder()
  let out = ""
  let from = 0
  for (const cut of [...cuts, bytes.length]) {
    out += decode(bytes.subarray(from, cut))
    from = cut
  }
  return out
}

describe("ChunkText.decoder", () => {
  const text = "data: {\"content\":\"Grüße, 5 € — 😀 ok\"}\n\ndata: {\"content\":\"ß\"}\n\n"
  const bytes = encode(text)

  it("gives the text whatever the chunks: every single cut, inside characters too", () => {
    for (let cut = 0; cut <= bytes.length; cut++) assert.strictEqual(decodeCut(bytes, [cut]), text, `cut at ${cut}`)
  })

  it("every pair of cuts (a character split over three chunks, ASCII-ending chunks after a split)", () => {
    for (let first = 0; first <= bytes.length; first++) {
      for (let second = first; second <= bytes.length; second++) {
        assert.strictEqual(decodeCut(bytes, [first, second]), text, `cuts at ${first}, ${second}`)
      }
    }
  })

  it("one byte at a time", () => {
    assert.strictEqual(decodeCut(bytes, Array.from({ length: bytes.length }, (_, index) => index)), text)
  })

  it("keeps a byte order mark (the SSE parser removes the one at the start); invalid bytes become U+FFFD", () => {
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...encode("data: x\n\n")])
    assert.strictEqual(decodeCut(withBom, []), "\uFEFFdata: x\n\n")
    assert.strictEqual(decodeCut(withBom, [2]), "\uFEFFdata: x\n\n")
    assert.strictEqual(decodeCut(new Uint8Array([0x61, 0xff, 0x0a]), []), "a\uFFFD\n")
  })
})
