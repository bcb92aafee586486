/**
 * The shared stream machinery of the layers (`src/internal/streams.ts`) and the stream timeouts'
 * hand-off (`Timeout.stream`): one stage each, with the semantics of the combinators they replace
 * (`Stream.map` + `Stream.onExit`, `Stream.catchIf` + a stream per retry, `Effect.acquireRelease`
 * in `Stream.unwrap`, a queue between a reader fiber and its consumer). All on TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Fiber, Queue, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as Streams from "../../src/internal/streams.ts"
import * as LlmError from "../../src/LlmError.ts"
import * as Timeout from "../../src/resilience/Timeout.ts"

const subject = { provider: "p", model: "m-1" }
const failure = (retryable: boolean) =>
  LlmError.make("p", retryable ? new LlmError.Unavailable({ description: "down" }) : new LlmError.Authentication({ description: "no key" }))

describe("Streams.retryBeforeFirst", () => {
  it.effect("runs the stream again while it has emitted nothing, the failed run's scope closed before the wait", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      let runs = 0
      const attempt = Streams.fromScope((scope) => {
        const run = ++runs
        return Effect.as(
          Scope.addFinalizerExit(scope, (exit) => Effect.sync(() => void events.push(`run ${run} closed ${exit._tag}`))),
          run < 3 ? Stream.fail(failure(true)) : Stream.make("a", "b")
        )
      })
      const retried = Streams.retryBeforeFirst(attempt, (error) =>
        error.isRetryable ? Effect.sync(() => void events.push(`wait after ${error.reason._tag}`)) : undefined)
      const parts = yield* Stream.runCollect(retried)
      assert.deepStrictEqual(parts, ["a", "b"])
      assert.strictEqual(runs, 3)
      assert.deepStrictEqual(events, [
        "run 1 closed Failure",
        "wait after Unavailable",
        "run 2 closed Failure",
        "wait after Unavailable",
        "run 3 closed Success"
      ])
    }))

  it.effect("after the first part a failure ends the stream: the consumer never sees a part twice", () =>
    Effect.gen(function*() {
      let runs = 0
      const attempt = Streams.suspend(() => {
        runs++
        return Stream.concat(Stream.make("a"), Stream.fail(failure(true)))
      })
      const seen: Array<string> = []
      const exit = yield* Effect.exit(Stream.runForEach(Streams.retryBeforeFirst(attempt, () => Effect.void), (part) => Effect.sync(() => void seen.push(part))))
      assert.deepStrictEqual(seen, ["a"])
      assert.strictEqual(runs, 1)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) assert.strictEqual(Cause.findErrorOption(exit.cause)._tag, "Some")
    }))

  it.effect("an error `again` gives no wait for, a wait that fails, and a defect end the stream", () =>
    Effect.gen(function*() {
      let runs = 0
      const failing = (error: LlmError.LlmError) =>
        Streams.suspend(() => {
          runs++
          return Stream.fail(error)
        })
      const notRetried = yield* Effect.flip(Stream.runDrain(Streams.retryBeforeFirst(failing(failure(false)), (error) => error.isRetryable ? Effect.void : undefined)))
      assert.strictEqual(notRetried.reason._tag, "Authentication")
      assert.strictEqual(runs, 1)
      const givenUp = yield* Effect.flip(Stream.runDrain(Streams.retryBeforeFirst(failing(failure(true)), () => Effect.fail(failure(false)))))
      assert.strictEqual(givenUp.reason._tag, "Authentication")
      assert.strictEqual(runs, 2)
      let defects = 0
      const dying = Streams.suspend(() => {
        defects++
        return Stream.die(new Error("bug"))
      })
      const died = yield* Effect.exit(Stream.runDrain(Streams.retryBeforeFirst(dying, () => Effect.void)))
      assert.isTrue(Exit.isFailure(died) && Cause.hasDies(died.cause))
      assert.strictEqual(defects, 1)
    }))
})

describe("Streams.observe, mapParts, mapChunks, fromScope", () => {
  it.effect("observe sees every part and runs onDone once the stream has ended by itself, before its end reaches the consumer", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const observed = Streams.observe(
        Stream.fromArrays(["a", "b"], ["c"]),
        (part) => void events.push(`part ${part}`),
        () => Effect.sync(() => void events.push("done"))
      )
      yield* Stream.runForEach(observed, (part) => Effect.sync(() => void events.push(`consumer ${part}`)))
      events.push("consumer end")
      assert.deepStrictEqual(events, ["part a", "part b", "consumer a", "consumer b", "part c", "consumer c", "done", "consumer end"])
      // A failed stream is not done: onDone does not run.
      let done = 0
      const failed = yield* Effect.flip(Stream.runDrain(Streams.observe(Stream.fail(failure(true)), () => undefined, () => Effect.sync(() => void done++))))
      assert.strictEqual(failed.reason._tag, "Unavailable")
      assert.strictEqual(done, 0)
    }))

  it.effect("mapParts keeps a chunk whose parts are unchanged; mapChunks runs its pulls in the context given", () =>
    Effect.gen(function*() {
      const chunk: readonly [string, ...Array<string>] = ["a", "b"]
      const seen: Array<ReadonlyArray<string>> = []
      const kept = Streams.mapParts(Stream.fromArray(chunk), (part) => part)
      yield* Stream.runForEachArray(kept, (array) => Effect.sync(() => void seen.push(array)))
      assert.strictEqual(seen[0], chunk)
      const changed = yield* Stream.runCollect(Streams.mapParts(Stream.fromArray(chunk), (part) => (part === "b" ? "B" : part)))
      assert.deepStrictEqual(changed, ["a", "B"])
      class Label extends Context.Service<Label, string>()("test/Label") {}
      const labelled = Streams.mapChunks(
        Stream.fromArray(["x"]),
        (parts) =>
          Effect.withFiber((fiber) => {
            const label = Context.getOption(fiber.context, Label)
            return Effect.succeed([`${parts[0]}:${label._tag === "Some" ? label.value : "none"}`] as const)
          }),
        Context.make(Label, "inner")
      )
      assert.deepStrictEqual(yield* Stream.runCollect(labelled), ["x:inner"])
    }))

  it.effect("fromScope: what a layer adds to the stream's scope runs when the consumer's run ends, with its exit", () =>
    Effect.gen(function*() {
      const exits: Array<string> = []
      const stream = Streams.fromScope((scope) =>
        Effect.as(Scope.addFinalizerExit(scope, (exit) => Effect.sync(() => void exits.push(exit._tag))), Stream.make(1, 2, 3))
      )
      assert.deepStrictEqual(yield* Stream.runCollect(Stream.take(stream, 1)), [1])
      assert.deepStrictEqual(yield* Stream.runCollect(stream), [1, 2, 3])
      const failing = Streams.fromScope((scope) =>
        Effect.as(Scope.addFinalizerExit(scope, (exit) => Effect.sync(() => void exits.push(exit._tag))), Stream.fail(failure(true)))
      )
      yield* Effect.exit(Stream.runDrain(failing))
      assert.deepStrictEqual(exits, ["Success", "Success", "Failure"])
    }))

  it.effect("a layer's stream opened inline: a failed opening is retried like a failed first pull", () =>
    Effect.gen(function*() {
      let opened = 0
      const attempt = Streams.fromScope(() => {
        opened++
        return opened < 3 ? Effect.fail(failure(true)) : Stream.make("ok")
      })
      const parts = yield* Stream.runCollect(Streams.retryBeforeFirst(attempt, () => Effect.void))
      assert.deepStrictEqual(parts, ["ok"])
      assert.strictEqual(opened, 3)
      // Through a stage that is opened inline (observe) the failed opening still reaches the consumer.
      const failing = Streams.observe(Streams.fromScope(() => Effect.fail(failure(false))), () => undefined, () => undefined)
      const exit = yield* Effect.exit(Stream.runDrain(failing))
      assert.isTrue(Exit.isFailure(exit) && Cause.findErrorOption(exit.cause)._tag === "Some")
    }))
})

describe("Timeout.stream hand-off", () => {
  const bounded = (stream: Stream.Stream<string>) => Timeout.stream(stream, { firstPartMs: 10_000, idleMs: 60_000, attempt: () => 1, subject })

  it.effect("parts read ahead go out before the timeout that follows them; the reader is stopped before the stream fails", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<string, Cause.Done>()
      let readerStopped = false
      const below = Stream.onExit(Stream.fromQueue(queue), (exit) =>
        Effect.sync(() => {
          readerStopped = Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
        }))
      const seen: Array<string> = []
      const consumer = yield* Effect.forkChild(Effect.exit(Stream.runForEach(bounded(below), (part) => Effect.sync(() => void seen.push(part)))))
      yield* Queue.offerAll(queue, ["a", "b"])
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(seen, ["a", "b"])
      yield* TestClock.adjust("60 seconds")
      const exit = yield* Fiber.join(consumer)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const error = Cause.findErrorOption(exit.cause)
        assert.isTrue(error._tag === "Some" && error.value.reason._tag === "Timeout" && error.value.reason.scope === "idle")
      }
      assert.isTrue(readerStopped)
    }))

  it.effect("the reader stops reading ahead at 64 parts until the consumer takes them", () =>
    Effect.gen(function*() {
      let read = 0
      // One part per pull, each read only when pulled.
      const below = Stream.flatMap(Stream.range(0, 199), (index) =>
        Stream.fromEffect(Effect.sync(() => {
          read++
          return `p${index}`
        })))
      const taken = yield* Stream.runCollect(Stream.take(bounded(below), 1))
      assert.deepStrictEqual(taken, ["p0"])
      // The consumer took what was buffered (64 parts), which let the reader read 64 more, and stopped.
      assert.isAtMost(read, 130)
      assert.isAtLeast(read, 64)
      const all = yield* Stream.runCollect(bounded(below))
      assert.strictEqual(all.length, 200)
      assert.strictEqual(all[199], "p199")
    }))

  it.effect("interrupting the consumer stops the reader; a failure below reaches the consumer after the parts before it", () =>
    Effect.gen(function*() {
      const queue = yield* Queue.unbounded<string, Cause.Done>()
      let readerInterrupted = false
      const below = Stream.onExit(Stream.fromQueue(queue), (exit) =>
        Effect.sync(() => {
          readerInterrupted = Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
        }))
      const consumer = yield* Effect.forkChild(Stream.runDrain(bounded(below)))
      yield* Queue.offer(queue, "a")
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(consumer)
      assert.isTrue(readerInterrupted)
      const failing = Stream.concat(Stream.make("x", "y"), Stream.fail(failure(true)))
      const seen: Array<string> = []
      const error = yield* Effect.flip(
        Stream.runForEach(Timeout.stream(failing, { idleMs: 1_000, attempt: () => 1, subject }), (part) => Effect.sync(() => void seen.push(part)))
      )
      assert.deepStrictEqual(seen, ["x", "y"])
      assert.strictEqual(error.reason._tag, "Unavailable")
    }))
})

describe("Streams.addFinalizer (the layers' finalizers joined, ADR 0046)", () => {
  const recorder = () => {
    const events: Array<string> = []
    const hook = (name: string) => (exit: Exit.Exit<unknown, unknown>) => {
      events.push(`${name} called ${exit._tag}`)
      return Effect.sync(() => void events.push(`${name} ran`))
    }
    return { events, hook }
  }

  it.effect("joined while they are the scope's only finalizer: one scope finalizer, run last-added first, each called once the one before has run", () =>
    Effect.gen(function*() {
      const { events, hook } = recorder()
      const scope = Scope.makeUnsafe()
      const first = Streams.addFinalizer(scope, hook("a"))
      assert.isDefined(first)
      yield* first!
      assert.isUndefined(Streams.addFinalizer(scope, hook("b")))
      assert.isUndefined(Streams.addFinalizer(scope, () => {
        events.push("c called")
        return undefined
      }))
      const state = scope.state
      assert.isTrue(state._tag === "Open" && state.finalizers === undefined)
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(events, ["c called", "b called Success", "b ran", "a called Success", "a ran"])
    }))

  it.effect("a finalizer added by something else in between keeps its place: a later layer's is not joined past it", () =>
    Effect.gen(function*() {
      const { events, hook } = recorder()
      const scope = Scope.makeUnsafe()
      yield* Streams.addFinalizer(scope, hook("a"))!
      yield* Scope.addFinalizer(scope, Effect.sync(() => void events.push("other ran")))
      assert.isUndefined(Streams.joinedFinalizers(scope))
      const added = Streams.addFinalizer(scope, hook("b"))
      assert.isDefined(added)
      yield* added!
      yield* Scope.close(scope, Exit.fail("boom"))
      assert.deepStrictEqual(events, ["b called Failure", "b ran", "other ran", "a called Failure", "a ran"])
    }))

  it.effect("a finalizer that fails or throws does not stop the others; the close fails with it", () =>
    Effect.gen(function*() {
      const { events, hook } = recorder()
      const scope = Scope.makeUnsafe()
      yield* Streams.addFinalizer(scope, hook("a"))!
      Streams.addFinalizer(scope, () => Effect.die("failed"))
      Streams.addFinalizer(scope, () => {
        throw new Error("thrown")
      })
      const exit = yield* Effect.exit(Scope.close(scope, Exit.void))
      assert.deepStrictEqual(events, ["a called Success", "a ran"])
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
    }))

  it.effect("on a closed scope the finalizer runs at once; a retried stream's runs are closed from the joined finalizer", () =>
    Effect.gen(function*() {
      const { events, hook } = recorder()
      const closed = Scope.makeUnsafe()
      yield* Scope.close(closed, Exit.void)
      yield* Streams.addFinalizer(closed, hook("late"))!
      assert.deepStrictEqual(events, ["late called Success", "late ran"])

      // A layer above retry (observability, the budget) joins first; each run's scope is then its
      // own, closed from the joined finalizer before the layer's own finalizer runs.
      const runs: Array<string> = []
      let run = 0
      const attempt = Streams.fromScope((scope) => {
        const number = ++run
        const added = Streams.addFinalizer(scope, (exit) => Effect.sync(() => void runs.push(`run ${number} closed ${exit._tag}`)))
        const parts = number < 2 ? Stream.fail(failure(true)) : Stream.make("a", "b")
        return added === undefined ? parts : Effect.as(added, parts)
      })
      const layer = Streams.fromScope((scope) =>
        Effect.as(
          Streams.addFinalizer(scope, (exit) => Effect.sync(() => void runs.push(`layer closed ${exit._tag}`)))!,
          Streams.retryBeforeFirst(attempt, () => Effect.void)
        )
      )
      assert.deepStrictEqual(yield* Stream.runCollect(layer), ["a", "b"])
      assert.deepStrictEqual(runs, ["run 1 closed Failure", "run 2 closed Success", "layer closed Success"])
    }))
})

describe("Streams: a layer's start in the step that makes its opening (ADR 0057)", () => {
  class Label extends Context.Service<Label, string>()("test/Label") {}
  const labelOf = (fiber: Fiber.Fiber<unknown, unknown>) => {
    const label = Context.getOption(fiber.context, Label)
    return label._tag === "Some" ? label.value : "none"
  }

  it.effect("a start sees the context its opening runs in: a stage's context above it, or a service provided around it by effect's combinators", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const layer = () =>
        Streams.fromScope((_scope, fiber) => {
          seen.push(labelOf(fiber))
          return Stream.make("a")
        })
      // Opened inline by a stage with a context (the opening below is made in it).
      yield* Stream.runDrain(Streams.mapChunks(layer(), (parts) => parts, Context.make(Label, "stage")))
      // Opened as a channel by `Stream.provideService`, which calls the transform before it provides.
      yield* Stream.runDrain(Stream.provideService(Streams.mapParts(layer(), (part) => part), Label, "provided"))
      // Both: the provided service reaches the stage, whose context then reaches the start below it.
      yield* Stream.runDrain(
        Stream.provideService(Streams.observe(Streams.withFiber((fiber) => {
          seen.push(`withFiber ${labelOf(fiber)}`)
          return layer()
        }), () => undefined, () => undefined), Label, "outer")
      )
      assert.deepStrictEqual(seen, ["stage", "provided", "withFiber outer", "outer"])
    }))

  it.effect("a start runs when the stream is run, each run anew, and the consumer's context is back after the opening", () =>
    Effect.gen(function*() {
      let starts = 0
      const stream = Streams.mapChunks(
        Streams.fromScope(() => {
          starts++
          return Stream.make(1, 2)
        }),
        (parts) => parts,
        Context.make(Label, "inner")
      )
      assert.strictEqual(starts, 0)
      const after = yield* Effect.scoped(Effect.gen(function*() {
        const pull = yield* Stream.toPull(stream)
        yield* pull
        return yield* Effect.withFiber((fiber) => Effect.succeed(labelOf(fiber)))
      })).pipe(Effect.provideService(Label, "consumer"))
      assert.strictEqual(after, "consumer")
      assert.deepStrictEqual(yield* Stream.runCollect(stream), [1, 2])
      assert.strictEqual(starts, 2)
    }))

  it.effect("addFinalizerNow: on a scope with no finalizer, the layers' joined one is its only one at once, and runs at its close", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const scope = Scope.makeUnsafe()
      assert.isUndefined(Streams.addFinalizerNow(scope, (exit) => Effect.sync(() => void events.push(`a ${exit._tag}`))))
      assert.isUndefined(Streams.addFinalizerNow(scope, () => {
        events.push("b")
        return undefined
      }))
      const state = scope.state
      assert.isTrue(state._tag === "Open" && state.finalizers === undefined && state.finalizer !== undefined)
      assert.isDefined(Streams.joinedFinalizers(scope))
      yield* Scope.close(scope, Exit.fail("boom"))
      assert.deepStrictEqual(events, ["b", "a Failure"])
      // A closed scope: the finalizer runs at once (the effect returned runs it).
      const late = Streams.addFinalizerNow(scope, (exit) => Effect.sync(() => void events.push(`late ${exit._tag}`)))
      assert.isDefined(late)
      yield* late!
      assert.deepStrictEqual(events, ["b", "a Failure", "late Failure"])
    }))
})
