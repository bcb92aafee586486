import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
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
})
