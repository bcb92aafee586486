/**
 * The provider conformance suite (src/testing/ProviderConformance.ts) against the Gemini
 * provider: the real `@google/genai` SDK against a fake Gemini API that answers
 * `generateContent` with JSON and `streamGenerateContent?alt=sse` with server-sent events (the
 * answer in word chunks, each with the running usage), and can be told to fail its next request.
 */
import { describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as GeminiLanguageModel from "../../../src/providers/gemini/GeminiLanguageModel.ts"
import { ProviderConformance } from "../../../src/testing/index.ts"
import * as Tokenizer from "../../../src/Tokenizer.ts"
import * as FakeGemini from "./FakeGemini.ts"

type Fault = ProviderConformance.Fault
const KEY = "AIza-conformance-0123456789abcdef"
const WORDS = "The river runs past the old mill and on to the sea".split(" ")

const GOOGLE_STATUS: Record<number, string> = {
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  401: "UNAUTHENTICATED",
  400: "INVALID_ARGUMENT"
}

const faultReply = (fault: Fault): FakeGemini.Reply => {
  const status = ProviderConformance.faults[fault].httpStatus
  switch (fault) {
    case "hang":
      return { _tag: "Hang" }
    case "network":
      return { _tag: "Destroy" }
    case "malformed":
      return FakeGemini.json("<html>not json</html>")
    default:
      return FakeGemini.googleError(
        status!,
        GOOGLE_STATUS[status!] ?? "UNKNOWN",
        `scripted ${fault}`,
        [],
        fault === "rate-limited" ? { "retry-after": "2" } : {}
      )
  }
}

/** The stock sentence, cut to `maxOutputTokens` words; usage counted as a model would. */
const answer = (request: FakeGemini.Recorded): FakeGemini.Reply => {
  const body = request.body as { contents: Array<{ parts: Array<{ text: string }> }>; generationConfig?: { maxOutputTokens?: number } }
  const prompt = body.contents.map((content) => content.parts[0]!.text).join("\n")
  const maxTokens = body.generationConfig?.maxOutputTokens
  const truncated = maxTokens !== undefined && maxTokens < WORDS.length
  const words = truncated ? WORDS.slice(0, maxTokens) : WORDS
  const promptTokens = Tokenizer.countText(prompt) + 3
  const finishReason = truncated ? "MAX_TOKENS" : "STOP"
  if (!FakeGemini.isStream(request)) {
    return FakeGemini.json({
      candidates: [{ content: { role: "model", parts: [{ text: words.join(" ") }] }, finishReason }],
      usageMetadata: { promptTokenCount: promptTokens, candidatesTokenCount: words.length, totalTokenCount: promptTokens + words.length },
      modelVersion: "gemini-2.5-flash"
    })
  }
  const events = words.map((word, index) =>
    FakeGemini.event(FakeGemini.chunk({
      parts: [{ text: index === 0 ? word : ` ${word}` }],
      ...(index === words.length - 1 ? { finishReason } : {}),
      usage: { promptTokenCount: promptTokens, candidatesTokenCount: index + 1, totalTokenCount: promptTokens + index + 1 }
    }))
  )
  return FakeGemini.sse(events)
}

const subject: ProviderConformance.Subject = {
  name: "gemini (the real @google/genai SDK, fake Gemini API)",
  faults: ProviderConformance.allFaults,
  apiKey: KEY,
  make: Effect.gen(function*() {
    const pending: Array<Fault> = []
    const fake = yield* FakeGemini.start((request) => {
      const fault = pending.shift()
      return fault !== undefined ? faultReply(fault) : answer(request)
    })
    const model = yield* GeminiLanguageModel.make({ apiKey: Redacted.make(KEY), baseUrl: fake.origin })
    return {
      model,
      provoke: (fault: Fault) => Effect.sync(() => void pending.push(fault)),
      calls: Effect.sync(() => fake.requests.length),
      aborts: fake.abandonedTotal
    }
  })
}

describe("conformance: gemini", () => ProviderConformance.register(it, subject))
