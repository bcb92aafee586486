import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as OpenAiLanguageModel from "../../src/providers/openai/OpenAiLanguageModel.ts"
import * as Fixture from "../../src/testing/Fixture.ts"
import * as FixtureRecorder from "../../src/testing/FixtureRecorder.ts"
import * as FixtureReplayer from "../../src/testing/FixtureReplayer.ts"
import * as FakeHttpServer from "../providers/FakeHttpServer.ts"
import { ok } from "../providers/openai/fakeOpenAi.ts"

const KEY = "sk-proj-RECORDERplantedKEY0123456789abcdef"

const withTempDir = <A, E, R>(body: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "fixtures-"))),
    body,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

describe("Fixture.hash", () => {
  it("ignores metadata, timeouts and key order; a default model equals the named one", () => {
    const base = Fixture.hash({ messages: [{ role: "user", content: "hi" }], maxTokens: 5 }, "m")
    expect(Fixture.hash({ maxTokens: 5, messages: [{ content: "hi", role: "user" }], model: "m" }, "m")).toBe(base)
    expect(Fixture.hash({
      messages: [{ role: "user", content: "hi" }],
      maxTokens: 5,
      timeoutMs: 10,
      metadata: { correlationId: "x" }
    }, "m")).toBe(base)
    expect(Fixture.hash({ messages: [{ role: "user", content: "hi!" }], maxTokens: 5 }, "m")).not.toBe(base)
    expect(Fixture.hash({ messages: [{ role: "user", content: "hi" }], maxTokens: 6 }, "m")).not.toBe(base)
    expect(base).toMatch(/^[0-9a-f]{16}$/)
  })
})

describe("FixtureRecorder and FixtureReplayer", () => {
  it.live("records a real provider's exchanges (secrets scrubbed) and replays them offline", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "llm", "rivers.json")
        let calls = 0
        const fake = yield* FakeHttpServer.start((request) =>
          ++calls === 2
            ? { status: 429, headers: { "retry-after": "2" }, body: { error: { message: "slow down", type: "rate_limit" } } }
            : ok(request)
        )
        const provider = OpenAiLanguageModel.layer({
          provider: "openai",
          baseUrl: `${fake.origin}/v1`,
          apiKey: Redacted.make(KEY),
          defaultModel: "gpt-4o-mini"
        }).pipe(Layer.provide(NodeHttpClient.layerUndici))
        const recording = FixtureRecorder.layer({ path }).pipe(Layer.provide(provider))

        const prompts = ["Name a river", "Name a mountain", `Use key ${KEY} for this`]
        const live = yield* Effect.forEach(prompts, (prompt) => Effect.result(LanguageModel.generate(prompt))).pipe(
          Effect.provide(recording)
        )
        expect(fake.requests.length).toBe(3)

        const text = readFileSync(path, "utf8")
        expect(text).not.toContain("RECORDERplantedKEY")
        const file = JSON.parse(text) as Fixture.FixtureFile
        expect(file).toMatchObject({ version: 1, provider: "openai", defaultModel: "gpt-4o-mini" })
        expect(file.exchanges.length).toBe(3)
        expect(file.exchanges[1]!.error).toMatchObject({ reason: { _tag: "RateLimited", retryAfterMs: 2000 } })

        // Replay: no server involved, same answers and errors, in any order.
        const replayed = yield* Effect.forEach([...prompts].reverse(), (prompt) => Effect.result(LanguageModel.generate(prompt)))
          .pipe(Effect.provide(FixtureReplayer.layer({ path })))
        const liveResults = live.map((result) => result._tag === "Success" ? result.success : result.failure.reason)
        const replayedResults = replayed.reverse().map((result) =>
          result._tag === "Success" ? result.success : result.failure.reason
        )
        expect(replayedResults.slice(0, 2)).toEqual(liveResults.slice(0, 2))
        // The third reply echoed the key: it was scrubbed in the file, and replays scrubbed.
        expect(replayedResults[2]).toMatchObject({ content: "echo: Use key <redacted> for this" })
        expect(fake.requests.length).toBe(3)
      })
    ))

  it.live("an unknown request fails with InvalidRequest naming its hash and the fixture file, not the prompt", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "one.json")
        const file: Fixture.FixtureFile = {
          version: 1,
          provider: "openai",
          defaultModel: "gpt-4o-mini",
          exchanges: []
        }
        writeFileSync(path, Fixture.render(file))
        const request = { messages: [{ role: "user" as const, content: "a secret plan" }] }
        const error = yield* Effect.flip(LanguageModel.generate(request)).pipe(Effect.provide(FixtureReplayer.layer({ path })))
        expect(error.reason._tag).toBe("InvalidRequest")
        expect(error.message).toContain(Fixture.hash(request, "gpt-4o-mini"))
        expect(error.message).toContain(path)
        expect(error.message).toContain("FixtureRecorder")
        expect(error.message).not.toContain("secret plan")
      })
    ))

  it.live("a missing or corrupt fixture file is a Configuration error naming it", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const missing = yield* Effect.flip(Layer.build(FixtureReplayer.layer({ path: join(dir, "none.json") }))).pipe(
          Effect.scoped
        )
        expect(missing.reason._tag).toBe("Configuration")
        expect(missing.message).toContain("none.json does not exist")
        const corrupt = join(dir, "bad.json")
        writeFileSync(corrupt, "{\"version\": 2}")
        const bad = yield* Effect.flip(Layer.build(FixtureReplayer.layer({ path: corrupt }))).pipe(Effect.scoped)
        expect(bad.message).toContain("is not a fixture file")
      })
    ))
})
