import { assert, describe, it } from "@effect/vitest"
import { HttpClientError, HttpClientRequest } from "effect/http"
import * as Redaction from "../../../../src/observability/Redaction.ts"
import * as Errors from "../../../../src/providers/anthropic/internal/errors.ts"

const call: Errors.CallInfo = {
  provider: "anthropic",
  model: "claude-haiku-4-5",
  baseUrl: "https://api.anthropic.com",
  apiKey: "sk-ant-api03-abcdefghijklmnop"
}
const NOW = Date.parse("2026-01-01T00:00:00Z")
const body = (type: string, message: string) => JSON.stringify({ type: "error", error: { type, message }, request_id: "req_body" })

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
  { name: "400 invalid_request_error", status: 400, body: body("invalid_request_error", "max_tokens: Field required"), reason: "InvalidRequest", retryable: false },
  { name: "413 request_too_large", status: 413, body: body("request_too_large", "Request exceeds the maximum size"), reason: "InvalidRequest", retryable: false },
  { name: "422 (other 4xx)", status: 422, body: "unprocessable", reason: "InvalidRequest", retryable: false },
  { name: "401 authentication_error", status: 401, body: body("authentication_error", "invalid x-api-key"), reason: "Authentication", retryable: false },
  { name: "402 billing_error", status: 402, body: body("billing_error", "credit balance too low"), reason: "PermissionDenied", retryable: false },
  { name: "403 permission_error", status: 403, body: body("permission_error", "no access"), reason: "PermissionDenied", retryable: false },
  { name: "404 not_found_error", status: 404, body: body("not_found_error", "model: claude-x"), reason: "NotFound", retryable: false },
  { name: "408", status: 408, reason: "Timeout", retryable: true },
  { name: "409", status: 409, reason: "ServerError", retryable: true },
  { name: "429 retry-after seconds", status: 429, headers: { "retry-after": "3" }, body: body("rate_limit_error", "slow down"), reason: "RateLimited", retryable: true, retryAfterMs: 3000 },
  {
    name: "429 retry-after HTTP date",
    status: 429,
    headers: { "retry-after": new Date(NOW + 7000).toUTCString() },
    reason: "RateLimited",
    retryable: true,
    retryAfterMs: 7000
  },
  {
    name: "429 anthropic-ratelimit-*-reset (the latest), without retry-after",
    status: 429,
    headers: {
      "anthropic-ratelimit-requests-reset": new Date(NOW + 2000).toISOString(),
      "anthropic-ratelimit-tokens-reset": new Date(NOW + 9000).toISOString()
    },
    reason: "RateLimited",
    retryable: true,
    retryAfterMs: 9000
  },
  { name: "429 without hint", status: 429, reason: "RateLimited", retryable: true },
  { name: "500 api_error", status: 500, body: body("api_error", "Internal server error"), reason: "ServerError", retryable: true },
  { name: "502", status: 502, body: "<html>bad gateway</html>", reason: "ServerError", retryable: true },
  { name: "503", status: 503, reason: "Unavailable", retryable: true },
  { name: "504 timeout_error", status: 504, body: body("timeout_error", "Request timed out"), reason: "Timeout", retryable: true },
  { name: "529 overloaded_error", status: 529, body: body("overloaded_error", "Overloaded"), reason: "Unavailable", retryable: true },
  { name: "500 whose body says overloaded_error", status: 500, body: body("overloaded_error", "Overloaded"), reason: "Unavailable", retryable: true }
]

describe("Anthropic error mapping (status/headers/body -> reason -> retryable)", () => {
  for (const row of rows) {
    it(row.name, () => {
      const error = Errors.fromStatus(call, { status: row.status, headers: row.headers ?? {}, body: row.body ?? "", nowMs: NOW })
      assert.strictEqual(error.reason._tag, row.reason)
      assert.strictEqual(error.isRetryable, row.retryable)
      assert.strictEqual(error.status, row.status)
      assert.strictEqual(error.provider, "anthropic")
      assert.strictEqual(error.model, "claude-haiku-4-5")
      assert.strictEqual(error.retryAfterMs, row.retryAfterMs)
    })
  }

  it("keeps the request id (header, else the body's) and names the model on 404", () => {
    const fromHeader = Errors.fromStatus(call, { status: 404, headers: { "request-id": "req_1" }, body: body("not_found_error", "x"), nowMs: NOW })
    assert.strictEqual(fromHeader.requestId, "req_1")
    assert.include(fromHeader.message, "\"claude-haiku-4-5\"")
    const fromBody = Errors.fromStatus(call, { status: 404, headers: {}, body: body("not_found_error", "x"), nowMs: NOW })
    assert.strictEqual(fromBody.requestId, "req_body")
  })

  it("scrubs the key from provider text", () => {
    const error = Errors.fromStatus(call, {
      status: 401,
      headers: {},
      body: body("authentication_error", `invalid x-api-key: ${call.apiKey}`),
      nowMs: NOW
    })
    assert.notInclude(error.message, "abcdefghijklmnop")
    assert.include(error.message, Redaction.PLACEHOLDER)
  })

  it.each([
    ["overloaded_error", "Unavailable", true],
    ["api_error", "ServerError", true],
    ["rate_limit_error", "RateLimited", true],
    ["timeout_error", "Timeout", true],
    ["invalid_request_error", "InvalidRequest", false],
    ["authentication_error", "Authentication", false],
    ["permission_error", "PermissionDenied", false],
    ["billing_error", "PermissionDenied", false],
    ["not_found_error", "NotFound", false],
    ["request_too_large", "InvalidRequest", false],
    ["an_error_type_from_the_future", "ServerError", true]
  ])("an error event %s mid-stream -> %s (retryable: %s), no HTTP status", (type, reason, retryable) => {
    const error = Errors.fromErrorEvent(call, { type, message: "said" }, "req_stream")
    assert.strictEqual(error.reason._tag, reason)
    assert.strictEqual(error.isRetryable, retryable)
    assert.isUndefined(error.status)
    assert.strictEqual(error.requestId, "req_stream")
    assert.include(error.message, `${type} in the stream`)
  })

  const request = HttpClientRequest.post("http://127.0.0.1:1/v1/messages")
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

  it("an invalid base URL -> Configuration naming the setting", () => {
    const error = Errors.fromTransport(call, new HttpClientError.HttpClientError({
      reason: new HttpClientError.InvalidUrlError({ request, cause: new TypeError("Invalid URL") })
    }))
    assert.strictEqual(error.reason._tag, "Configuration")
    assert.strictEqual(error.reason._tag === "Configuration" && error.reason.setting, "providers.anthropic.baseUrl")
    assert.isFalse(error.isRetryable)
  })

  it("a stream cut before message_stop -> Network (retryable); our own timeout -> Timeout (attempt)", () => {
    const cut = Errors.cutOff(call, "req_9")
    assert.strictEqual(cut.reason._tag, "Network")
    assert.isTrue(cut.isRetryable)
    assert.strictEqual(cut.requestId, "req_9")
    const timeout = Errors.timeout(call, 30_000)
    assert.strictEqual(timeout.reason._tag === "Timeout" && timeout.reason.scope, "attempt")
    assert.strictEqual(timeout.reason._tag === "Timeout" && timeout.reason.elapsedMs, 30_000)
  })
})
