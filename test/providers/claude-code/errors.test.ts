/**
 * The failure table of the Claude Code provider (src/providers/claude-code/internal/errors.ts),
 * row by row: failure -> reason -> retryable.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as LlmError from "../../../src/LlmError.ts"
import * as Redaction from "../../../src/observability/Redaction.ts"
import type { ClaudeCodeResult } from "../../../src/providers/claude-code/internal/ClaudeCodeSchema.ts"
import * as Errors from "../../../src/providers/claude-code/internal/errors.ts"
import * as ProviderKit from "../../../src/providers/ProviderKit.ts"

const call: Errors.CallInfo = { model: "sonnet", apiKey: "sk-ant-secret-key-0123456789" }

const apiError = (status: number | undefined, text: string, extra: Partial<ClaudeCodeResult> = {}): Errors.Failure => ({
  _tag: "ResultError",
  result: {
    type: "result",
    subtype: "success",
    is_error: true,
    result: text,
    ...(status !== undefined ? { api_error_status: status } : {}),
    ...extra
  }
})

interface Row {
  readonly name: string
  readonly failure: Errors.Failure
  readonly reason: LlmError.ReasonTag
  readonly retryable: boolean
  readonly status?: number
}

const rows: ReadonlyArray<Row> = [
  {
    name: "spawn ENOENT",
    failure: { _tag: "SpawnFailed", binary: "claude", code: "ENOENT", message: "spawn claude ENOENT" },
    reason: "Configuration",
    retryable: false
  },
  {
    name: "spawn EACCES",
    failure: { _tag: "SpawnFailed", binary: "/tmp/claude", code: "EACCES", message: "spawn /tmp/claude EACCES" },
    reason: "Configuration",
    retryable: false
  },
  { name: "400", failure: apiError(400, "API Error: 400 bad"), reason: "InvalidRequest", retryable: false, status: 400 },
  { name: "413", failure: apiError(413, "too large"), reason: "InvalidRequest", retryable: false, status: 413 },
  { name: "422", failure: apiError(422, "bad"), reason: "InvalidRequest", retryable: false, status: 422 },
  { name: "401", failure: apiError(401, "Invalid API key · Fix external API key"), reason: "Authentication", retryable: false, status: 401 },
  { name: "402", failure: apiError(402, "credit balance too low"), reason: "PermissionDenied", retryable: false, status: 402 },
  { name: "403", failure: apiError(403, "forbidden"), reason: "PermissionDenied", retryable: false, status: 403 },
  { name: "404", failure: apiError(404, "model not found"), reason: "NotFound", retryable: false, status: 404 },
  { name: "408", failure: apiError(408, "timeout"), reason: "Timeout", retryable: true, status: 408 },
  { name: "429", failure: apiError(429, "API Error: Request rejected (429)"), reason: "RateLimited", retryable: true, status: 429 },
  { name: "500", failure: apiError(500, "API Error: 500"), reason: "ServerError", retryable: true, status: 500 },
  { name: "502", failure: apiError(502, "bad gateway"), reason: "ServerError", retryable: true, status: 502 },
  { name: "503", failure: apiError(503, "unavailable"), reason: "Unavailable", retryable: true, status: 503 },
  { name: "529", failure: apiError(529, "Overloaded"), reason: "Unavailable", retryable: true, status: 529 },
  {
    name: "no status, connection refused",
    failure: apiError(undefined, "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)"),
    reason: "Network",
    retryable: true
  },
  { name: "no status, not logged in", failure: apiError(undefined, "Not logged in · Please run /login"), reason: "Authentication", retryable: false },
  { name: "no status, rate limit text", failure: apiError(undefined, "Claude AI usage limit reached: rate limit"), reason: "RateLimited", retryable: true },
  { name: "no status, overloaded text", failure: apiError(undefined, "API Error: Overloaded"), reason: "Unavailable", retryable: true },
  {
    name: "no status, the API's answer was unreadable",
    failure: apiError(undefined, "API Error: API returned an empty or malformed response (HTTP 200) — check for a proxy"),
    reason: "ResponseMalformed",
    retryable: false
  },
  {
    name: "no status, connection dropped",
    failure: apiError(undefined, "API Error: Connection dropped (ECONNRESET). Check the gateway set in ANTHROPIC_BASE_URL"),
    reason: "Network",
    retryable: true
  },
  {
    name: "refusal",
    failure: apiError(undefined, "", { stop_reason: "refusal" }),
    reason: "ContentFiltered",
    retryable: false
  },
  {
    name: "error_max_budget_usd",
    failure: {
      _tag: "ResultError",
      maxBudgetUsd: 0.01,
      result: { type: "result", subtype: "error_max_budget_usd", is_error: true, total_cost_usd: 0.012, errors: ["Reached maximum budget ($0.01)"] }
    },
    reason: "BudgetExceeded",
    retryable: false
  },
  {
    name: "error_during_execution",
    failure: { _tag: "ResultError", result: { type: "result", subtype: "error_during_execution", is_error: true } },
    reason: "Unknown",
    retryable: false
  },
  {
    name: "output that is not JSON",
    failure: { _tag: "NoResult", exitCode: 0, stderr: "", printed: true, detail: "the claude CLI printed something that is not JSON" },
    reason: "ResponseMalformed",
    retryable: false
  },
  {
    name: "no output, killed by a signal",
    failure: { _tag: "NoResult", exitCode: undefined, signal: "SIGKILL", stderr: "", printed: false, detail: "nothing" },
    reason: "Unknown",
    retryable: false
  },
  {
    name: "no output, usage error",
    failure: { _tag: "NoResult", exitCode: 1, stderr: "error: unknown option '--bogus'", printed: false, detail: "nothing" },
    reason: "Unknown",
    retryable: false
  },
  {
    name: "no output, the prompt could not be written",
    failure: { _tag: "NoResult", exitCode: undefined, abnormal: "write EPIPE", stderr: "", printed: false, detail: "nothing" },
    reason: "Unknown",
    retryable: false
  },
  { name: "timeout", failure: { _tag: "TimedOut", timeoutMs: 1000, elapsedMs: 1003 }, reason: "Timeout", retryable: true },
  { name: "no budget left", failure: { _tag: "NoBudgetLeft", remainingUsd: 0 }, reason: "BudgetExceeded", retryable: false },
  { name: "empty prompt", failure: { _tag: "EmptyPrompt" }, reason: "InvalidRequest", retryable: false },
  { name: "no working directory", failure: { _tag: "WorkspaceFailed", message: "EROFS" }, reason: "Configuration", retryable: false },
  { name: "output past the cap", failure: { _tag: "OutputTooLarge", maxBytes: 1_048_576 }, reason: "ResponseMalformed", retryable: false },
  {
    name: "a stream whose answer does not continue the text sent",
    failure: {
      _tag: "StreamRestarted",
      result: { type: "result", subtype: "success", is_error: false, result: "Other", total_cost_usd: 0.002, usage: { input_tokens: 9, output_tokens: 4 } },
      streamedChars: 8
    },
    reason: "Network",
    retryable: true
  }
]

describe("claude-code error mapping", () => {
  it.each(rows)("$name -> $reason", (row) => {
    const error = Errors.toLlmError(row.failure, call)
    assert.strictEqual(error.reason._tag, row.reason)
    assert.strictEqual(error.isRetryable, row.retryable)
    assert.strictEqual(error.provider, "claude-code")
    assert.strictEqual(error.model, "sonnet")
    assert.strictEqual(error.status, row.status)
    assert.notInclude(error.message, call.apiKey!)
  })

  it("a missing binary names it and says how to install it or where to point CLAUDE_CODE_PATH", () => {
    const error = Errors.toLlmError({ _tag: "SpawnFailed", binary: "/opt/claude", code: "ENOENT", message: "" }, call)
    const reason = error.reason as LlmError.Configuration
    assert.strictEqual(reason.setting, "CLAUDE_CODE_PATH")
    assert.include(reason.fix, "npm i -g @anthropic-ai/claude-code")
    assert.include(reason.fix, "CLAUDE_CODE_PATH")
    assert.include(error.message, "/opt/claude")
  })

  it("a run without a result says how the CLI ended", () => {
    const base = { _tag: "NoResult", stderr: "", printed: false, detail: "the claude CLI printed nothing on stdout" } as const
    assert.include(Errors.toLlmError({ ...base, exitCode: undefined, signal: "SIGKILL" }, call).message, "killed by SIGKILL")
    assert.include(Errors.toLlmError({ ...base, exitCode: 3 }, call).message, "exited with code 3")
    assert.include(Errors.toLlmError({ ...base, exitCode: undefined, abnormal: "write EPIPE" }, call).message, "write EPIPE")
  })

  it("not logged in: no request was made, so no HTTP status; says to log in or set ANTHROPIC_API_KEY", () => {
    const error = Errors.toLlmError(apiError(undefined, "Not logged in · Please run /login"), call)
    assert.strictEqual(error.reason._tag, "Authentication")
    assert.isUndefined(error.status)
    assert.notInclude(error.message, "HTTP")
    assert.notInclude(error.message, "401")
    assert.include(error.message, "not logged in")
    assert.include(error.message, "`claude /login`")
    assert.include(error.message, "ANTHROPIC_API_KEY")
    // a refusal reported in words only quotes no status either; a real 401 still names it
    assert.notInclude(Errors.toLlmError(apiError(undefined, "Invalid API key"), call).message, "HTTP 401")
    assert.include(Errors.toLlmError(apiError(401, "Invalid API key"), call).message, "HTTP 401")
  })

  it("output past the cap names the cap and the option that raises it", () => {
    const error = Errors.toLlmError({ _tag: "OutputTooLarge", maxBytes: 1_048_576 }, call)
    assert.include(error.message, "the output of the claude CLI")
    assert.include(error.message, "1 MiB")
    assert.include(error.message, "providers.claude-code.options.maxResponseBytes")
  })

  it("a 404 names the model", () => {
    const error = Errors.toLlmError(apiError(404, "not found"), { model: "claude-nope" })
    assert.strictEqual((error.reason as LlmError.NotFound).model, "claude-nope")
    assert.include(error.message, "claude-nope")
  })

  it("the budget stop reports the limit handed to the CLI and what it spent", () => {
    const error = Errors.toLlmError(rows.find((row) => row.name === "error_max_budget_usd")!.failure, call)
    const reason = error.reason as LlmError.BudgetExceeded
    assert.deepStrictEqual([reason.dimension, reason.limit, reason.consumed], ["costUsd", 0.01, 0.012])
    // what it spent travels as LlmError.spent, so the budget layer commits it
    assert.strictEqual(error.spent?.costUsd, 0.012)
  })

  it("a stream whose answer does not continue the text sent says so, and carries what the run spent", () => {
    const error = Errors.toLlmError(rows.find((row) => row.failure._tag === "StreamRestarted")!.failure, call)
    assert.include(error.message, "after 8 characters were sent")
    assert.include(error.message, "cannot be taken back")
    assert.strictEqual(error.spent?.costUsd, 0.002)
    assert.strictEqual(error.spent?.usage.totalTokens, 13)
  })

  it("the CLI's text is quoted without the key and cut short", () => {
    const long = `Invalid key sk-ant-secret-key-0123456789 ${"x".repeat(1000)}`
    const error = Errors.toLlmError(apiError(401, long), call)
    assert.notInclude(error.message, "sk-ant-secret-key-0123456789")
    assert.include(error.message, Redaction.PLACEHOLDER)
    assert.isBelow(error.message.length, 600)
    assert.strictEqual(ProviderKit.scrub("key sk-ant-api03-abcdefghijkl end"), `key ${Redaction.PLACEHOLDER} end`)
  })
})
