/**
 * Stream constructors for the layers' hot paths: a stream made when it starts, from the fiber
 * that starts it, at no cost per pull.
 *
 * `Stream.unwrap(Effect.withFiber(...))` adds an `Effect.suspend` to every pull of the stream it
 * makes, and `Stream.suspend` records every stream it makes in a `WeakMap`; a streamed call goes
 * through a dozen of them (one or two per layer). These make the same streams with one step when
 * the stream starts and nothing per pull.
 *
 * @internal
 */
import { Array as Arr, Cause, Channel, type Context, Effect, Exit, Fiber, Pull, Scope, Stream } from "effect"
import type * as StreamPart from "../StreamPart.ts"

/**
 * A stage's opening, made when the stream starts: it opens the stream below in the stream's scope
 * and gives the stage's pull. A layer whose start needs the stream's scope or fiber
 * ({@link fromScope}) returns a `Stage` instead of a stream when its stream is one stage over the
 * stream below ({@link observeStage}, {@link mapChunksStage}): the start and the stage are then
 * one stage, not two (one channel, one `catchCause` and one step less per stream).
 *
 * @internal
 */
export class Stage<A, E> {
  readonly open: Open<A, E>
  constructor(open: Open<A, E>) {
    this.open = open
  }
}

/**
 * How a stream made here opens: given the stream's pull and scope, its pull (or the failure of its
 * opening).
 *
 * @internal
 */
export type Open<A, E, R = never> = (
  upstream: Pull.Pull<unknown, unknown, unknown>,
  scope: Scope.Scope
) => Effect.Effect<Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown, R>, E, R>

// A stream made here keeps its opening under this key, so that a stage made here opens it inline
// (`openIn`): one channel for all the layers' stages of a streamed call, not one each.
const opening: unique symbol = Symbol.for("llm-connect/Streams/opening")
interface Inline<A, E, R> extends Stream.Stream<A, E, R> {
  readonly [opening]: Open<A, E, R>
}
const isInline = <A, E, R>(stream: Stream.Stream<A, E, R>): stream is Inline<A, E, R> => opening in stream

/**
 * The stream that `open` opens. A stage made in this module opens it inline: its opening runs in
 * the step that opens that stage, without a channel of its own (a `Channel.fromTransform` channel
 * turns a failed opening into a failed first pull with a `catchCause` per opening; inline, a
 * failed opening fails the opening above it instead, up to the first stage that is a channel, or
 * that catches it: {@link retryBeforeFirstStage} and {@link transform} do). Anything else runs it
 * as a channel.
 *
 * @internal
 */
export const fromOpen = <A, E, R = never>(open: Open<A, E, R>): Stream.Stream<A, E, R> => {
  const stream: Stream.Stream<A, E, R> = Stream.fromChannel(Channel.fromTransform(open))
  return Object.assign(stream, { [opening]: open })
}

/**
 * The stream of a {@link Stage}.
 *
 * @internal
 */
export const fromStage = <A, E>(stage: Stage<A, E>): Stream.Stream<A, E> => fromOpen(stage.open)

/**
 * Opens a stream in a stage's step: inline when it was made here ({@link fromOpen}), else its
 * channel's transform, given the stream's pull and scope.
 *
 * @internal
 */
export const openIn = <A, E, R = never>(
  made: Stream.Stream<A, E, R> | Stage<A, E>,
  upstream: Pull.Pull<unknown, unknown, unknown>,
  scope: Scope.Scope
): Effect.Effect<Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown, R>, E, R> =>
  made instanceof Stage ? made.open(upstream, scope) : isInline(made) ? made[opening](upstream, scope) : Channel.toTransform(Stream.toChannel(made))(upstream, scope)

// An opening whose failure is the first pull's (what a channel's transform does).
const caught = <A, E>(
  opened: Effect.Effect<Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>, E>
): Effect.Effect<Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>> => Effect.catchCause(opened, (cause) => Effect.succeed(Effect.failCause(cause)))

/**
 * The stream `f` makes from the fiber that starts it (`Stream.unwrap(Effect.withFiber(fiber =>
 * Effect.succeed(f(fiber))))`, without the cost per pull).
 *
 * @internal
 */
export const withFiber = <A, E>(f: (fiber: Fiber.Fiber<unknown, unknown>) => Stream.Stream<A, E>): Stream.Stream<A, E> =>
  fromOpen((upstream, scope) => Effect.withFiber((fiber) => openIn(f(fiber), upstream, scope)))

/**
 * The stream `f` makes when it starts (`Stream.suspend`, without recording it).
 *
 * @internal
 */
