import { assert, describe, it } from "@effect/vitest"
import { HttpClientError, HttpClientRequest } from "effect/http"
import * as Redaction from "../../../../src/observability/Redaction.ts"
import * as Errors from "../../../../src/providers/openai/internal/errors.ts"

const call: Errors.CallInfo = {
  provider: "openai",
  model: "gpt-4o-mini",
  baseUrl: "https://api.openai.com/v1",
  apiKey: "sk-live-abcdefghijklmnop"
}
const NOW = Date.parse("2026-01-01T00:00:00Z")
const body = (message: string, code?: string, type?: string) => JSON.stringify({ error: { message, code, type } })

interface Row {
  readonly name: string
  readonly status: number
  readonly headers?: Record<string, string>
  readonly body?: string
  readonly reason: string
  readonly retryable: boolean
  readonly retryAfterMs?: number
}

const rows: ReadonlyArray<Row> = [
  { name: "400", status: 400, body: body("bad param", "invalid_value"), reason: "InvalidRequest", retryable: false },
  { name: "422", status: 422, body: body("unprocessable"), reason: "InvalidRequest", retryable: false },
  { name: "413", status: 413, body: "too large", reason: "InvalidRequest", retryable: false },
  { name: "400 content filter (Azure)", status: 400, body: body("filtered", "content_filter"), reason: "ContentFiltered", retryable: false },
  { name: "401", status: 401, body: body("Incorrect API key"), reason: "Authentication", retryable: false },
  { name: "402 (OpenRouter credits)", status: 402, body: body("Insufficient credits"), reason: "PermissionDenied", retryable: false },
  { name: "403", status: 403, body: body("Country not supported"), reason: "PermissionDenied", retryable: false },
  { name: "404", status: 404, body: body("model not found"), reason: "NotFound", retryable: false },
  { name: "408", status: 408, reason: "Timeout", retryable: true },
  { name: "409", status: 409, reason: "ServerError", retryable: true },
  { name: "429 retry-after seconds", status: 429, headers: { "retry-after": "3" }, reason: "RateLimited", retryable: true, retryAfterMs: 3000 },
  { name: "429 retry-after-ms wins", status: 429, headers: { "retry-after-ms": "1500", "retry-after": "3" }, reason: "RateLimited", retryable: true, retryAfterMs: 1500 },
  {
    name: "429 retry-after HTTP date",
    status: 429,
    headers: { "retry-after": new Date(NOW + 7000).toUTCString() },
    reason: "RateLimited",
    retryable: true,
    retryAfterMs: 7000
  },
  {
    name: "429 x-ratelimit-reset-* (largest)",
    status: 429,
    headers: { "x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s" },
    reason: "RateLimited",
    retryable: true,
    retryAfterMs: 360_000
  },
  {
    name: "429 OpenRouter x-ratelimit-reset (epoch ms)",
    status: 429,
    headers: { "x-ratelimit-reset": String(NOW + 2500) },
    reason: "RateLimited",
    retryable: true,
    retryAfterMs: 2500
  },
  { name: "429 without hint", status: 429, reason: "RateLimited", retryable: true },
  { name: "429 insufficient_quota", status: 429, body: body("You exceeded your current quota", "insufficient_quota"), reason: "PermissionDenied", retryable: false },
  { name: "500", status: 500, body: "<html>oops</html>", reason: "ServerError", retryable: true },
  { name: "502", status: 502, reason: "ServerError", retryable: true },
  { name: "503", status: 503, reason: "Unavailable", retryable: true },
  { name: "529", status: 529, reason: "Unavailable", retryable: true }
]

