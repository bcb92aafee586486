/**
 * The layers' one stream stage (`Streams.attach` / `Streams.hooked`, ADR 0052): every layer's
 * per-part work as hooks of one stage over the stream below them, with the semantics of the
 * nested stages they replace: `before` hooks outermost first, `chunk` and `failure` hooks
 * innermost first, an effect from a hook run before the layers above it see its result, a failed
 * `before` not seen by the layers below it, the read below in the innermost layer's context and
 * each hook's effect in its own layer's, and a retry that opens the stream below anew replacing
 * the failed run's hooks.
 */
import { assert, describe, it } from "@effect/vitest"
import { Array as Arr, Cause, Context, Effect, Exit, Fiber, Pull, Stream } from "effect"
import * as Streams from "../../src/internal/streams.ts"
import * as LlmError from "../../src/LlmError.ts"

const failure = (retryable: boolean) =>
  LlmError.make("p", retryable ? new LlmError.Unavailable({ description: "down" }) : new LlmError.Authentication({ description: "no key" }))

// A layer that records its hooks' calls under `name`.
const recording = <E>(
  stream: Stream.Stream<string, E>,
  name: string,
  events: Array<string>,
  extra: Partial<Streams.Hooks<string, E>> = {}
): Stream.Stream<string, E> =>
  Streams.hooked(stream, () => ({
    before: () => {
      events.push(`${name} before`)
      return undefined
    },
    chunk: (chunk) => {
      events.push(`${name} chunk ${chunk.join("")}`)
      return chunk
    },
    failure: (cause) => {
      events.push(`${name} ${Pull.isDoneCause(cause) ? "done" : "failure"}`)
      return cause
    },
    ...extra
  }))

class Label extends Context.Service<Label, string>()("test/Label") {}

