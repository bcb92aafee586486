import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as MockFault from "../../../src/providers/mock/MockFault.ts"

describe("MockFault", () => {
  it("parses a script in order", () => {
    assert.deepStrictEqual(
      MockFault.parseScript("429:2s, 500,503,timeout,hang,network,malformed,auth,400,ok,429"),
      Result.succeed([
        { _tag: "RateLimited", retryAfterMs: 2000 },
        { _tag: "ServerError", status: 500 },
        { _tag: "ServerError", status: 503 },
        { _tag: "Timeout" },
        { _tag: "Hang" },
        { _tag: "Network" },
        { _tag: "Malformed" },
        { _tag: "Authentication" },
        { _tag: "InvalidRequest" },
        { _tag: "Ok" },
        { _tag: "RateLimited" }
      ])
    )
  })

  it("accepts a list as well as a string", () => {
    assert.deepStrictEqual(MockFault.parseScript(["500", "ok"]), Result.succeed([{ _tag: "ServerError", status: 500 }, { _tag: "Ok" }]))
  })

  it("names the bad token and lists the good ones", () => {
    const parsed = MockFault.parseScript("500,418")
    assert.isTrue(Result.isFailure(parsed))
    if (Result.isFailure(parsed)) {
      assert.include(parsed.failure, `"418"`)
      assert.include(parsed.failure, "429:<duration>")
    }
  })

  it("refuses a bad retry-after duration", () => {
    assert.isTrue(Result.isFailure(MockFault.parseScript("429:soon")))
  })

  it("cut:N ends a stream after N chunks; a cut without a count is refused, naming the form", () => {
    assert.deepStrictEqual(MockFault.parseScript("cut:2,cut:0"), Result.succeed([{ _tag: "Cut", chunks: 2 }, { _tag: "Cut", chunks: 0 }]))
    const bad = MockFault.parseScript("cut:two")
    assert.isTrue(Result.isFailure(bad))
    if (Result.isFailure(bad)) assert.include(bad.failure, "cut:N takes a number of chunks")
    const unknown = MockFault.parseScript("teapot")
    if (Result.isFailure(unknown)) assert.include(unknown.failure, "cut:<chunks>")
    assert.strictEqual(MockFault.format({ _tag: "Cut", chunks: 3 }), "cut:3")
  })

  it("the Script schema reads a string or a list (numbers too), names a bad token, and writes tokens back", () => {
    const decode = Schema.decodeUnknownSync(MockFault.Script)
    const faults: ReadonlyArray<MockFault.MockFault> = [
      { _tag: "RateLimited", retryAfterMs: 2000 },
      { _tag: "ServerError", status: 500 },
      { _tag: "Timeout" }
    ]
    assert.deepStrictEqual(decode("429:2s,500,timeout"), faults)
    assert.deepStrictEqual(decode(["429:2s", 500, "timeout"]), faults)
    assert.throws(() => decode(["teapot"]), /unknown mock fault "teapot"/)
    assert.deepStrictEqual(Schema.encodeSync(MockFault.Script)(decode("429:2s,ok,hang,auth,400,network,malformed,503")), [
      "429:2s",
      "ok",
      "hang",
      "auth",
      "400",
      "network",
      "malformed",
      "503"
    ])
  })
})