describe("OpenAI-protocol error mapping (status/headers/body -> reason -> retryable)", () => {
  for (const row of rows) {
    it(row.name, () => {
      const error = Errors.fromStatus(call, { status: row.status, headers: row.headers ?? {}, body: row.body ?? "", nowMs: NOW })
      assert.strictEqual(error.reason._tag, row.reason)
      assert.strictEqual(error.isRetryable, row.retryable)
      assert.strictEqual(error.status, row.status)
      assert.strictEqual(error.provider, "openai")
      assert.strictEqual(error.model, "gpt-4o-mini")
      assert.strictEqual(error.retryAfterMs, row.retryAfterMs)
    })
  }

  it("keeps the request id and names the model on 404", () => {
    const error = Errors.fromStatus(call, { status: 404, headers: { "x-request-id": "req_1" }, body: "", nowMs: NOW })
    assert.strictEqual(error.requestId, "req_1")
    assert.include(error.message, "\"gpt-4o-mini\"")
  })

  it("scrubs the key and bearer tokens from provider text", () => {
    const error = Errors.fromStatus(call, {
      status: 401,
      headers: {},
      body: body(`Incorrect API key provided: ${call.apiKey}; header was Bearer ${call.apiKey}`),
      nowMs: NOW
    })
    assert.notInclude(error.message, "abcdefghijklmnop")
    assert.include(error.message, Redaction.PLACEHOLDER)
  })

  const request = HttpClientRequest.post("http://127.0.0.1:1/v1/chat/completions")
  const transport = (cause: unknown) =>
    new HttpClientError.HttpClientError({ reason: new HttpClientError.TransportError({ request, cause }) })

  it.each([
    ["ECONNREFUSED", "Network"],
    ["ECONNRESET", "Network"],
    ["UND_ERR_SOCKET", "Network"],
    ["ENOTFOUND", "Network"],
    ["UND_ERR_HEADERS_TIMEOUT", "Timeout"]
  ])("transport %s -> %s, retryable", (code, reason) => {
    const error = Errors.fromTransport(call, transport(Object.assign(new TypeError("fetch failed"), { cause: { code } })))
    assert.strictEqual(error.reason._tag, reason)
    assert.isTrue(error.isRetryable)
  })

  it("an invalid base URL -> Configuration", () => {
    const error = Errors.fromTransport(call, new HttpClientError.HttpClientError({
      reason: new HttpClientError.InvalidUrlError({ request, cause: new TypeError("Invalid URL") })
    }))
    assert.strictEqual(error.reason._tag, "Configuration")
    assert.isFalse(error.isRetryable)
  })

  it("our own timeout -> Timeout (attempt) with the elapsed time", () => {
    const error = Errors.timeout(call, 30_000)
    assert.strictEqual(error.reason._tag === "Timeout" && error.reason.scope, "attempt")
    assert.strictEqual(error.reason._tag === "Timeout" && error.reason.elapsedMs, 30_000)
    assert.isTrue(error.isRetryable)
  })
})

interface StreamRow {
  readonly name: string
  readonly data: unknown
  readonly reason: string
  readonly retryable: boolean
}

const streamRows: ReadonlyArray<StreamRow> = [
  { name: "OpenAI server_error", data: { error: { message: "The server had an error", type: "server_error" } }, reason: "ServerError", retryable: true },
  { name: "OpenAI rate_limit_exceeded (code)", data: { error: { message: "slow down", type: "requests", code: "rate_limit_exceeded" } }, reason: "RateLimited", retryable: true },
  { name: "insufficient_quota", data: { error: { message: "quota", type: "insufficient_quota" } }, reason: "PermissionDenied", retryable: false },
  { name: "invalid_request_error", data: { error: { message: "bad", type: "invalid_request_error" } }, reason: "InvalidRequest", retryable: false },
  { name: "invalid_api_key", data: { error: { message: "bad key", code: "invalid_api_key" } }, reason: "Authentication", retryable: false },
  { name: "content_filter", data: { error: { message: "filtered", code: "content_filter" } }, reason: "ContentFiltered", retryable: false },
  { name: "overloaded", data: { error: { message: "busy", type: "overloaded_error" } }, reason: "Unavailable", retryable: true },
  { name: "OpenRouter numeric code 502", data: { error: { code: 502, message: "Provider disconnected" } }, reason: "ServerError", retryable: true },
  { name: "OpenRouter numeric code 429", data: { error: { code: 429, message: "limited" } }, reason: "RateLimited", retryable: true },
  { name: "OpenRouter numeric code 503", data: { error: { code: 503, message: "no provider available" } }, reason: "Unavailable", retryable: true },
  { name: "vLLM BadRequestError, code 400", data: { error: { object: "error", message: "too long", type: "BadRequestError", code: 400 } }, reason: "InvalidRequest", retryable: false },
  { name: "LiteLLM code as text \"408\"", data: { error: { message: "timed out", type: "None", code: "408" } }, reason: "Timeout", retryable: true },
  { name: "Ollama { error: text }", data: { error: "something broke" }, reason: "ServerError", retryable: true },
  { name: "unknown type", data: { error: { message: "?", type: "mystery" } }, reason: "ServerError", retryable: true }
]

describe("OpenAI-protocol error mapping of an error sent mid-stream (data line -> reason -> retryable)", () => {
  for (const row of streamRows) {
    it(row.name, () => {
      const error = Errors.fromStreamError(call, row.data, "req_stream")
      assert.strictEqual(error.reason._tag, row.reason)
      assert.strictEqual(error.isRetryable, row.retryable)
      assert.isUndefined(error.status) // the stream had opened with 200
      assert.strictEqual(error.requestId, "req_stream")
      assert.strictEqual(error.provider, "openai")
      assert.include(error.message, "in the stream")
    })
  }

  it("scrubs the key from the provider's text", () => {
    const error = Errors.fromStreamError(call, { error: { message: `bad key ${call.apiKey}`, type: "invalid_api_key" } }, undefined)
    assert.notInclude(error.message, "abcdefghijklmnop")
  })

  it("a stream cut before the answer was whole -> Network, retryable", () => {
    const error = Errors.cutOff(call, "req_1")
    assert.strictEqual(error.reason._tag, "Network")
    assert.isTrue(error.isRetryable)
    assert.strictEqual(error.requestId, "req_1")
  })
})
