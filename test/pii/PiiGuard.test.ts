import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as PiiGuard from "../../src/pii/PiiGuard.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"

const guarded = (options: PiiGuard.Options) =>
  PiiGuard.layer(options).pipe(Layer.provideMerge(MockLanguageModel.layer({ reply: "echo" })))

const prompt = "Summarise the ticket from ada@example.com (card 4111 1111 1111 1111)."

describe("PiiGuard", () => {
  it.effect("redact mode: the model receives the prompt with placeholders", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generate({ prompt, system: "Reply to 10.0.0.7" })
      const [sent] = yield* MockLanguageModel.MockLanguageModel.use((mock) => mock.calls)
      expect(sent!.messages[0]!.content).toBe(
        "Summarise the ticket from [REDACTED:email] (card [REDACTED:creditCard])."
      )
      expect(sent!.system).toBe("Reply to [REDACTED:ipv4]")
      expect(response.content).not.toContain("ada@example.com")
    }).pipe(Effect.provide(guarded({ mode: "redact" }))))

  it.effect("block mode: fails with InvalidRequest naming the kinds, not the values, and sends nothing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generate(prompt))
      expect(error.reason._tag).toBe("InvalidRequest")
      expect(error.message).toContain("email")
      expect(error.message).toContain("creditCard")
      expect(error.message).toContain("messages[0]")
      expect(error.message).not.toContain("ada@example.com")
      expect(error.message).not.toContain("4111")
      expect(yield* MockLanguageModel.MockLanguageModel.use((mock) => mock.calls)).toEqual([])
    }).pipe(Effect.provide(guarded({ mode: "block" }))))

  it.effect("block mode lets clean prompts through unchanged", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generate("What is the capital of France?")
      expect(response.content).toBe("What is the capital of France?")
    }).pipe(Effect.provide(guarded({ mode: "block" }))))

  it.effect("only the configured kinds are acted on", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.generate(prompt)
      expect(response.content).toBe("Summarise the ticket from ada@example.com (card [REDACTED:creditCard]).")
    }).pipe(Effect.provide(guarded({ mode: "redact", kinds: ["creditCard"] }))))

  it.effect("streams are guarded too: redacted before they open, or blocked before any part with nothing sent", () =>
    Effect.gen(function*() {
      const parts = yield* Stream.runCollect(LanguageModel.stream(prompt)).pipe(Effect.provide(guarded({ mode: "redact" })))
      const streamed = parts.flatMap((part) => (part.type === "text-delta" ? [part.text] : [])).join("")
      expect(streamed).toContain("[REDACTED:email]")
      expect(streamed).not.toContain("ada@example.com")
      yield* Effect.gen(function*() {
        const error = yield* Effect.flip(Stream.runCollect(LanguageModel.stream(prompt)))
        expect(error.reason._tag).toBe("InvalidRequest")
        expect(yield* MockLanguageModel.MockLanguageModel.use((mock) => mock.calls)).toEqual([])
      }).pipe(Effect.provide(guarded({ mode: "block" })))
    }))
})
