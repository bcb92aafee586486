/**
 * The tokenizer's work on hostile input, measured as work rather than time: every piece handed
 * to BPE is recorded (the BPE functions are wrapped), and the tests check that no piece holds a
 * run (of whitespace or of anything else) longer than `MAX_RUN`, BPE being quadratic in the
 * length of one run, and that one count reads at most `EXACT_LIMIT_BYTES` characters with BPE.
 */
import { assert, beforeEach, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import * as Tokenizer from "../src/Tokenizer.ts"

const pieces: Array<string> = vi.hoisted(() => [])

vi.mock("gpt-tokenizer", async (importOriginal) => {
  const actual = await importOriginal<typeof import("gpt-tokenizer")>()
  return {
    ...actual,
    countTokens: (text: string) => {
      pieces.push(text)
      return actual.countTokens(text)
    },
    encode: (text: string) => {
      pieces.push(text)
      return actual.encode(text)
    }
  }
})

const isSpace = (char: string) => /\s/.test(char)

/** The longest run of whitespace, or of other characters, in a text. */
const longestRun = (text: string): number => {
  let longest = 0
  let run = 0
  let previous: boolean | undefined
  for (const char of text) {
    const space = isSpace(char)
    run = space === previous ? run + char.length : char.length
    previous = space
    if (run > longest) longest = run
  }
  return longest
}

const work = () => ({
  longestRun: Math.max(0, ...pieces.map(longestRun)),
  characters: pieces.reduce((sum, piece) => sum + piece.length, 0)
})

const cjk = (length: number) => {
  let text = ""
  for (let index = 0; index < length; index++) text += String.fromCharCode(0x4e00 + ((index * 7919) % 20_000))
  return text
}

const hostile: ReadonlyArray<readonly [string, () => string]> = [
  ["10 MB without whitespace", () => "x".repeat(10_000_000)],
  ["10 MB of spaces", () => " ".repeat(10_000_000)],
  ["10 MB of newlines after punctuation", () => "!" + "\n".repeat(10_000_000)],
  ["1 MB of CJK", () => cjk(350_000)],
  ["a base64 blob", () => Buffer.from("x".repeat(3_000_000)).toString("base64")],
  ["ordinary words", () => "the quick brown fox jumps ".repeat(400_000)]
]

describe("Tokenizer: work on hostile input", () => {
  beforeEach(() => {
    pieces.length = 0
  })

  it.each(hostile)("counting %s: runs of at most MAX_RUN, at most EXACT_LIMIT_BYTES read with BPE", (_name, make) => {
    const text = make()
    const count = Tokenizer.countText(text)
    assert.isAtMost(count, Buffer.byteLength(text, "utf8"))
    const done = work()
    assert.isAtMost(done.longestRun, Tokenizer.MAX_RUN)
    assert.isAtMost(done.characters, Tokenizer.EXACT_LIMIT_BYTES)
  })

  it.each(hostile)("a request holding %s twice reads at most EXACT_LIMIT_BYTES with BPE", (_name, make) => {
    const text = make()
    Tokenizer.countRequest({ system: text, messages: [{ role: "user", content: text }] })
    assert.isAtMost(work().characters, Tokenizer.EXACT_LIMIT_BYTES)
    assert.isAtMost(work().longestRun, Tokenizer.MAX_RUN)
  })

  it.each(hostile)("truncating %s to 100 tokens encodes only a few pieces", (_name, make) => {
    const text = make()
    const cut = Tokenizer.truncate(text, 100)
    assert.isTrue(cut.truncated)
    assert.isTrue(text.startsWith(cut.text))
    assert.isAtMost(Tokenizer.countText(cut.text), 100)
    pieces.length = 0
    Tokenizer.truncate(text, 100)
    // Pieces of runs or of a few kilobytes, each giving a token at least, encoded only until
    // 100 tokens are kept: never the whole text.
    assert.isAtMost(work().longestRun, Tokenizer.MAX_RUN)
    assert.isAtMost(work().characters, 101 * Tokenizer.MAX_RUN + 2 * 4096)
  })
})

describe("Tokenizer.truncate", () => {
  it("keeps a text within the cap whole, and cuts one over it at the cap", () => {
    assert.deepStrictEqual(Tokenizer.truncate("hello world", 2), { text: "hello world", truncated: false })
    assert.deepStrictEqual(Tokenizer.truncate("one two three", 2), { text: "one two", truncated: true })
    assert.deepStrictEqual(Tokenizer.truncate("", 2), { text: "", truncated: false })
  })

  it("is the BPE prefix for ordinary text", async () => {
    const { decode, encode } = await import("gpt-tokenizer")
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(500)
    const cut = Tokenizer.truncate(text, 1_000)
    assert.strictEqual(cut.text, decode(encode(text).slice(0, 1_000)))
  })
})