export const suspend = <A, E>(f: () => Stream.Stream<A, E>): Stream.Stream<A, E> =>
  fromOpen((upstream, scope) => Effect.suspend(() => openIn(f(), upstream, scope)))

/**
 * The stream an effect makes when the stream starts, the effect run in the stream's scope
 * (`Stream.unwrap`, without the cost per pull: the effect runs as the stream starts rather than
 * at its first pull, which is the same moment for a stream that is read).
 *
 * @internal
 */
export const unwrapScoped = <A, E, E2>(
  effect: Effect.Effect<Stream.Stream<A, E>, E2, Scope.Scope>
): Stream.Stream<A, E | E2> =>
  fromOpen<A, E | E2>((upstream, scope: Scope.Scope) =>
    Effect.flatMap(Effect.provideService(effect, Scope.Scope, scope), (stream) => openIn<A, E | E2>(stream, upstream, scope))
  )

/**
 * The stream `f` makes when it starts, from the stream's scope (where a layer adds what must run
 * when the stream is over: its finalizers run when the consumer's run of the stream ends) and the
 * fiber that starts it; `f` returns the stream, or an effect that makes it. (`unwrapScoped` with
 * `Effect.acquireRelease` inside, without providing the scope as a service, the acquire's
 * uninterruptible region or the context copies of each: a layer whose start is synchronous adds
 * its finalizer with {@link addFinalizer} in the same step, joined with the layers' finalizers
 * added before it when it can be.)
 *
 * @internal
 */
export const fromScope = <A, E, E2>(
  f: (
    scope: Scope.Scope,
    fiber: Fiber.Fiber<unknown, unknown>
  ) => Stream.Stream<A, E> | Stage<A, E> | Effect.Effect<Stream.Stream<A, E> | Stage<A, E>, E2>
): Stream.Stream<A, E | E2> =>
  fromOpen<A, E | E2>((upstream, scope: Scope.Scope) =>
    Effect.withFiber((fiber) => {
      const made = f(scope, fiber)
      return made instanceof Stage || Stream.isStream(made)
        ? openIn<A, E | E2>(made, upstream, scope)
        : Effect.flatMap(made, (stream) => openIn<A, E | E2>(stream, upstream, scope))
    })
  )

/**
 * What a layer runs when a stream's scope closes (`Scope.addFinalizerExit`'s finalizer): an effect,
 * or `undefined` when it has nothing to run.
 *
 * @internal
 */
