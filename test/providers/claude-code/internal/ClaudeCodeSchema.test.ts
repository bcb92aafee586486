/**
 * Reading the CLI's JSON result (ClaudeCodeSchema.parseOutput) and turning it into an
 * LlmResponse (ClaudeCodeLanguageModel.toResponse): usage normalisation, cost, finish reasons.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as LlmRequest from "../../../../src/LlmRequest.ts"
import * as ClaudeCodeLanguageModel from "../../../../src/providers/claude-code/ClaudeCodeLanguageModel.ts"
import * as ClaudeCodeSchema from "../../../../src/providers/claude-code/internal/ClaudeCodeSchema.ts"
import * as Tokenizer from "../../../../src/Tokenizer.ts"

/** A result as Claude Code 2.1.332 prints it (trimmed of fields the adapter ignores). */
const realResult = {
  type: "result",
  subtype: "success",
  is_error: false,
  api_error_status: null,
  duration_ms: 103,
  duration_api_ms: 28,
  num_turns: 1,
  result: "Hello from fake",
  stop_reason: "end_turn",
  session_id: "b5b03a53-4a28-431e-b2a0-dd30f16cae1f",
  total_cost_usd: 0.0000793,
  usage: {
    input_tokens: 12,
    cache_creation_input_tokens: 2,
    cache_read_input_tokens: 3,
    output_tokens: 5,
    output_tokens_details: { thinking_tokens: 0 },
    service_tier: "standard"
  },
  modelUsage: {
    "claude-sonnet-5-5": { inputTokens: 12, outputTokens: 5, costUSD: 0.0000793 }
  },
  permission_denials: [],
  terminal_reason: "completed",
  uuid: "d2254e7c-db2a-4d02-88a8-895e41753611"
}

const parse = (value: unknown) => ClaudeCodeSchema.parseOutput(typeof value === "string" ? value : JSON.stringify(value))

const response = (result: ClaudeCodeSchema.ClaudeCodeResult, request = LlmRequest.make("hi")) =>
  ClaudeCodeLanguageModel.toResponse({ request, model: "sonnet", result, latencyMs: 40, warnings: [] })

describe("ClaudeCodeSchema.parseOutput", () => {
  it("reads a real result and keeps the fields it does not know", () => {
    const parsed = parse(realResult)
    assert.isTrue(Result.isSuccess(parsed))
    const result = Result.getOrThrow(parsed)
    assert.strictEqual(result.result, "Hello from fake")
    assert.strictEqual(result.total_cost_usd, 0.0000793)
    assert.strictEqual((result as Record<string, unknown>).terminal_reason, "completed")
    assert.deepStrictEqual((result as Record<string, unknown>).permission_denials, [])
    assert.strictEqual((result.usage as Record<string, unknown>).service_tier, "standard")
  })

  const rows: Array<[string, boolean, string]> = [
    ["an empty output", false, ""],
    ["text that is not JSON", false, "Error: something broke"],
    ["a JSON number", false, "42"],
    ["a result after a warning line", true, `warning: settings ignored\n${JSON.stringify(realResult)}`],
    ["the verbose array form", true, JSON.stringify([{ type: "system" }, realResult])],
    ["a field of the wrong type", false, JSON.stringify({ ...realResult, total_cost_usd: "free" })],
    ["nulls everywhere", true, JSON.stringify({ type: "result", result: null, usage: null, session_id: null })]
  ]
  it.each(rows)("%s -> parsed: %s", (_name, ok, text) => {
    const parsed = ClaudeCodeSchema.parseOutput(text)
    assert.strictEqual(Result.isSuccess(parsed), ok)
    if (Result.isFailure(parsed)) {
      assert.notInclude(parsed.failure, "something broke", "the output itself is not quoted")
      assert.include(parsed.failure, "claude CLI")
    }
  })
})

describe("ClaudeCodeLanguageModel.toResponse", () => {
  it("inputTokens include cache reads and writes; cachedInputTokens are the reads; cost is the provider's", () => {
    const out = response(Result.getOrThrow(parse(realResult)))
    assert.deepStrictEqual(out.usage, { inputTokens: 17, outputTokens: 5, totalTokens: 22, cachedInputTokens: 3 })
    assert.deepStrictEqual(out.cost, { usd: 0.0000793, source: "provider" })
    assert.strictEqual(out.content, "Hello from fake")
    assert.strictEqual(out.model, "claude-sonnet-5-5")
    assert.strictEqual(out.requestId, realResult.session_id)
    assert.deepStrictEqual(out.metadata, { sessionId: realResult.session_id, numTurns: 1, durationApiMs: 28 })
    assert.strictEqual(out.latencyMs, 40)
    assert.isUndefined(out.warnings)
  })

  it("thinking tokens are reported as reasoning tokens (a part of the output)", () => {
    const result = Result.getOrThrow(parse({
      ...realResult,
      usage: { ...realResult.usage, output_tokens: 50, output_tokens_details: { thinking_tokens: 30 } }
    }))
    assert.strictEqual(response(result).usage.reasoningTokens, 30)
    assert.strictEqual(response(result).usage.outputTokens, 50)
  })

  it("without usage, tokens are counted locally and marked estimated", () => {
    const request = LlmRequest.make("Count these words")
    const out = response(Result.getOrThrow(parse({ type: "result", result: "three words here" })), request)
    assert.deepStrictEqual(out.usage, {
      inputTokens: Tokenizer.countRequest(request),
      outputTokens: Tokenizer.countText("three words here"),
      totalTokens: Tokenizer.countRequest(request) + Tokenizer.countText("three words here"),
      estimated: true
    })
    assert.isUndefined(out.cost)
    assert.strictEqual(out.model, "sonnet")
  })

  const finishRows: Array<[string | null, string]> = [
    ["end_turn", "stop"],
    ["stop_sequence", "stop"],
    ["max_tokens", "length"],
    ["refusal", "content-filter"],
    ["tool_use", "tool-calls"],
    ["something_new", "other"],
    [null, "stop"]
  ]
  it.each(finishRows)("stop_reason %s -> %s", (stopReason, expected) => {
    const out = response(Result.getOrThrow(parse({ ...realResult, stop_reason: stopReason })))
    assert.strictEqual(out.finishReason, expected)
    assert.strictEqual(out.rawFinishReason, stopReason ?? undefined)
  })
})
