import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as StreamReader from "../../../../src/providers/claude-code/internal/StreamReader.ts"

const encoder = new TextEncoder()
const line = (value: unknown) => `${JSON.stringify(value)}\n`
const delta = (text: string, parent: string | null = null) =>
  line({
    type: "stream_event",
    event: { type: "content_block_delta", index: 0, delta: { type: "text_delta", text } },
    parent_tool_use_id: parent
  })
const result = (text: string) => line({ type: "result", subtype: "success", is_error: false, result: text, usage: { input_tokens: 3, output_tokens: 2 } })

/** Feeds the text in chunks of `size` bytes. */
const feedAll = (reader: StreamReader.Reader, text: string, size: number) => {
  const bytes = encoder.encode(text)
  for (let at = 0; at < bytes.length; at += size) {
    const failure = reader.feed(bytes.subarray(at, at + size))
    if (failure !== undefined) return failure
  }
  return undefined
}

describe("claude-code StreamReader (stream-json lines)", () => {
  it("emits the main conversation's text deltas in order, however the bytes are split (UTF-8 included)", () => {
    for (const size of [1, 3, 7, 1000]) {
      const reader = StreamReader.make(1_000_000)
      const output = line({ type: "system", subtype: "init", tools: [] }) +
        delta("Grüße, ") + delta("ignored", "toolu_1") + delta("wörld ✓") +
        line({ type: "assistant", message: { content: [{ type: "text", text: "Grüße, wörld ✓" }], usage: { input_tokens: 3 } } }) +
        result("Grüße, wörld ✓")
      assert.isUndefined(feedAll(reader, output, size))
      assert.deepStrictEqual(reader.take(), [{ type: "text-delta", text: "Grüße, " }, { type: "text-delta", text: "wörld ✓" }])
      assert.strictEqual(reader.streamed(), "Grüße, wörld ✓")
      assert.isTrue(reader.done())
      const read = reader.result()!
      assert.isTrue(Result.isSuccess(read))
      assert.strictEqual(Result.isSuccess(read) && read.success.result, "Grüße, wörld ✓")
    }
  })

  it("stops at the result line; lines that are not JSON are counted and skipped; the last line may lack its line end", () => {
    const reader = StreamReader.make(1_000_000)
    feedAll(reader, `Warning: old config\n${delta("a")}${result("a").trimEnd()}`, 5)
    assert.isFalse(reader.done())
    reader.end()
    assert.isTrue(reader.done())
    assert.strictEqual(reader.unreadable(), 1)
    feedAll(reader, delta("after the result"), 100)
    assert.deepStrictEqual(reader.take(), [{ type: "text-delta", text: "a" }])
  })

  it("a result line of the wrong shape is a failure to report, not a crash", () => {
    const reader = StreamReader.make(1_000_000)
    feedAll(reader, line({ type: "result", result: 42 }), 100)
    const read = reader.result()!
    assert.isTrue(Result.isFailure(read))
    assert.include(Result.isFailure(read) ? read.failure : "", "unexpected shape")
  })

  it("past the cap (a line without end included) it reports OutputTooLarge instead of buffering on", () => {
    const reader = StreamReader.make(1024)
    const failure = feedAll(reader, "x".repeat(5000), 256)
    assert.deepStrictEqual(failure, { _tag: "OutputTooLarge", maxBytes: 1024 })
  })
})