export type Finalizer = (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void> | undefined

// The finalizers of the layers joined into one scope finalizer, kept on it under this key.
const joinedKey: unique symbol = Symbol.for("llm-connect/Streams/joined")
interface Joined {
  (exit: Exit.Exit<unknown, unknown>): Effect.Effect<void>
  readonly [joinedKey]: Array<Finalizer>
}

// The finalizers from `index` down to the first (the last added runs first, as in a scope), each
// called once the one before it has run; a failure does not stop the others, and fails the whole
// at the end (as a scope's close does).
const runJoined = (finalizers: ReadonlyArray<Finalizer>, index: number, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> => {
  for (let at = index; at >= 0; at--) {
    let effect: Effect.Effect<void> | undefined
    try {
      effect = finalizers[at]!(exit)
    } catch (defect) {
      effect = Effect.die(defect)
    }
    if (effect === undefined || effect === Effect.void) continue
    if (at === 0) return effect
    return Effect.onExitPrimitive(effect, () => {
      const rest = runJoined(finalizers, at - 1, exit)
      return rest === Effect.void ? undefined : rest
    })
  }
  return Effect.void
}

/**
 * The joined finalizers of a scope whose only finalizer is a join of the layers' ({@link
 * addFinalizer}), to add one to in the caller's step; `undefined` otherwise (no finalizer yet,
 * another one added since, or closed).
 *
 * @internal
 */
export const joinedFinalizers = (scope: Scope.Scope): Array<Finalizer> | undefined => {
  const state = scope.state
  if (state._tag !== "Open" || state.finalizers !== undefined || state.finalizer === undefined || scope.strategy !== "sequential") return undefined
  const only = state.finalizer as Partial<Joined>
  return only[joinedKey]
}

/**
 * Adds a layer's finalizer to a stream's scope: in this step, into the layers' joined finalizer
 * when that is still the scope's only one (nothing was added after it, so the order is the one
 * separate finalizers would have: the last added runs first); otherwise as a new joined finalizer
 * (the effect returned, `Scope.addFinalizerExit`; it runs the finalizer at once on a closed scope).
 * A scope whose finalizers are all the layers' then closes without effect's generator for two or
 * more finalizers (`scopeCloseFinalizers`: an array, an `exit` and a step per finalizer).
 *
 * @internal
 */
export const addFinalizer = (scope: Scope.Scope, finalizer: Finalizer): Effect.Effect<void> | undefined => {
  const joined = joinedFinalizers(scope)
  if (joined !== undefined) {
    joined.push(finalizer)
    return undefined
  }
  // (a scope that runs its finalizers in parallel keeps them apart)
  if (scope.strategy !== "sequential") return Scope.addFinalizerExit(scope, (exit) => finalizer(exit) ?? Effect.void)
  const finalizers: Array<Finalizer> = [finalizer]
  const run: Joined = Object.assign((exit: Exit.Exit<unknown, unknown>) => runJoined(finalizers, finalizers.length - 1, exit), {
    [joinedKey]: finalizers
  })
  return Scope.addFinalizerExit(scope, run)
}

/**
 * A stage over a stream's pulls: `f` makes the stage's pull from the pull of the stream below, in
 * the step that opens it (`Stream.transformPull` without its `Effect` around `f` and its extra
 * step).
 *
 * @internal
 */
export const transform = <A, E, B, E2>(
  stream: Stream.Stream<A, E>,
  f: (pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>) => Pull.Pull<Arr.NonEmptyReadonlyArray<B>, E2, unknown>
): Stream.Stream<B, E2> => fromOpen((upstream, scope) => Effect.map(caught(openIn(stream, upstream, scope)), f))

/**
 * Shows each part of a stream to `onPart` (synchronously, a chunk at a time, the chunk passed on
 * as it came) and runs `onDone` when the stream has ended by itself, before its end reaches the
 * consumer (uninterruptibly, as a finalizer would). `Stream.map` + `Stream.onExit` for a
 * stream's success, in one stage, without the forked scope and the generator `Stream.onExit`
 * makes for each stream and the array `Stream.map` makes for each chunk. Given a `context`, the
 * stream's start and each of its pulls run in it, as with {@link inContext}.
 *
 * @internal
 */
export const observe = <A, E>(
  stream: Stream.Stream<A, E>,
  onPart: (part: A) => void,
  onDone: () => Effect.Effect<void> | undefined,
  context?: Context.Context<never> | undefined
): Stream.Stream<A, E> => fromStage(observeStage(stream, onPart, onDone, context))

/**
 * {@link observe} as a {@link Stage}, for a layer that returns it from {@link fromScope}.
 *
 * @internal
 */
export const observeStage = <A, E>(
  stream: Stream.Stream<A, E>,
  onPart: (part: A) => void,
  onDone: () => Effect.Effect<void> | undefined,
  context?: Context.Context<never> | undefined
): Stage<A, E> => {
  const within = <X, Y>(effect: Effect.Effect<X, Y>): Effect.Effect<X, Y> =>
    context === undefined ? effect : Effect.updateContext(effect, () => context)
  const seen = (chunk: Arr.NonEmptyReadonlyArray<A>): Arr.NonEmptyReadonlyArray<A> => {
    for (let index = 0; index < chunk.length; index++) onPart(chunk[index]!)
    return chunk
  }
  const ended = (cause: Cause.Cause<E | Cause.Done<unknown>>): Effect.Effect<never, E | Cause.Done<unknown>> => {
    if (!Pull.isDoneCause(cause)) return Effect.failCause(cause)
    const last = onDone()
    return last === undefined ? Effect.failCause(cause) : Effect.andThen(Effect.uninterruptible(last), Effect.failCause(cause))
  }
  if (context === undefined) {
    return new Stage((upstream, scope) => Effect.map(openIn(stream, upstream, scope), (pull) => Effect.catchCause(Effect.map(pull, seen), ended)))
  }
  // The stage below switches each of its pulls to a context made from this one (the budget's call
  // context): the pulls are not switched here as well; `onDone` runs in this context all the same
  // (set around it, no step), and what it leaves to run too.
  const endedBelow = (cause: Cause.Cause<E | Cause.Done<unknown>>): Effect.Effect<never, E | Cause.Done<unknown>> => {
    if (!Pull.isDoneCause(cause)) return Effect.failCause(cause)
    const fiber = Fiber.getCurrent()
    const previous = fiber?.context
    fiber?.setContext(context)
    let last: Effect.Effect<void> | undefined
    try {
      last = onDone()
    } finally {
      if (previous !== undefined) fiber!.setContext(previous)
    }
    return last === undefined ? Effect.failCause(cause) : Effect.andThen(within(Effect.uninterruptible(last)), Effect.failCause(cause))
  }
  return new Stage((upstream, scope) =>
    Effect.map(within(openIn(stream, upstream, scope)), (pull) =>
      {
        if (pull !== switchedBelow) return within(Effect.catchCause(Effect.map(pull, seen), ended))
        switchedBelow = undefined
        return Effect.catchCause(Effect.map(pull, seen), endedBelow)
      })
  )
}

// The pull a stage with a context of its own made last ({@link mapChunksStage}), in the step that
// opened it: a stage above it that gets this very pull (and opened it in its own context, from
// which that context was made) need not switch its pulls to its own context as well. (Another
// fiber may have opened a stage in between: then the pull is another and nothing is skipped.)
let switchedBelow: unknown = undefined

/**
 * Runs `stream` again while it has emitted nothing: a failure with a typed error for which
 * `again` gives an effect (the wait before the next run; it fails to give up) closes the failed
 * run's scope (its finalizers run, its reads stop), runs that effect, and starts the stream anew,
 * in a scope of its own; once a part has gone out, the stream is passed through as it is. A
 * failure with a defect is never run again (as `Stream.catchIf`). One stage for all the runs
 * (`Stream.map` to see the first part + `Stream.catchIf` + a stream per retry, each a stage and a
 * scope, without them).
 *
 * @internal
 */
export const retryBeforeFirst = <A, E, E2>(
  stream: Stream.Stream<A, E>,
  again: (error: E) => Effect.Effect<unknown, E2> | undefined
): Stream.Stream<A, E | E2> => fromStage(retryBeforeFirstStage(() => stream, again))

/**
 * {@link retryBeforeFirst} as a {@link Stage}, each run's stream made by `make` as the run opens
 * (in its step: no `suspend` stage around it), for a layer that returns it from {@link fromScope}.
 *
 * @internal
 */
export const retryBeforeFirstStage = <A, E, E2>(
  make: () => Stream.Stream<A, E>,
  again: (error: E) => Effect.Effect<unknown, E2> | undefined
): Stage<A, E | E2> =>
  new Stage((upstream, scope) => {
    // Each run's scope: a child of the stream's, or, when the stream's scope has only the layers'
    // joined finalizer, a scope of its own that a finalizer joined there closes (the current run:
    // a failed one was closed before the next was made), so that the stream's scope still has one.
    const joined = joinedFinalizers(scope)
    const makeRun = joined === undefined ? () => Scope.forkUnsafe(scope) : () => Scope.makeUnsafe()
    let run = makeRun()
    if (joined !== undefined) joined.push((exit) => Scope.closeUnsafe(run, exit))
    let current: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E | E2, unknown>
    const open = (): Effect.Effect<Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E | E2, unknown>> =>
      Effect.map(caught(openIn(make(), upstream, run)), (pull) => {
        // Until the first part: watched; from it on, the run's own pull.
        current = Effect.catchCause(
          Effect.map(pull, (chunk) => {
            current = pull
            return chunk
          }),
          recover
        )
        return current
      })
    const recover = (cause: Cause.Cause<E | Cause.Done<unknown>>): Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E | E2, unknown> => {
      if (Pull.isDoneCause(cause) || Cause.hasDies(cause)) return Effect.failCause(cause)
      const error = Cause.findErrorOption(cause)
      if (error._tag === "None" || Cause.isDone(error.value)) return Effect.failCause(cause)
      const wait = again(error.value)
      if (wait === undefined) return Effect.failCause(cause)
      const failed = run
      run = makeRun()
      return Effect.flatten(Effect.andThen(Effect.andThen(Scope.close(failed, Exit.failCause(cause)), wait), Effect.suspend(open)))
    }
    return Effect.map(open(), () => Effect.suspend(() => current))
  })

/**
 * Runs a stream, its start and each of its pulls, in `context`: a context made once, from the
 * context the stream starts in, with the services it adds. (`Stream.provideContext` and
 * `Stream.provideService` copy the context on every pull, one copy per service.)
 *
 * @internal
 */
export const inContext = <A, E>(stream: Stream.Stream<A, E>, context: Context.Context<never>): Stream.Stream<A, E> => {
  const within = <X, Y>(effect: Effect.Effect<X, Y>): Effect.Effect<X, Y> => Effect.updateContext(effect, () => context)
  return fromOpen((upstream, scope) => Effect.map(within(openIn(stream, upstream, scope)), within))
}

/**
 * Maps each chunk of a stream with an effect, in one stage (`Stream.mapArrayEffect`); given a
 * `context`, the stream's start and each of its pulls run in it, as with {@link inContext}
 * (without a stage of its own).
 *
 * @internal
 */
export const mapChunks = <A, E>(
  stream: Stream.Stream<A, E>,
  f: (chunk: Arr.NonEmptyReadonlyArray<A>) => Effect.Effect<Arr.NonEmptyReadonlyArray<A>, E>,
  context?: Context.Context<never> | undefined
): Stream.Stream<A, E> => fromStage(mapChunksStage(stream, f, context))

/**
 * {@link mapChunks} as a {@link Stage}, for a layer that returns it from {@link fromScope}.
 *
 * Given `sync`, it is asked once the stream below has opened (in the step that opens the stage)
 * for a synchronous mapping of the chunks: when it gives one, each pull maps its chunk with it
 * (`Effect.map`: one step per pull, not the two of `Effect.flatMap` and the `Effect.succeed` that
 * `f` returns), and `f` is not used.
 *
 * @internal
 */
export const mapChunksStage = <A, E>(
  stream: Stream.Stream<A, E>,
  f: (chunk: Arr.NonEmptyReadonlyArray<A>) => Effect.Effect<Arr.NonEmptyReadonlyArray<A>, E>,
  context?: Context.Context<never> | undefined,
  sync?: (() => ((chunk: Arr.NonEmptyReadonlyArray<A>) => Arr.NonEmptyReadonlyArray<A>) | undefined) | undefined
): Stage<A, E> => {
  const mapped = sync === undefined
    ? (pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>) => Effect.flatMap(pull, f)
    : (pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>) => {
      const plain = sync()
      return plain === undefined ? Effect.flatMap(pull, f) : Effect.map(pull, plain)
    }
  if (context === undefined) {
    return new Stage((upstream, scope) => Effect.map(openIn(stream, upstream, scope), mapped))
  }
  const within = <X, Y>(effect: Effect.Effect<X, Y>): Effect.Effect<X, Y> => Effect.updateContext(effect, () => context)
  return new Stage((upstream, scope) =>
    Effect.map(within(openIn(stream, upstream, scope)), (pull) => {
      const switched = within(mapped(pull))
      switchedBelow = switched
      return switched
    })
  )
}

/**
 * Maps the parts of a stream synchronously, a chunk at a time, the chunk kept as it came when no
 * part changed (`Stream.map` makes a new array for every chunk).
 *
 * @internal
 */
export const mapParts = <A, E>(stream: Stream.Stream<A, E>, f: (part: A) => A): Stream.Stream<A, E> =>
  fromOpen((upstream, scope) =>
      Effect.map(openIn(stream, upstream, scope), (pull) =>
        Effect.map(pull, (chunk): Arr.NonEmptyReadonlyArray<A> => {
          let out: Array<A> | undefined
          for (let index = 0; index < chunk.length; index++) {
            const part = chunk[index]!
            const mapped = f(part)
            if (out === undefined && mapped !== part) out = chunk.slice(0, index)
            if (out !== undefined) out.push(mapped)
          }
          return out !== undefined && Arr.isArrayNonEmpty(out) ? out : chunk
        }))
    )

/**
 * Maps the parts of one chunk in order, synchronously until a part needs an effect (a finish
 * part that settles something): for `Stream.mapArrayEffect`, one step per chunk instead of one
 * per part (`Stream.mapEffect` and `Stream.tap` split every chunk into single parts), the chunk
 * kept whole when no part changed.
 *
 * @internal
 */
export const mapChunk = (
  parts: Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>,
  f: (part: StreamPart.StreamPart) => StreamPart.StreamPart | Effect.Effect<StreamPart.StreamPart>
): Effect.Effect<Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>> => {
  let out: Array<StreamPart.StreamPart> | undefined
  for (let index = 0; index < parts.length; index++) {
    const mapped = f(parts[index]!)
    if (Effect.isEffect(mapped)) {
      const head = out ?? parts.slice(0, index)
      // The chunk's last part (a finish part ends its chunk): one array for the whole chunk.
      if (index === parts.length - 1) {
        return Effect.map(mapped, (part): Arr.NonEmptyReadonlyArray<StreamPart.StreamPart> => {
          head.push(part)
          return Arr.isArrayNonEmpty(head) ? head : [part]
        })
      }
      return Effect.flatMap(mapped, (part): Effect.Effect<Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>> => {
        const whole = Arr.append(head, part)
        const rest = parts.slice(index + 1)
        return Arr.isArrayNonEmpty(rest) ? Effect.map(mapChunk(rest, f), (tail) => Arr.appendAll(whole, tail)) : Effect.succeed(whole)
      })
    }
    if (out === undefined && mapped !== parts[index]) out = parts.slice(0, index)
    if (out !== undefined) out.push(mapped)
  }
  return Effect.succeed(out !== undefined && Arr.isArrayNonEmpty(out) ? out : parts)
}
