import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, References } from "effect"
import * as OpenAiLanguageModel from "../../src/providers/openai/OpenAiLanguageModel.ts"
import * as Retry from "../../src/resilience/Retry.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import { ok } from "../providers/openai/fakeOpenAi.ts"

const quick: Retry.Policy = { ...Retry.defaultPolicy, baseDelayMs: 10, jitter: false }

/** A fake server answering with the given replies in turn (then 200), noting when each request arrived. */
const scripted = (replies: ReadonlyArray<FakeHttpServer.Reply | "ok">) =>
  Effect.gen(function*() {
    const arrivals: Array<number> = []
    const fake = yield* FakeHttpServer.start((request) => {
      arrivals.push(performance.now())
      const reply = replies[arrivals.length - 1] ?? "ok"
      return reply === "ok" ? ok(request) : reply
    })
    const adapter = yield* OpenAiLanguageModel.make({ provider: "openai", baseUrl: `${fake.origin}/v1`, defaultModel: "gpt-4o-mini" })
    return { fake, arrivals, adapter }
  })

const error = (status: number, headers: Record<string, string> = {}): FakeHttpServer.Reply => ({
  status,
  headers,
  body: { error: { message: `status ${status}`, type: "test" } }
})

describe("Retry over HTTP (OpenAI adapter, fake server)", () => {
  it.live("500, then 429 with retry-after-ms, then success: the hint is waited out before the third request", () =>
    Effect.gen(function*() {
      const { adapter, arrivals, fake } = yield* scripted([error(500), error(429, { "retry-after-ms": "150" })])
      const response = yield* Retry.make(adapter, quick).generate({ messages: [{ role: "user", content: "hi" }] })
      assert.strictEqual(response.content, "echo: hi")
      assert.strictEqual(fake.requests.length, 3)
      assert.isAtLeast(arrivals[2]! - arrivals[1]!, 145)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.provideService(References.MinimumLogLevel, "Error")))

  it.live("400 is never retried", () =>
    Effect.gen(function*() {
      const { adapter, fake } = yield* scripted([error(400)])
      const failure = yield* Effect.flip(Retry.make(adapter, quick).generate({ messages: [{ role: "user", content: "hi" }] }))
      assert.strictEqual(failure.reason._tag, "InvalidRequest")
      assert.strictEqual(fake.requests.length, 1)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.provideService(References.MinimumLogLevel, "Error")))

  it.live("an attempt that hangs is timed out, its socket closed, and the retry succeeds", () =>
    Effect.gen(function*() {
      const { adapter, fake } = yield* scripted([{ hang: true }])
      const response = yield* Retry.make(adapter, { ...quick, attemptTimeoutMs: 300 }).generate({
        messages: [{ role: "user", content: "hi" }]
      })
      assert.strictEqual(response.content, "echo: hi")
      assert.strictEqual(fake.requests.length, 2)
      yield* fake.abandoned.pipe(Effect.timeout("10 seconds"))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici), Effect.provideService(References.MinimumLogLevel, "Error")))
})
