import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { TestClock } from "effect/testing"
import * as LanguageModel from "../../src/LanguageModel.ts"
import * as Observability from "../../src/observability/Observability.ts"
import * as PriceTable from "../../src/pricing/PriceTable.ts"
import * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as MockLanguageModel from "../../src/providers/mock/MockLanguageModel.ts"

const entry = (overrides: Partial<UsageLedger.Entry>): UsageLedger.Entry => ({
  time: 1_000,
  provider: "openai",
  model: "gpt-4o-mini",
  inputTokens: 10,
  outputTokens: 5,
  totalTokens: 15,
  estimated: false,
  latencyMs: 100,
  outcome: "ok",
  ...overrides
})

const withTempDir = <A, E, R>(body: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "ledger-"))),
    body,
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

describe("UsageLedger", () => {
  it("summarize: groups, sums and sorts by cost", () => {
    const entries = [
      entry({ costUsd: 0.01 }),
      entry({ provider: "gemini", model: "gemini-2.5-flash", costUsd: 0.03, outputTokens: 7, totalTokens: 17 }),
      entry({ outcome: "RateLimited", inputTokens: 0, outputTokens: 0, totalTokens: 0, latencyMs: 300 })
    ]
    expect(UsageLedger.summarize(entries, "provider")).toEqual([
      { key: "gemini", calls: 1, errors: 0, inputTokens: 10, outputTokens: 7, totalTokens: 17, costUsd: 0.03, meanLatencyMs: 100 },
      { key: "openai", calls: 2, errors: 1, inputTokens: 10, outputTokens: 5, totalTokens: 15, costUsd: 0.01, meanLatencyMs: 200 }
    ])
    expect(UsageLedger.summarize(entries)[0]).toMatchObject({ key: "all", calls: 3, inputTokens: 20, outputTokens: 12 })
    expect(UsageLedger.summarize([entry({})], "workflow")[0]!.key).toBe("(none)")
  })

  it.effect("memory: keeps the most recent entries up to its capacity, filters by time", () =>
    Effect.gen(function*() {
      const ledger = yield* UsageLedger.makeMemory({ capacity: 2 })
      for (const time of [1, 2, 3]) yield* ledger.record(entry({ time }))
      expect((yield* ledger.entries()).map((e) => e.time)).toEqual([2, 3])
      expect((yield* ledger.entries({ since: 3 })).map((e) => e.time)).toEqual([3])
    }))

  it.live("SQLite: entries survive across runs (two separate opens of the same file)", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "nested", "usage.db")
        const full = entry({
          costUsd: 0.5,
          workflow: "digest",
          step: "summarise",
          correlationId: "c-1",
          requestId: "req_1",
          estimated: true
        })
        yield* UsageLedger.UsageLedger.use((ledger) => ledger.record(full)).pipe(Effect.provide(UsageLedger.layerSqlite(path)))
        yield* UsageLedger.UsageLedger.use((ledger) => ledger.record(entry({ time: 5_000, outcome: "Timeout" }))).pipe(
          Effect.provide(UsageLedger.layerSqlite(path))
        )
        const all = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries()).pipe(
          Effect.provide(UsageLedger.layerSqlite(path))
        )
        expect(all).toEqual([full, entry({ time: 5_000, outcome: "Timeout" })])
        const recent = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries({ since: 2_000 })).pipe(
          Effect.provide(UsageLedger.layerSqlite(path))
        )
        expect(recent.map((e) => e.outcome)).toEqual(["Timeout"])
      })
    ))

  it.live("SQLite: a path that cannot be opened is a Configuration error naming the setting", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(UsageLedger.makeSqlite(join(dir, "\u0000bad"))))
        expect(error.reason._tag).toBe("Configuration")
        expect(error.message).toContain("ledger.path")
      })
    ))

  it.effect("recorded usage equals what the provider reported, exactly, and times come from the Clock", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const responses = []
      for (const prompt of ["short", "a much longer prompt with several words in it", "日本語のテキスト 😀"]) {
        responses.push(yield* LanguageModel.generate(prompt))
      }
      const entries = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
      expect(entries.map((e) => [e.inputTokens, e.outputTokens, e.totalTokens])).toEqual(
        responses.map((r) => [r.usage.inputTokens, r.usage.outputTokens, r.usage.totalTokens])
      )
      expect(entries.every((e) => e.time === 1_700_000_000_000)).toBe(true)
    }).pipe(Effect.provide(
      Observability.layer().pipe(Layer.provideMerge(Layer.mergeAll(MockLanguageModel.layer(), UsageLedger.layerMemory())))
    )))

  it.effect("cost: the provider's when given, else the price table's; the response is left as it is", () =>
    Effect.gen(function*() {
      const usage = { inputTokens: 1_000_000, outputTokens: 500_000, totalTokens: 1_500_000 }
      const base = { content: "x", provider: "openai", usage, finishReason: "stop" as const, latencyMs: 1 }
      const inner: LanguageModel.Service = LanguageModel.make({
        provider: "openai",
        defaultModel: "gpt-4o-mini",
        generate: (request) =>
          Effect.succeed(
            request.model === "priced"
              ? { ...base, model: "priced", cost: { usd: 0.42, source: "provider" as const } }
              : { ...base, model: "gpt-4o-mini" }
          )
      })
      const model = Observability.layer().pipe(
        Layer.provide(Layer.succeed(LanguageModel.LanguageModel, inner)),
        Layer.provideMerge(UsageLedger.layerMemory())
      )
      yield* Effect.gen(function*() {
        const fromTable = yield* LanguageModel.generate("a")
        expect(fromTable.cost).toBeUndefined()
        yield* LanguageModel.generate({ prompt: "b", model: "priced" })
        const entries = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries())
        expect(entries.map((entry) => entry.costUsd)).toEqual([1 + 0.5 * 4, 0.42])
      }).pipe(
        Effect.provide(model),
        Effect.provide(PriceTable.layer({ "openai/gpt-4o-mini": { inputPerMillion: 1, outputPerMillion: 4 } }))
      )
    }))

  it.live("Observability writes to a SQLite ledger given by path when none is in context", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const path = join(dir, "usage.db")
        yield* LanguageModel.generate("hello").pipe(
          Effect.provide(Observability.layer({ ledgerPath: path }).pipe(Layer.provide(MockLanguageModel.layer())))
        )
        const entries = yield* UsageLedger.UsageLedger.use((ledger) => ledger.entries()).pipe(
          Effect.provide(UsageLedger.layerSqlite(path))
        )
        expect(entries.length).toBe(1)
        expect(entries[0]!.provider).toBe("mock")
      })
    ))
})