describe("Streams.attach: the layers' hooks in one stage", () => {
  it.effect("stages stacked on one another add their hooks to one stage, and run them in the nested stages' order", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const stacked = recording(recording(recording(Stream.make("a", "b"), "inner", events), "middle", events), "outer", events)
      const parts = yield* Stream.runCollect(stacked)
      assert.deepStrictEqual(parts, ["a", "b"])
      assert.deepStrictEqual(events, [
        "outer before",
        "middle before",
        "inner before",
        "inner chunk ab",
        "middle chunk ab",
        "outer chunk ab",
        "outer before",
        "middle before",
        "inner before",
        "inner done",
        "middle done",
        "outer done"
      ])
    }))

  it.effect("one stage over the pull below: a pull with hooks gets another layer's hooks, not a wrapper", () =>
    Effect.gen(function*() {
      const pulls: Array<unknown> = []
      const capture = (stream: Stream.Stream<string>) =>
        Streams.hooked(stream, (pull) => {
          pulls.push(pull)
          return {}
        })
      yield* Stream.runDrain(capture(capture(Streams.mapParts(Stream.make("a"), (part) => part))))
      // The pull each layer got from below is the same stage's pull.
      assert.strictEqual(pulls.length, 2)
      assert.strictEqual(pulls[0], pulls[1])
    }))

  it.effect("a chunk hook's effect runs before the layers above see its chunk; its failure goes to them, not to the layers below", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const inner = recording(Stream.make("a"), "inner", events)
      const effectful = Streams.hooked(inner, () => ({
        chunk: (chunk) =>
          Effect.sync(() => {
            events.push("effect")
            return Arr.map(chunk, (part) => part.toUpperCase())
          })
      }))
      const parts = yield* Stream.runCollect(recording(effectful, "outer", events))
      assert.deepStrictEqual(parts, ["A"])
      assert.deepStrictEqual(events.slice(0, 5), ["outer before", "inner before", "inner chunk a", "effect", "outer chunk A"])

      const failed: Array<string> = []
      const failing = Streams.hooked(recording(Stream.make("a"), "inner", failed), () => ({
        chunk: () => Effect.fail(failure(false))
      }))
      const exit = yield* Effect.exit(Stream.runDrain(recording(failing, "outer", failed)))
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(failed, ["outer before", "inner before", "inner chunk a", "outer failure"])
    }))

  it.effect("a before hook's failure fails the read without reading: the layers below it neither read nor see it", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      let reads = 0
      const source = Stream.fromPull(Effect.succeed(Effect.sync(() => {
        reads++
        return ["x"] as const
      })))
      let cut = false
      const capped = Streams.hooked(recording(source, "inner", events), () => ({
        before: () => (cut ? Cause.fail(failure(false)) : undefined),
        chunk: (chunk) => {
          cut = true
          return chunk
        }
      }))
      const exit = yield* Effect.exit(Stream.runCollect(recording(capped, "outer", events)))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(reads, 1)
      assert.deepStrictEqual(events, ["outer before", "inner before", "inner chunk x", "outer chunk x", "outer before", "outer failure"])
    }))

  it.effect("the read below runs in the innermost layer's context, each hook's effect in its own layer's, the hooks and the consumer in theirs", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const label = (what: string) => Effect.flatMap(Effect.serviceOption(Label), (value) => Effect.sync(() => void seen.push(`${what}: ${value._tag === "Some" ? value.value : "none"}`)))
      const source = Stream.fromPull(Effect.succeed(Effect.andThen(label("read"), Effect.succeed(["x"] as const))))
      const base = Context.empty()
      const innerContext = Context.add(base, Label, "inner")
      const outerContext = Context.add(base, Label, "outer")
      // A layer with a context (the budget's), one without (the timeouts'), one with its own (observability's).
      const inner = Streams.hooked(source, () => ({ context: innerContext, chunk: (chunk) => Effect.as(label("inner effect"), chunk) }), { context: innerContext })
      const plain = Streams.hooked(inner, () => ({
        chunk: (chunk) => {
          seen.push(`plain hook: ${Context.getOption(Fiber.getCurrent()!.context, Label)._tag === "Some" ? "set" : "none"}`)
          return Effect.as(label("plain effect"), chunk)
        }
      }))
      const outer = Streams.hooked(plain, () => ({ context: outerContext, chunk: (chunk) => Effect.as(label("outer effect"), chunk) }), { context: outerContext })
      yield* Stream.runForEach(Stream.take(outer, 1), () => label("consumer"))
      assert.deepStrictEqual(seen, [
        "read: inner",
        "inner effect: inner",
        "plain hook: none",
        // (a layer without a context of its own: the nearest one above it, as its pulls had)
        "plain effect: outer",
        "outer effect: outer",
        "consumer: none"
      ])
    }))

  it.effect("an interrupted read puts the consumer's context back", () =>
    Effect.gen(function*() {
      const inner = Context.add(Context.empty(), Label, "inner")
      const stalled = Streams.hooked(Stream.never, () => ({ context: inner }), { context: inner })
      const fiber = yield* Effect.forkChild(Stream.runDrain(stalled))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(fiber)
      const after = yield* Effect.serviceOption(Label)
      assert.strictEqual(after._tag, "None")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
    }))

  it.effect("a retry that opens the stream anew replaces the failed run's hooks: only the new run's layers see its parts", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      let runs = 0
      const attempt = () => {
        const run = ++runs
        return recording(run < 3 ? Stream.fail(failure(true)) : Stream.make("a"), `run ${run}`, events)
      }
      const retried = Streams.fromStage(Streams.retryBeforeFirstStage(attempt, () => Effect.sync(() => void events.push("wait"))))
      const parts = yield* Stream.runCollect(recording(retried, "outer", events))
      assert.deepStrictEqual(parts, ["a"])
      assert.deepStrictEqual(events, [
        "outer before",
        "run 1 before",
        "run 1 failure",
        "wait",
        "run 2 before",
        "run 2 failure",
        "wait",
        "run 3 before",
        "run 3 chunk a",
        "outer chunk a",
        "outer before",
        "run 3 before",
        "run 3 done",
        "outer done"
      ])
    }))
})
