/**
 * The file journal against what a kill -9 leaves behind: a torn last line is cut off before the
 * journal reads or appends, so the next entry never lands on the fragment (which once made every
 * later resume refuse the journal), and a line an older version glued together is read back.
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem } from "effect"
import { join } from "node:path"
import * as Journal from "../../src/workflow/Journal.ts"

const start: Journal.Entry = { type: "start", runId: "r1", workflow: "wf", input: { topic: "tides" }, at: 1 }
const step = (id: string, at: number): Journal.Entry => ({
  type: "step",
  step: id,
  output: `output of ${id}`,
  usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 },
  attempts: 1,
  startedAt: at,
  finishedAt: at + 1
})
const line = (entry: Journal.Entry) => `${JSON.stringify(entry)}\n`

/** A journal directory holding `r1.jsonl` with `text`, and the file journal over it. */
const withJournal = (text: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "llmc-journal-" })
    const file = join(dir, "r1.jsonl")
    yield* fs.writeFileString(file, text)
    return { fs, file, journal: yield* Journal.makeFile(dir) }
  })

const steps = (entries: ReadonlyArray<Journal.Entry>) => entries.flatMap((entry) => (entry.type === "step" ? [entry.step] : []))

describe("Journal.makeFile", () => {
  it.effect("a torn last line is dropped and cut off: the next append starts on a line of its own, and every later read succeeds", () =>
    Effect.gen(function*() {
      // Killed while writing b's entry: half a line, no newline.
      const torn = line(step("b", 20)).slice(0, 40)
      const { file, fs, journal } = yield* withJournal(line(start) + line(step("a", 10)) + torn)
      assert.deepStrictEqual(steps(yield* journal.read("r1")), ["a"])
      yield* journal.append("r1", step("b", 30))
      yield* journal.append("r1", step("c", 40))
      assert.deepStrictEqual(steps(yield* journal.read("r1")), ["a", "b", "c"])
      const lines = (yield* fs.readFileString(file)).split("\n")
      assert.strictEqual(lines.length, 5) // start, a, b, c, and the empty string after the last newline
      assert.isTrue(lines.slice(0, 4).every((text) => text.startsWith("{\"type\":")))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("an append to a run whose file has a torn tail (no read first) cuts it off too", () =>
    Effect.gen(function*() {
      const { journal } = yield* withJournal(line(start) + line(step("a", 10)) + "{\"type\":\"step\",\"st")
      yield* journal.append("r1", step("b", 20))
      assert.deepStrictEqual(steps(yield* journal.read("r1")), ["a", "b"])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("a fragment an older version glued the next entry onto is read as that entry", () =>
    Effect.gen(function*() {
      const glued = line(step("b", 20)).slice(0, 40) + line(step("b", 30))
      const { journal } = yield* withJournal(line(start) + line(step("a", 10)) + glued + line(step("c", 40)))
      const entries = yield* journal.read("r1")
      assert.deepStrictEqual(steps(entries), ["a", "b", "c"])
      assert.strictEqual(entries[2]!.type === "step" ? entries[2].startedAt : -1, 30)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("a line in the middle that is no entry at all still refuses the journal, naming the line", () =>
    Effect.gen(function*() {
      const { journal } = yield* withJournal(line(start) + "not json at all\n" + line(step("a", 10)))
      const error = yield* Effect.flip(journal.read("r1"))
      assert.strictEqual(error.reason._tag, "Journal")
      assert.include(error.message, "r1.jsonl:2 is not a journal entry")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("the start entry keeps the settings a front door journaled", () =>
    Effect.gen(function*() {
      const { journal } = yield* withJournal("")
      const settings = { provider: "openai-compatible", model: "m1", baseUrl: "http://127.0.0.1:9/v1" }
      yield* journal.append("r1", { ...start, settings })
      const [first] = yield* journal.read("r1")
      assert.deepStrictEqual(first?.type === "start" ? first.settings : undefined, settings)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
