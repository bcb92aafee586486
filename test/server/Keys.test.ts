/**
 * Virtual keys: the store (hashes only, create/list/revoke), and serve with keys on real HTTP at
 * 127.0.0.1:0: 401 in the caller's protocol, Bearer and x-api-key, the access log naming the key,
 * a key's budget held under many concurrent requests against a fake upstream (zero overshoot),
 * rpm and concurrency limits (429 + retry-after), and a per-day budget rolling with the date.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Redacted } from "effect"
import { TestClock } from "effect/testing"
import { HttpServerRequest } from "effect/http"
import { RateLimiter } from "effect/persistence"
import OpenAI from "openai"
import * as LlmError from "../../src/LlmError.ts"
import * as LlmRequest from "../../src/LlmRequest.ts"
import * as KeyAuth from "../../src/server/KeyAuth.ts"
import * as VirtualKeys from "../../src/server/VirtualKeys.ts"
import * as SqlStore from "../../src/store/SqlStore.ts"
import * as Fake from "../providers/openai/FakeOpenAiServer.ts"
import { post, request, steered, withServe } from "./support.ts"

const keyStore = Effect.flatMap(SqlStore.make(":memory:"), VirtualKeys.make)

const consumer = { provider: "steered", model: null, systemPrompt: null, prompt: "Hi", maxTokens: 100, temperature: 0.2 }

describe("VirtualKeys", () => {
  it.effect("stores a SHA-256 hash, never the key; lists names and limits; revokes by name", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* SqlStore.make(":memory:")
      const keys = yield* VirtualKeys.make(store)
      const made = yield* keys.create("team-a", { per: "day", maxCostUsd: 5, rpm: 60 })
      const key = Redacted.value(made.key)
      assert.match(key, /^llmc_[A-Za-z0-9_-]{43}$/)
      const rows = yield* Effect.orDie(store.sql<Record<string, unknown>>`SELECT * FROM llm_connect_keys`)
      assert.strictEqual(rows.length, 1)
      assert.strictEqual(rows[0]!["hash"], VirtualKeys.hash(key))
      assert.isFalse(JSON.stringify(rows).includes(key))
      assert.deepStrictEqual((yield* keys.list).map((info) => [info.name, info.limits]), [["team-a", { per: "day", maxCostUsd: 5, rpm: 60 }]])
      assert.isFalse(JSON.stringify(yield* keys.list).includes(VirtualKeys.hash(key)))
      assert.strictEqual(Option.getOrThrow(yield* keys.lookup(key)).name, "team-a")
      assert.isTrue(Option.isNone(yield* keys.lookup(`${key}x`)))

      const taken = yield* Effect.flip(keys.create("team-a", { per: "total" }))
      assert.include(taken.message, "exists already")
      const badLimit = yield* Effect.flip(keys.create("team-b", { per: "total", rpm: 0 }))
      assert.include(badLimit.message, "--rpm")
      const badName = yield* Effect.flip(keys.create("a b", { per: "total" }))
      assert.include(badName.message, "key name")

      assert.isTrue(yield* keys.revoke("team-a"))
      assert.isFalse(yield* keys.revoke("team-a"))
      assert.isTrue(Option.isNone(yield* keys.lookup(key)))
      assert.strictEqual(yield* keys.count, 0)
      // The component is versioned in the migrations table.
      const applied = yield* Effect.orDie(store.sql<{ component: string }>`SELECT component FROM llm_connect_migrations`)
      assert.isTrue(applied.some((row) => row.component === "virtual-keys"))
    })))

  it("reads a key from Authorization: Bearer or x-api-key", () => {
    assert.strictEqual(KeyAuth.keyOf({ authorization: "Bearer llmc_a" }), "llmc_a")
    assert.strictEqual(KeyAuth.keyOf({ "x-api-key": "llmc_b" }), "llmc_b")
    assert.strictEqual(KeyAuth.keyOf({ authorization: "Basic xyz" }), undefined)
    assert.strictEqual(KeyAuth.keyOf({}), undefined)
  })
})

describe("KeyAuth windows (TestClock)", () => {
  it.effect("a per-day budget rolls with the UTC date; a total one is kept; rpm refuses with retry-after until the minute ends", () =>
    Effect.scoped(Effect.gen(function*() {
      const keys = yield* keyStore
      const daily = (yield* keys.create("daily", { per: "day", maxTokens: 100, rpm: 2 })).key
      yield* keys.create("total", { per: "total", maxTokens: 100 })
      const gate = yield* KeyAuth.make(keys)
      const infoOf = (name: string) => Effect.map(keys.list, (all) => all.find((info) => info.name === name)!)
      const first = yield* gate.trackerOf(yield* infoOf("daily"))
      const total = yield* gate.trackerOf(yield* infoOf("total"))
      assert.strictEqual(yield* gate.trackerOf(yield* infoOf("daily")), first)
      assert.include(first!.label, "per day, 1970-01-01 UTC")

      const ask = () =>
        gate.authenticate(HttpServerRequest.fromWeb(new Request("http://x/execute", { headers: { "x-api-key": Redacted.value(daily) } })))
      assert.strictEqual((yield* ask()).name, "daily")
      assert.strictEqual((yield* ask()).name, "daily")
      yield* TestClock.adjust("20 seconds")
      const refused = yield* Effect.flip(ask())
      assert.strictEqual(refused.errorType, "RateLimited")
      assert.include(refused.error, "2 requests per minute (rpm)")
      assert.strictEqual((refused as { retryAfterMs?: number }).retryAfterMs, 40_000)
      yield* TestClock.adjust("40 seconds")
      assert.strictEqual((yield* ask()).name, "daily")

      yield* TestClock.adjust("1 day")
      const next = yield* gate.trackerOf(yield* infoOf("daily"))
      assert.notStrictEqual(next, first)
      assert.include(next!.label, "1970-01-02")
      assert.strictEqual(yield* gate.trackerOf(yield* infoOf("total")), total)
    })))
})

describe("KeyAuth tpm and concurrency (TestClock)", () => {
  it.effect("tpm counts a request's tokens when it ends; past it the next request is refused until the window ends", () =>
    Effect.scoped(Effect.gen(function*() {
      const keys = yield* keyStore
      const key = Redacted.value((yield* keys.create("tokens", { per: "total", tpm: 100, maxConcurrent: 2 })).key)
      const gate = yield* KeyAuth.make(keys)
      const ask = () => gate.authenticate(HttpServerRequest.fromWeb(new Request("http://x/execute", { headers: { authorization: `Bearer ${key}` } })))
      const first = yield* ask()
      const second = yield* ask()
      const third = yield* Effect.flip(ask())
      assert.include(third.error, "concurrency limit")
      yield* second.release!({ identity: second, tokensIn: 1, tokensOut: 1, model: undefined })
      yield* first.release!({ identity: first, tokensIn: 60, tokensOut: 50, model: undefined })
      yield* TestClock.adjust("10 seconds")
      const refused = yield* Effect.flip(ask())
      assert.include(refused.error, "100 tokens per minute (tpm)")
      // effect's fixed window: each token holds it open 60 s / 100 = 0.6 s, 112 tokens 67.2 s.
      assert.strictEqual((refused as { retryAfterMs?: number }).retryAfterMs, 57_200)
      yield* TestClock.adjust("57 seconds")
      assert.strictEqual((yield* Effect.flip(ask())).errorType, "RateLimited")
      yield* TestClock.adjust("200 millis")
      assert.strictEqual((yield* ask()).name, "tokens")
    })))
})

describe("KeyAuth totals and stores", () => {
  it.effect("without a shared store, a key's totals are saved after each request and restored by the next gate (a restart)", () =>
    Effect.scoped(Effect.gen(function*() {
      const keys = yield* keyStore
      const key = Redacted.value((yield* keys.create("saved", { per: "day", maxTokens: 100 })).key)
      const info = (yield* keys.list)[0]!
      const first = yield* KeyAuth.make(keys)
      const identity = yield* first.authenticate(HttpServerRequest.fromWeb(new Request("http://x/execute", { headers: { "x-api-key": key } })))
      const tracker = (yield* first.trackerOf(info))!
      yield* tracker.withReservation(
        { request: LlmRequest.make({ prompt: "Hi", maxTokens: 40 }), provider: "p", model: "m", price: undefined },
        () => Effect.void,
        () => ({ usage: { inputTokens: 30, outputTokens: 40, totalTokens: 70 }, costUsd: 0 })
      )
      yield* identity.release!({ identity, tokensIn: 30, tokensOut: 40, model: undefined })
      assert.deepStrictEqual(yield* keys.totals(info, "1970-01-01"), { inputTokens: 30, outputTokens: 40, totalTokens: 70, costNanos: 0 })

      // A new gate (serve started again) starts from the saved figure: 70 of 100 are spent.
      const second = yield* KeyAuth.make(keys)
      const restored = yield* (yield* second.trackerOf(info))!.snapshot
      assert.strictEqual(restored.consumed.totalTokens, 70)
      assert.strictEqual(restored.remaining.totalTokens, 30)
      // The next UTC day starts from zero; a key made again under the same name does too.
      yield* TestClock.adjust("1 day")
      assert.strictEqual((yield* (yield* second.trackerOf(info))!.snapshot).consumed.totalTokens, 0)
      assert.isTrue(yield* keys.revoke("saved"))
      const again = (yield* keys.create("saved", { per: "day", maxTokens: 100 })).info
      assert.strictEqual(yield* keys.totals(again, "1970-01-01"), undefined)
    })))

  it.effect("saved totals that cannot be read refuse the key's requests (Unavailable) until they can", () =>
    Effect.scoped(Effect.gen(function*() {
      const keys = yield* keyStore
      const key = Redacted.value((yield* keys.create("unread", { per: "total", maxTokens: 100 })).key)
      let broken = true
      const flaky: VirtualKeys.Service = {
        ...keys,
        totals: (info, period) =>
          broken ? Effect.fail(LlmError.make("keys", new LlmError.Unavailable({ description: "disk I/O error" }))) : keys.totals(info, period)
      }
      const gate = yield* KeyAuth.make(flaky)
      const ask = () => gate.authenticate(HttpServerRequest.fromWeb(new Request("http://x/execute", { headers: { "x-api-key": key } })))
      const refused = yield* Effect.flip(ask())
      assert.strictEqual(refused.errorType, "Unavailable")
      assert.include(refused.error, "saved totals of key unread cannot be read")
      broken = false
      assert.strictEqual((yield* ask()).name, "unread")
    })))

  it.effect("a rate-limit store that fails refuses the request (503 Unavailable naming the store) unless onStoreError: allow", () =>
    Effect.scoped(Effect.gen(function*() {
      const keys = yield* keyStore
      const key = Redacted.value((yield* keys.create("limited", { per: "total", rpm: 5 })).key)
      const broken = yield* RateLimiter.make.pipe(Effect.provideService(RateLimiter.RateLimiterStore, RateLimiter.RateLimiterStore.of({
        fixedWindow: () => Effect.fail(new RateLimiter.RateLimiterError({ reason: new RateLimiter.RateLimitStoreError({ message: "connection refused" }) })),
        tokenBucket: () => Effect.die("unused"),
        adaptiveConsume: () => Effect.die("unused"),
        adaptiveFeedback: () => Effect.die("unused")
      })))
      const ask = (gate: KeyAuth.KeyGate) =>
        gate.authenticate(HttpServerRequest.fromWeb(new Request("http://x/execute", { headers: { "x-api-key": key } })))
      const refused = yield* Effect.flip(ask(yield* KeyAuth.make(keys, { limiter: broken })))
      assert.strictEqual(refused.errorType, "Unavailable")
      assert.include(refused.error, "rate-limit store for key limited cannot be reached (connection refused)")
      assert.strictEqual((yield* ask(yield* KeyAuth.make(keys, { limiter: broken, onStoreError: "allow" }))).name, "limited")
    })))
})

const upstream = () =>
  Fake.start((recorded) => ({
    _tag: "Json",
    body: {
      id: "chatcmpl-up",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "up-model",
      choices: [{ index: 0, message: { role: "assistant", content: `echo: ${Fake.lastUserText(recorded)}` }, finish_reason: "stop" }],
      usage: Fake.usage
    }
  }))

describe("serve with virtual keys (real HTTP)", { timeout: 60_000 }, () => {
  it.live("401 without a valid key in the caller's protocol; Bearer and x-api-key admitted; the access log names the key, never holds it", () =>
    Effect.scoped(Effect.gen(function*() {
      const fake = steered()
      const keys = yield* keyStore
      const key = Redacted.value((yield* keys.create("team-a", { per: "total" })).key)
      yield* withServe({ providers: [fake.provider], keys }, ({ log, logged, url }) =>
        Effect.gen(function*() {
          const missing = yield* post(`${url}/execute`, consumer)
          assert.strictEqual(missing.status, 401)
          assert.strictEqual((missing.json as { errorType: string }).errorType, "Authentication")
          const wrong = yield* post(`${url}/execute`, consumer, { authorization: "Bearer llmc_wrong" })
          assert.strictEqual(wrong.status, 401)
          const openAi = yield* post(`${url}/v1/chat/completions`, { model: "m", messages: [{ role: "user", content: "Hi" }] })
          assert.strictEqual(openAi.status, 401)
          assert.strictEqual((openAi.json as { error: { type: string } }).error.type, "authentication_error")
          const anthropic = yield* post(`${url}/v1/messages`, { model: "m", max_tokens: 10, messages: [{ role: "user", content: "Hi" }] })
          assert.strictEqual(anthropic.status, 401)
          assert.deepStrictEqual((anthropic.json as { type: string; error: { type: string } }).error.type, "authentication_error")
          assert.strictEqual(fake.seen.length, 0)

          assert.strictEqual((yield* post(`${url}/execute`, consumer, { authorization: `Bearer ${key}` })).status, 200)
          assert.strictEqual((yield* post(`${url}/execute`, consumer, { "x-api-key": key })).status, 200)
          assert.strictEqual(fake.seen.length, 2)
          yield* logged(6)
          assert.deepStrictEqual(log.slice(4).map((line) => [line.key, line.status]), [["team-a", 200], ["team-a", 200]])
          assert.isFalse(JSON.stringify(log).includes(key))
        }))
    })))

  it.live("a key's budget holds under 40 concurrent requests against a fake upstream: zero overshoot, 429 naming the key's budget", () =>
    Effect.scoped(Effect.gen(function*() {
      const fake = yield* upstream()
      const keys = yield* keyStore
      const limit = 200
      const key = Redacted.value((yield* keys.create("team-a", { per: "total", maxTokens: limit })).key)
      const yaml = ["ledger: false", "provider: openai-compatible", `baseUrl: ${fake.origin}/v1`, "model: up-model"].join("\n")
      yield* withServe({ yaml, keys, flags: { "retry.maxRetries": 0 } }, ({ url }) =>
        Effect.gen(function*() {
          const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 })
          const outcomes = yield* Effect.forEach(
            Array.from({ length: 40 }, (_, i) => i),
            (i) =>
              Effect.promise(() =>
                client.chat.completions.create({ model: "up-model", messages: [{ role: "user", content: `call ${i}` }], max_tokens: 40 })
                  .then((completion) => ({ ok: true as const, tokens: completion.usage?.total_tokens ?? 0, error: "" }))
                  .catch((error: unknown) => ({ ok: false as const, tokens: 0, error: `${(error as { status?: number }).status}: ${(error as Error).message}` }))
              ),
            { concurrency: "unbounded" }
          )
          const ok = outcomes.filter((outcome) => outcome.ok)
          const refused = outcomes.filter((outcome) => !outcome.ok)
          assert.isAbove(ok.length, 0, refused[0]?.error)
          assert.isAbove(refused.length, 0)
          // Every request the upstream received is a success counted against the key, and the sum holds.
          assert.strictEqual(fake.requests.length, ok.length)
          assert.isAtMost(ok.reduce((sum, outcome) => sum + outcome.tokens, 0), limit)
          for (const outcome of refused) {
            assert.match(outcome.error, /^429: /)
            assert.include(outcome.error, "key team-a")
          }
        }))
    })))

  it.live("a request's budget is a child of its key's: the tighter of the two refuses, naming its budget", () =>
    Effect.scoped(Effect.gen(function*() {
      const fake = steered()
      const keys = yield* keyStore
      const key = Redacted.value((yield* keys.create("small", { per: "total", maxTokens: 150 })).key)
      yield* withServe({ providers: [fake.provider], keys }, ({ url }) =>
        Effect.gen(function*() {
          const as = (body: unknown) => post(`${url}/execute`, body, { "x-api-key": key })
          // The request's own budget (20 tokens) is tighter than the key's (150): the request refuses.
          const tight = yield* as({ ...consumer, maxTokens: 100, budget: { totalTokens: 20 } })
          assert.strictEqual(tight.status, 429)
          assert.strictEqual((tight.json as { errorType: string }).errorType, "BudgetExceeded")
          assert.notInclude((tight.json as { error: string }).error, "key small")
          // A generous request budget under the key's: the key's remaining budget refuses.
          assert.strictEqual((yield* as({ ...consumer, maxTokens: 100, budget: { totalTokens: 10_000 } })).status, 200)
          // 15 tokens spent of 150: a call that reserves 140 output tokens no longer fits the key.
          const overKey = yield* as({ ...consumer, maxTokens: 140, budget: { totalTokens: 10_000 } })
          assert.strictEqual(overKey.status, 429)
          assert.include((overKey.json as { error: string }).error, "key small")
          assert.strictEqual(fake.seen.length, 1)
        }))
    })))

  it.live("a streamed request (OpenAI SSE) is charged to its key's budget", () =>
    Effect.scoped(Effect.gen(function*() {
      const fake = steered()
      const keys = yield* keyStore
      const key = Redacted.value((yield* keys.create("streamer", { per: "total", maxTokens: 100 })).key)
      const control = Redacted.value((yield* keys.create("control", { per: "total", maxTokens: 100 })).key)
      yield* withServe({ providers: [fake.provider], keys }, ({ url }) =>
        Effect.gen(function*() {
          const streamed = yield* post(`${url}/v1/chat/completions`, {
            model: "steer-1",
            stream: true,
            max_tokens: 20,
            messages: [{ role: "user", content: "Hi" }]
          }, { authorization: `Bearer ${key}` })
          assert.strictEqual(streamed.status, 200)
          assert.include(streamed.text, "[DONE]")
          // 15 of 100 tokens spent by the stream: a call reserving 90 output tokens no longer fits.
          const over = yield* post(`${url}/execute`, { ...consumer, maxTokens: 90 }, { "x-api-key": key })
          assert.strictEqual(over.status, 429)
          assert.include((over.json as { error: string }).error, "key streamer")
          // The same call under a fresh key of the same budget fits.
          assert.strictEqual((yield* post(`${url}/execute`, { ...consumer, maxTokens: 90 }, { "x-api-key": control })).status, 200)
        }))
    })))

  it.live("rpm: 429 RateLimited with retry-after past the key's requests per minute; another key is unaffected", () =>
    Effect.scoped(Effect.gen(function*() {
      const fake = steered()
      const keys = yield* keyStore
      const slow = Redacted.value((yield* keys.create("slow", { per: "total", rpm: 2 })).key)
      const other = Redacted.value((yield* keys.create("other", { per: "total" })).key)
      yield* withServe({ providers: [fake.provider], keys }, ({ url }) =>
        Effect.gen(function*() {
          const as = (key: string) => post(`${url}/execute`, consumer, { "x-api-key": key })
          assert.strictEqual((yield* as(slow)).status, 200)
          assert.strictEqual((yield* as(slow)).status, 200)
          const limited = yield* as(slow)
          assert.strictEqual(limited.status, 429)
          assert.strictEqual((limited.json as { errorType: string }).errorType, "RateLimited")
          assert.include((limited.json as { error: string }).error, "rpm")
          assert.isAbove(Number(limited.headers.get("retry-after")), 0)
          assert.strictEqual((yield* as(other)).status, 200)
          assert.strictEqual(fake.seen.length, 3)
        }))
    })))

  it.live("maxConcurrent: one request more than the key's limit in flight gets 429; it is admitted once one ends", () =>
    Effect.scoped(Effect.gen(function*() {
      const fake = steered()
      const keys = yield* keyStore
      const key = Redacted.value((yield* keys.create("one", { per: "total", maxConcurrent: 1 })).key)
      yield* withServe({ providers: [fake.provider], keys }, ({ logged, url }) =>
        Effect.gen(function*() {
          fake.state.gate = yield* Deferred.make<void>()
          fake.state.started = yield* Deferred.make<void>()
          const held = yield* Effect.forkChild(post(`${url}/execute`, consumer, { "x-api-key": key }))
          yield* Deferred.await(fake.state.started)
          const second = yield* post(`${url}/execute`, consumer, { "x-api-key": key })
          assert.strictEqual(second.status, 429)
          assert.include((second.json as { error: string }).error, "concurrency limit")
          yield* Deferred.succeed(fake.state.gate, undefined)
          assert.strictEqual((yield* Fiber.join(held)).status, 200)
          yield* logged(2)
          fake.state.gate = undefined
          assert.strictEqual((yield* post(`${url}/execute`, consumer, { "x-api-key": key })).status, 200)
          // Probes need no key; the other ops endpoints do.
          assert.strictEqual((yield* request(`${url}/health`)).status, 200)
          assert.strictEqual((yield* request(`${url}/metrics`)).status, 401)
        }))
    })))
})
