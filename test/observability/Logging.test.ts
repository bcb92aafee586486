import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted, References } from "effect"
import * as Logging from "../../src/observability/Logging.ts"
import * as Redaction from "../../src/observability/Redaction.ts"

describe("Logging", () => {
  it.effect("one JSON object a line, with level, message and annotations", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      yield* Effect.logInfo("hello", { calls: 2 }).pipe(Effect.annotateLogs({ correlationId: "c-1" }))
      expect(lines.length).toBe(1)
      const line = JSON.parse(lines[0]!)
      expect(line).toMatchObject({ level: "INFO", message: ["hello", { calls: 2 }], annotations: { correlationId: "c-1" } })
    }).pipe(Effect.provide(Logging.layerCollect(lines)))
  })

  it.effect("the level filters lines", () => {
    const lines: Array<string> = []
    return Effect.gen(function*() {
      yield* Effect.logDebug("hidden")
      yield* Effect.logInfo("hidden too")
      yield* Effect.logWarning("shown")
      expect(lines.map((line) => JSON.parse(line).message)).toEqual(["shown"])
    }).pipe(Effect.provide(Logging.layerCollect(lines, { level: "Warn" })))
  })

  it.effect("keys in messages and annotations, Redacted values and secret-named fields are scrubbed", () => {
    const lines: Array<string> = []
    const key = "sk-ant-api03-SCRUBMEsecret0123456789abcdef"
    return Effect.gen(function*() {
      yield* Effect.logInfo(`header Authorization: Bearer ${key}`)
      yield* Effect.logInfo("config", { apiKey: Redacted.make(key) })
      yield* Effect.logInfo("url https://generativelanguage.googleapis.com/v1?key=AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q")
      yield* Effect.logInfo("annotated").pipe(Effect.annotateLogs({ token: `token=${key}` }))
      expect(lines.length).toBe(4)
      for (const line of lines) {
        expect(line).not.toContain("SCRUBMEsecret")
        expect(line).not.toContain("AIzaSyA1b2C3")
      }
      expect(lines[0]).toContain("<redacted>")
    }).pipe(Effect.provide(Logging.layerCollect(lines)))
  })

  it.effect("layerConfig reads the level from LLM_CONNECT_LOG_LEVEL", () =>
    Effect.gen(function*() {
      const level = yield* Effect.service(References.MinimumLogLevel)
      expect(level).toBe("Debug")
    }).pipe(Effect.provide(Logging.layerConfig.pipe(
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ LLM_CONNECT_LOG_LEVEL: "debug" })))
    ))))
})

describe("Redaction", () => {
  it("scrubs secret-named fields, Redacted values and key-shaped strings deeply", () => {
    const scrubbed = Redaction.scrubValue({
      headers: { Authorization: "Bearer abc", "content-type": "application/json", "x-api-key": "k" },
      body: { model: "gpt-4o-mini", note: "key sk-proj-AbCdEf0123456789GhIjKlMnOp in text" },
      apiKey: Redacted.make("secret"),
      list: [Redacted.make("x"), "plain"]
    })
    expect(scrubbed).toEqual({
      headers: { Authorization: "<redacted>", "content-type": "application/json", "x-api-key": "<redacted>" },
      body: { model: "gpt-4o-mini", note: "key <redacted> in text" },
      apiKey: "<redacted>",
      list: ["<redacted>", "plain"]
    })
  })
})
