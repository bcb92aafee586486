import { assert, describe, it } from "@effect/vitest"
import * as Errors from "../../../../src/providers/gemini/internal/errors.ts"

const call: Errors.CallInfo = { model: "gemini-2.5-flash", baseUrl: "https://generativelanguage.googleapis.com", apiKey: "AIzaSyTESTKEY123456" }

const google = (code: number, status: string, message: string, details: Array<unknown> = []) =>
  JSON.stringify({ error: { code, message, status, details } })

/** The SDK's ApiError: name "ApiError", status, and the JSON error body as its message. */
const apiError = (status: number, body: string) => Object.assign(new Error(body), { name: "ApiError", status })

interface Row {
  readonly name: string
  readonly error: unknown
  readonly reason: string
  readonly retryable: boolean
  readonly retryAfterMs?: number
}

const rows: ReadonlyArray<Row> = [
  { name: "400 INVALID_ARGUMENT", error: apiError(400, google(400, "INVALID_ARGUMENT", "bad")), reason: "InvalidRequest", retryable: false },
  {
    name: "400 API_KEY_INVALID",
    error: apiError(400, google(400, "INVALID_ARGUMENT", "API key not valid", [{ reason: "API_KEY_INVALID" }])),
    reason: "Authentication",
    retryable: false
  },
  {
    name: "400 FAILED_PRECONDITION (region)",
    error: apiError(400, google(400, "FAILED_PRECONDITION", "User location is not supported")),
    reason: "PermissionDenied",
    retryable: false
  },
  { name: "401", error: apiError(401, google(401, "UNAUTHENTICATED", "no")), reason: "Authentication", retryable: false },
  { name: "403", error: apiError(403, google(403, "PERMISSION_DENIED", "no")), reason: "PermissionDenied", retryable: false },
  { name: "404", error: apiError(404, google(404, "NOT_FOUND", "models/x is not found")), reason: "NotFound", retryable: false },
  { name: "408", error: apiError(408, "timeout"), reason: "Timeout", retryable: true },
  {
    name: "429 RetryInfo",
    error: apiError(429, google(429, "RESOURCE_EXHAUSTED", "quota", [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "12.5s" }])),
    reason: "RateLimited",
    retryable: true,
    retryAfterMs: 12_500
  },
  { name: "429 without hint", error: apiError(429, google(429, "RESOURCE_EXHAUSTED", "quota")), reason: "RateLimited", retryable: true },
  { name: "500", error: apiError(500, google(500, "INTERNAL", "oops")), reason: "ServerError", retryable: true },
  { name: "503", error: apiError(503, google(503, "UNAVAILABLE", "overloaded")), reason: "Unavailable", retryable: true },
  { name: "504 DEADLINE_EXCEEDED", error: apiError(504, google(504, "DEADLINE_EXCEEDED", "slow")), reason: "Timeout", retryable: true },
  {
    name: "connection refused",
    error: Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error("connect"), { code: "ECONNREFUSED" }) }),
    reason: "Network",
    retryable: true
  },
  {
    name: "socket closed",
    error: Object.assign(new TypeError("fetch failed"), { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) }),
    reason: "Network",
    retryable: true
  },
  { name: "non-JSON body", error: new SyntaxError("Unexpected token <"), reason: "ResponseMalformed", retryable: false },
  { name: "anything else", error: new Error("weird"), reason: "Unknown", retryable: false }
]

describe("Gemini error mapping (SDK error -> reason -> retryable)", () => {
  for (const row of rows) {
    it(row.name, () => {
      const error = Errors.fromUnknown(call, row.error)
      assert.strictEqual(error.reason._tag, row.reason)
      assert.strictEqual(error.isRetryable, row.retryable)
      assert.strictEqual(error.provider, "gemini")
      assert.strictEqual(error.retryAfterMs, row.retryAfterMs)
    })
  }

  it("names the model on 404 and never repeats the key", () => {
    const notFound = Errors.fromUnknown(call, apiError(404, google(404, "NOT_FOUND", "not found")))
    assert.include(notFound.message, "\"gemini-2.5-flash\"")
    const leaked = Errors.fromUnknown(call, apiError(400, google(400, "INVALID_ARGUMENT", `key ${call.apiKey} invalid`)))
    assert.notInclude(leaked.message, call.apiKey!)
  })
})
