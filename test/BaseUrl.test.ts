import { assert, describe, it } from "@effect/vitest"
import { Redacted, Result, Schema } from "effect"
import * as BaseUrl from "../src/BaseUrl.ts"

describe("BaseUrl", () => {
  it("endpoint: the path goes before the query; secret parameters are sent Redacted; shown redacted", () => {
    const target = BaseUrl.endpoint("https://gw.example/v1/?key=abc&alt=json#frag", "/chat/completions")
    assert.strictEqual(target.url, "https://gw.example/v1/chat/completions")
    const [key, alt] = target.urlParams.params
    assert.strictEqual(key![0], "key")
    assert.isTrue(Redacted.isRedacted(key![1]))
    assert.strictEqual(Redacted.isRedacted(key![1]) ? Redacted.value(key![1]) : "", "abc")
    assert.deepStrictEqual(alt, ["alt", "json"])
    assert.strictEqual(target.shown, "https://gw.example/v1?key=<redacted>&alt=json")
  })

  it("endpoint: a plain base URL is joined as before, with no parameters", () => {
    const target = BaseUrl.endpoint("http://127.0.0.1:11434/v1/", "/chat/completions")
    assert.strictEqual(target.url, "http://127.0.0.1:11434/v1/chat/completions")
    assert.strictEqual(target.urlParams.params.length, 0)
    assert.strictEqual(target.shown, "http://127.0.0.1:11434/v1")
    assert.strictEqual(BaseUrl.endpoint("http://u:pw@h/v1", "/x").shown, "http://u:<redacted>@h/v1")
  })

  it("check / BaseUrlString: http and https only, never quoting the URL", () => {
    assert.isTrue(Result.isSuccess(BaseUrl.check("https://api.openai.com/v1")))
    assert.isTrue(Result.isSuccess(BaseUrl.check("http://localhost:11434/v1?key=x")))
    const ftp = BaseUrl.check("ftp://user:pw@files.example/v1")
    assert.isTrue(Result.isFailure(ftp))
    if (Result.isFailure(ftp)) {
      assert.include(ftp.failure, "ftp://")
      assert.notInclude(ftp.failure, "pw")
    }
    assert.isTrue(Result.isFailure(BaseUrl.check("localhost:8080")))
    assert.isTrue(Result.isFailure(BaseUrl.check("not a url")))
    const decode = Schema.decodeUnknownResult(BaseUrl.BaseUrlString)
    assert.isTrue(Result.isSuccess(decode("http://127.0.0.1:8080/v1")))
    assert.isTrue(Result.isFailure(decode("file:///etc/passwd")))
  })
})
