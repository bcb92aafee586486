/**
 * llm-connect serve in process, on real HTTP at 127.0.0.1:0: /execute with the consumer's exact
 * request, failures with their mapped status, JSON-RPC (batches, codes), load shedding, the body
 * limit, client disconnects, the ops endpoints, and access logs that never hold a key or prompt.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import * as LlmError from "../../src/LlmError.ts"
import { post, request, steered, withServe } from "./support.ts"

const consumer = {
  provider: "steered",
  model: null,
  systemPrompt: null,
  prompt: "Summarise: the secret prompt text",
  maxTokens: 100,
  temperature: 0.2
}

describe("POST /execute", () => {
  it.live("answers the consumer's exact request (systemPrompt: null) with the bridge response", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider] }, ({ url }) =>
      Effect.gen(function*() {
        const reply = yield* post(`${url}/execute`, { ...consumer, id: "r-1" })
        assert.strictEqual(reply.status, 200)
        assert.deepStrictEqual(reply.json, {
          id: "r-1",
          content: "answer to 1 message(s)",
          model: "steer-1",
          tokensIn: 11,
          tokensOut: 4,
          finishReason: "stop"
        })
        assert.strictEqual(fake.seen[0]?.system, undefined)
        assert.strictEqual(fake.seen[0]?.maxTokens, 100)
      }))
  })

  it.live("maps a failure to its status with the bridge's error body (429 + retry-after, 400, 401, 504)", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], flags: { "retry.maxRetries": 0 } }, ({ url }) =>
      Effect.gen(function*() {
        fake.state.failWith = LlmError.make("steered", new LlmError.RateLimited({ description: "slow down", retryAfterMs: 2500 }))
        const limited = yield* post(`${url}/execute`, consumer)
        assert.strictEqual(limited.status, 429)
        assert.strictEqual(limited.headers.get("retry-after"), "3")
        assert.strictEqual((limited.json as { errorType: string }).errorType, "RateLimited")

        fake.state.failWith = LlmError.make("steered", new LlmError.Authentication({ description: "bad key" }))
        assert.strictEqual((yield* post(`${url}/execute`, consumer)).status, 401)
        fake.state.failWith = LlmError.make("steered", new LlmError.Timeout({ description: "too slow", scope: "call", attempts: 1, elapsedMs: 10 }))
        assert.strictEqual((yield* post(`${url}/execute`, consumer)).status, 504)

        const invalid = yield* post(`${url}/execute`, { provider: "steered" })
        assert.strictEqual(invalid.status, 400)
        assert.strictEqual((invalid.json as { errorType: string }).errorType, "InvalidInput")
        const notJson = yield* post(`${url}/execute`, "{nope")
        assert.strictEqual(notJson.status, 400)
        const unknown = yield* post(`${url}/execute`, { ...consumer, provider: "nonesuch" })
        assert.strictEqual(unknown.status, 400)
      }))
  })
})

describe("POST /rpc (JSON-RPC 2.0)", () => {
  it.live("a batch: results in order, notifications unanswered, standard codes, our errors -32000", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider] }, ({ url }) =>
      Effect.gen(function*() {
        const reply = yield* post(`${url}/rpc`, [
          { jsonrpc: "2.0", id: 1, method: "execute", params: consumer },
          { jsonrpc: "2.0", method: "execute", params: consumer },
          { jsonrpc: "2.0", id: "g", method: "generate", params: consumer },
          { jsonrpc: "2.0", id: 3, method: "nonesuch" },
          { jsonrpc: "2.0", id: 4, method: "execute", params: { provider: "steered" } },
          { jsonrpc: "1.0", id: 5, method: "execute" },
          42,
          { jsonrpc: "2.0", id: 6, method: "usage", params: { by: "model" } }
        ])
        assert.strictEqual(reply.status, 200)
        const answers = reply.json as ReadonlyArray<{ id: unknown; result?: any; error?: { code: number; data?: any } }>
        assert.deepStrictEqual(answers.map((answer) => answer.id), [1, "g", 3, 4, 5, null, 6])
        assert.strictEqual(answers[0]!.result.content, "answer to 1 message(s)")
        assert.deepStrictEqual(answers[1]!.result.usage, { inputTokens: 11, outputTokens: 4, totalTokens: 15 })
        assert.strictEqual(answers[2]!.error!.code, -32601)
        assert.strictEqual(answers[3]!.error!.code, -32602)
        assert.strictEqual(answers[3]!.error!.data.errorType, "InvalidInput")
        assert.strictEqual(answers[4]!.error!.code, -32600)
        assert.strictEqual(answers[5]!.error!.code, -32600)
        assert.strictEqual(answers[6]!.result.by, "model")
        assert.strictEqual(fake.seen.length, 3) // the notification ran too

        fake.state.failWith = LlmError.make("steered", new LlmError.BudgetExceeded({
          description: "over budget",
          dimension: "totalTokens",
          limit: 10,
          consumed: 10,
          reserved: 0,
          requested: 5
        }))
        const failed = yield* post(`${url}/rpc`, { jsonrpc: "2.0", id: 7, method: "execute", params: consumer })
        assert.strictEqual(failed.status, 200)
        const error = (failed.json as { error: { code: number; data: { errorType: string; dimension: string } } }).error
        assert.strictEqual(error.code, -32000)
        assert.strictEqual(error.data.errorType, "BudgetExceeded")
        assert.strictEqual(error.data.dimension, "totalTokens")
      }))
  })

  it.live("notifications only: 204; an empty batch: -32600; not JSON: -32700 (HTTP 200)", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider] }, ({ url }) =>
      Effect.gen(function*() {
        const none = yield* post(`${url}/rpc`, [{ jsonrpc: "2.0", method: "execute", params: consumer }])
        assert.strictEqual(none.status, 204)
        assert.strictEqual(none.text, "")
        const empty = yield* post(`${url}/rpc`, [])
        assert.strictEqual(empty.status, 200)
        assert.deepStrictEqual((empty.json as { id: unknown; error: { code: number } }).error.code, -32600)
        assert.strictEqual((empty.json as { id: unknown }).id, null)
        const parse = yield* post(`${url}/rpc`, "[{")
        assert.strictEqual(parse.status, 200)
        assert.strictEqual((parse.json as { error: { code: number } }).error.code, -32700)
      }))
  })
})

describe("limits", () => {
  it.live("beyond serve.maxInFlight a request gets 503 + retry-after at once; /health still answers", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: "ledger: false\nserve:\n  maxInFlight: 2\n" }, ({ url }) =>
      Effect.gen(function*() {
        fake.state.gate = yield* Deferred.make<void>()
        const first = yield* Effect.forkChild(post(`${url}/execute`, consumer))
        fake.state.started = yield* Deferred.make<void>()
        const startedSecond = fake.state.started
        const second = yield* Effect.forkChild(post(`${url}/execute`, consumer))
        yield* Deferred.await(startedSecond)
        const shed = yield* post(`${url}/execute`, consumer)
        assert.strictEqual(shed.status, 503)
        assert.strictEqual(shed.headers.get("retry-after"), "1")
        assert.strictEqual((shed.json as { errorType: string }).errorType, "Unavailable")
        const health = yield* request(`${url}/health`)
        assert.strictEqual(health.status, 200)
        yield* Deferred.succeed(fake.state.gate, undefined)
        assert.strictEqual((yield* Fiber.join(first)).status, 200)
        assert.strictEqual((yield* Fiber.join(second)).status, 200)
        assert.strictEqual(fake.seen.length, 2)
      }))
  })

  it.live("a body over the limit gets 413 in the caller's protocol, unread", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], flags: { maxRequestBytes: 1000 } }, ({ url }) =>
      Effect.gen(function*() {
        const big = { ...consumer, prompt: "x".repeat(80 * 1024) }
        const execute = yield* post(`${url}/execute`, big)
        assert.strictEqual(execute.status, 413)
        assert.strictEqual((execute.json as { errorType: string }).errorType, "InvalidRequest")
        const openai = yield* post(`${url}/v1/chat/completions`, { model: "m", messages: [{ role: "user", content: big.prompt }] })
        assert.strictEqual(openai.status, 413)
        assert.strictEqual((openai.json as { error: { code: string } }).error.code, "InvalidRequest")
        const anthropic = yield* post(`${url}/v1/messages`, { model: "m", max_tokens: 5, messages: [{ role: "user", content: big.prompt }] })
        assert.strictEqual(anthropic.status, 413)
        assert.strictEqual((anthropic.json as { error: { type: string } }).error.type, "request_too_large")
        // Under the document limit but over maxRequestBytes of prompt text: the stack's own 413.
        const overPrompt = yield* post(`${url}/execute`, { ...consumer, prompt: "y".repeat(5000) })
        assert.strictEqual(overPrompt.status, 413)
        assert.strictEqual(fake.seen.length, 0)
      }))
  })

  it.live("a chunked body (no content-length) is cut at the limit: 413", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], flags: { maxRequestBytes: 1000 } }, ({ url }) =>
      Effect.gen(function*() {
        const chunk = new TextEncoder().encode("x".repeat(16 * 1024))
        const reply = yield* Effect.promise(() => {
          let sent = 0
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              if (sent++ < 8) controller.enqueue(chunk)
              else controller.close()
            }
          })
          return fetch(`${url}/execute`, { method: "POST", body, duplex: "half" } as RequestInit).then(async (response) => ({
            status: response.status,
            json: (await response.json()) as { errorType: string }
          }))
        })
        assert.strictEqual(reply.status, 413)
        assert.strictEqual(reply.json.errorType, "InvalidRequest")
        assert.strictEqual(fake.seen.length, 0)
      }))
  })

  it.live("a request over serve.requestTimeout gets 504 and its call is stopped", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: "ledger: false\nserve:\n  requestTimeout: 300ms\n" }, ({ url }) =>
      Effect.gen(function*() {
        fake.state.gate = yield* Deferred.make<void>() // never opened: only the timeout ends the call
        const reply = yield* post(`${url}/execute`, consumer)
        assert.strictEqual(reply.status, 504)
        assert.strictEqual((reply.json as { errorType: string }).errorType, "Timeout")
        assert.strictEqual(fake.state.interrupted, 1)
      }))
  })

  it.live("a client that disconnects interrupts its call", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider] }, ({ url, log, logged }) =>
      Effect.gen(function*() {
        fake.state.gate = yield* Deferred.make<void>()
        fake.state.started = yield* Deferred.make<void>()
        const controller = new AbortController()
        const call = yield* Effect.forkChild(Effect.promise(() =>
          fetch(`${url}/execute`, { method: "POST", body: JSON.stringify(consumer), signal: controller.signal }).then(
            () => "answered",
            () => "aborted"
          )
        ))
        yield* Deferred.await(fake.state.started)
        controller.abort()
        assert.strictEqual(yield* Fiber.join(call), "aborted")
        // The server saw the close and interrupted the handler: the access-log line says so.
        yield* logged(1)
        assert.strictEqual(fake.state.interrupted, 1)
        assert.strictEqual(log[0]!.outcome, "aborted")
      }))
  })
})

describe("ops endpoints and access log", () => {
  it.live("/health, /ready, /metrics, /v1/usage, /openapi.json", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider], yaml: (dir) => `ledger:\n  path: ${dir}/usage.db\n` }, ({ url }) =>
      Effect.gen(function*() {
        assert.deepStrictEqual((yield* request(`${url}/health`)).json, { status: "ok" })
        const ready = yield* request(`${url}/ready`)
        assert.strictEqual(ready.status, 200)
        assert.strictEqual((ready.json as { ready: boolean }).ready, true)
        yield* post(`${url}/execute`, consumer)
        yield* post(`${url}/execute`, { ...consumer, model: "steer-2" })
        const usage = yield* request(`${url}/v1/usage?since=1h&by=model`)
        assert.strictEqual(usage.status, 200)
        const report = usage.json as { totals: { calls: number; inputTokens: number }; groups: ReadonlyArray<{ key: string }> }
        assert.strictEqual(report.totals.calls, 2)
        assert.strictEqual(report.totals.inputTokens, 22)
        assert.deepStrictEqual(report.groups.map((group) => group.key).sort(), ["steer-1", "steer-2"])
        const bad = yield* request(`${url}/v1/usage?since=soon`)
        assert.strictEqual(bad.status, 400)
        const metrics = yield* request(`${url}/metrics`)
        assert.match(metrics.text, /llm_calls_total\{[^}]*provider="steered"/)
        assert.match(metrics.text, /llm_connect_serve_requests_in_flight 1/)
        const spec = (yield* request(`${url}/openapi.json`)).json as { openapi: string; paths: Record<string, unknown> }
        assert.strictEqual(spec.openapi, "3.1.0")
        assert.includeMembers(Object.keys(spec.paths), ["/execute", "/v1/usage", "/health", "/ready"])
      }))
  })

  it.live("one access-log line per request: key name, status, tokens; never the key or the prompt", () => {
    const fake = steered()
    return withServe({ providers: [fake.provider] }, ({ url, log, logged }) =>
      Effect.gen(function*() {
        yield* post(`${url}/execute`, { ...consumer, api_key: "sk-test-SECRET-0123456789" }, { authorization: "Bearer sk-other-SECRET-99" })
        yield* post(`${url}/v1/chat/completions`, { model: "steered-x", messages: [{ role: "user", content: "the secret prompt text" }] })
        yield* request(`${url}/v1/usage?since=1h&key=sk-query-SECRET`)
        yield* logged(3)
        const text = JSON.stringify(log)
        assert.notInclude(text, "SECRET")
        assert.notInclude(text, "secret prompt")
        assert.deepStrictEqual(log.map((line) => [line.method, line.path, line.status, line.key]), [
          ["POST", "/execute", 200, "anonymous"],
          ["POST", "/v1/chat/completions", 200, "anonymous"],
          ["GET", "/v1/usage", 200, "anonymous"]
        ])
        assert.deepStrictEqual([log[0]!.tokensIn, log[0]!.tokensOut], [11, 4])
      }))
  })
})
