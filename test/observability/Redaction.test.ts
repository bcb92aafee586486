/**
 * The one scrubber (src/observability/Redaction.ts): log lines, fixtures and the provider text
 * quoted in errors (through ProviderKit.scrub) all pass through `scrubText`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Redaction from "../../src/observability/Redaction.ts"

const P = Redaction.PLACEHOLDER

describe("Redaction.scrubText", () => {
  it.each([
    ["a full key", "key sk-proj-AbCdEf0123456789GhIjKlMnOp in text", `key ${P} in text`],
    ["a short or masked key a provider echoes", "Incorrect API key provided: sk-proj-****1234.", `Incorrect API key provided: ${P}.`],
    ["an Anthropic key", "key sk-ant-api03-abcdefghijkl end", `key ${P} end`],
    ["a bearer token", "sent Authorization: Bearer abc.def-ghi_0123", `sent Authorization: Bearer ${P}`],
    ["a Google key in a URL", "https://x.example/v1?key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", `https://x.example/v1?key=${P}`],
    ["nothing secret", "a task-runner asks the bearer of news", "a task-runner asks the bearer of news"]
  ])("%s", (_name, text, expected) => {
    assert.strictEqual(Redaction.scrubText(text), expected)
  })

  it("replaces the secrets it is given wherever they appear (4 characters or more)", () => {
    const key = "acme_live_key"
    assert.strictEqual(Redaction.scrubText(`bad ${key}; again ${key}`, [key]), `bad ${P}; again ${P}`)
    assert.strictEqual(Redaction.scrubText("a b c", ["b", undefined]), "a b c")
  })

  it.each([
    ["a key in the query", "https://gw.example/v1?key=abc123&alt=sse", `https://gw.example/v1?key=${P}&alt=sse`],
    ["userinfo with a password", "http://user:s3cret@10.0.0.1:8080/v1", `http://user:${P}@10.0.0.1:8080/v1`],
    ["a userinfo token", "https://ghp_token123@git.example/x", `https://${P}@git.example/x`],
    ["signed-URL and gateway parameters", "https://b.example/o?X-Amz-Signature=f00&subscription-key=k1&api-version=2024-06-01",
      `https://b.example/o?X-Amz-Signature=${P}&subscription-key=${P}&api-version=2024-06-01`],
    ["a path with a query (no scheme)", "POST /v1/chat/completions?access_token=t0k", `POST /v1/chat/completions?access_token=${P}`],
    ["sentence punctuation after a URL stays", "(at http://h/v1?token=abc).", `(at http://h/v1?token=${P}).`],
    ["names that only contain a secret word", "https://h/s?keyword=llm&tokenizer=bpe&monkey=1", "https://h/s?keyword=llm&tokenizer=bpe&monkey=1"]
  ])("URLs: %s", (_name, text, expected) => {
    assert.strictEqual(Redaction.scrubText(text), expected)
    assert.strictEqual(Redaction.redactUrl(text), expected)
  })

  it("redactQuery reads a query without its URL (OpenTelemetry's url.query)", () => {
    assert.strictEqual(Redaction.redactQuery("key=abc&alt=sse"), `key=${P}&alt=sse`)
    assert.strictEqual(Redaction.redactQuery("page=2"), "page=2")
  })

  it("keeps a JSON log line holding URLs parseable", () => {
    const line = JSON.stringify({ message: "failed at \"http://u:pw@h/v1?key=abc\"", url: "http://h/?sig=x" })
    assert.deepStrictEqual(JSON.parse(Redaction.scrubText(line)), {
      message: `failed at "http://u:${P}@h/v1?key=${P}"`,
      url: `http://h/?sig=${P}`
    })
  })

  it("keeps a JSON log line parseable", () => {
    const line = JSON.stringify({ message: "Authorization: Bearer abcdefgh0123456789", level: "INFO" })
    const scrubbed = JSON.parse(Redaction.scrubText(line)) as { message: string; level: string }
    assert.deepStrictEqual(scrubbed, { message: `Authorization: Bearer ${P}`, level: "INFO" })
  })

  it("scrubs a 10 MB key- or bearer-shaped run without overflowing the stack (no {n,} repetition)", () => {
    assert.strictEqual(Redaction.scrubText(`x sk-${"a".repeat(10_000_000)} y`), "x <redacted> y")
    assert.strictEqual(Redaction.scrubText(`Bearer ${"b".repeat(10_000_000)}`), "Bearer <redacted>")
  })
})
