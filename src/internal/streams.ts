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
 * `fiber`, when given (an opening made inline by a stage made here, {@link openIn}): the fiber that
 * runs the effect returned next, in the context it has as the opening is made (the opening is made
 * in that fiber's step, right before it runs it). A layer's start can then run in the step that
 * makes it (no `withFiber` step of its own: {@link fromScope}, {@link withFiber}; issue 14, stop 30,
 * ADR 0057). Not given (a channel's transform, which effect's combinators may call before they set
 * the context it runs in, e.g. `Channel.provideService`): the start runs in a step of its own.
 *
 * @internal
 */
export type Open<A, E, R = never> = (
  upstream: Pull.Pull<unknown, unknown, unknown>,
  scope: Scope.Scope,
  fiber?: Fiber.Fiber<unknown, unknown> | undefined
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
  // (as a channel, opened with no fiber: effect's channel calls its transform with the pull and the
  // scope only, `Channel.fromTransform`; no closure per stream to drop a third argument)
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
 * channel's transform, given the stream's pull and scope. `fiber`: see {@link Open} (given only
 * to an opening made here).
 *
 * @internal
 */
export const openIn = <A, E, R = never>(
  made: Stream.Stream<A, E, R> | Stage<A, E>,
  upstream: Pull.Pull<unknown, unknown, unknown>,
  scope: Scope.Scope,
  fiber?: Fiber.Fiber<unknown, unknown> | undefined
): Effect.Effect<Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown, R>, E, R> =>
  made instanceof Stage
    ? made.open(upstream, scope, fiber)
    : isInline(made)
    ? made[opening](upstream, scope, fiber)
    : Channel.toTransform(Stream.toChannel(made))(upstream, scope)

// An opening whose failure is the first pull's (what a channel's transform does), then `f` of its
// pull: `f` of the opening's pull, or of a pull that fails with the failed opening's cause, so
// that the hooks `f` adds see it. In one frame (`Effect.matchCause`; it was a `catchCause` to a
// failing pull and a `map`, one step more; issue 14, stop 30), its handlers a class instance (see
// `Handlers`).
class CaughtThen<A, E, Q> {
  readonly onSuccess: (pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>) => Q
  constructor(onSuccess: (pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>) => Q) {
    this.onSuccess = onSuccess
  }
  onFailure(cause: Cause.Cause<E>): Q {
    return this.onSuccess(Effect.failCause(cause))
  }
}
const caughtThen = <A, E, Q>(
  opened: Effect.Effect<Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>, E>,
  f: (pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>) => Q
): Effect.Effect<Q> => Effect.matchCause(opened, new CaughtThen(f))


/**
 * The stream `f` makes from the fiber that starts it (`Stream.unwrap(Effect.withFiber(fiber =>
 * Effect.succeed(f(fiber))))`, without the cost per pull).
 *
 * @internal
 */
export const withFiber = <A, E>(f: (fiber: Fiber.Fiber<unknown, unknown>) => Stream.Stream<A, E>): Stream.Stream<A, E> =>
  fromOpen((upstream, scope, running) =>
    running !== undefined ? openIn(f(running), upstream, scope, running) : Effect.withFiber((fiber) => openIn(f(fiber), upstream, scope, fiber))
  )

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
  fromOpen<A, E | E2>((upstream, scope: Scope.Scope, running) => {
    // Given the fiber that runs the opening next (an inline opening, see `Open`): started in this
    // step, the step that makes it; else in a step of its own.
    const start = (fiber: Fiber.Fiber<unknown, unknown>) => {
      const made = f(scope, fiber)
      return made instanceof Stage || Stream.isStream(made)
        ? openIn<A, E | E2>(made, upstream, scope, fiber)
        : Effect.flatMap(made, (stream) => openIn<A, E | E2>(stream, upstream, scope, fiber))
    }
    return running !== undefined ? start(running) : Effect.withFiber(start)
  })

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
 * {@link addFinalizer}, and on a scope with no finalizer yet (a stream's, as its outermost layer
 * opens) in this step too: the layers' joined finalizer made the scope's only one as effect's
 * `Scope.addFinalizerExit` makes a first finalizer (`scopeAddFinalizerUnsafe`: the scope's state
 * set to `Open` with it), without its step of its own (a `suspend` and the step after it:
 * issue 14, stop 30, ADR 0057). `undefined` when added; else the effect that adds it.
 *
 * @internal
 */
export const addFinalizerNow = (scope: Scope.Scope, finalizer: Finalizer): Effect.Effect<void> | undefined => {
  if (scope.state._tag !== "Empty" || scope.strategy !== "sequential") return addFinalizer(scope, finalizer)
  const finalizers: Array<Finalizer> = [finalizer]
  const run: Joined = Object.assign((exit: Exit.Exit<unknown, unknown>) => runJoined(finalizers, finalizers.length - 1, exit), {
    [joinedKey]: finalizers
  })
  scope.state = new OpenWith(run)
  return undefined
}

// A scope's `Open` state with one finalizer (`Scope.State.Open`, as effect's `scopeAddFinalizerUnsafe`
// makes it for a first finalizer), as a class instance: it lives as long as the stream (see `Handlers`).
class OpenWith implements Scope.State.Open {
  readonly _tag = "Open"
  finalizerKey: {} | undefined = {}
  finalizer: ((exit: Exit.Exit<any, any>) => Effect.Effect<void>) | undefined
  finalizers: Map<{}, (exit: Exit.Exit<any, any>) => Effect.Effect<void>> | undefined = undefined
  constructor(finalizer: (exit: Exit.Exit<any, any>) => Effect.Effect<void>) {
    this.finalizer = finalizer
  }
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
): Stream.Stream<B, E2> => fromOpen((upstream, scope, fiber) => caughtThen(openIn(stream, upstream, scope, fiber), f))

/**
 * A layer's per-part work over the stream below it, for the one stage that runs every layer's
 * (ADR 0052): synchronous hooks, each returning an effect only when it has effectful work to do
 * (a commit to a store reached over the network, a log line, a wait before a retry). Each is
 * optional.
 *
 * - `before`: before each read of the stream below (outermost layer's first); a cause fails that
 *   read with it, without reading (the layers below this one do not see it).
 * - `chunk`: each chunk read (innermost layer's first): the chunk to pass on, or an effect that
 *   gives it (or fails: the layers above see the failure).
 * - `failure`: the stream below ended (`Cause.Done`) or failed (innermost layer's first): the cause
 *   to pass on, or an effect: when it fails, its failure is passed on; when it succeeds, the
 *   stream below this layer is read again (a retry that opened it anew, {@link replaceBelow}).
 * - `context`: the context this layer's pulls ran in: the read of the stream below runs in the
 *   innermost layer's context, and each hook's effect in its own layer's (or the nearest one above
 *   it; the consumer's when none). The hooks themselves run in the consumer's.
 *
 * A read that is interrupted runs no hook (as a `catchCause` handler would not run). The hooks
 * are called as methods of the object given (a layer's per-stream class instance can be its own
 * hooks: no closures per stream).
 *
 * @internal
 */
export interface Hooks<A, E> {
  readonly before?: (() => Cause.Cause<E> | undefined) | undefined
  readonly chunk?:
    | ((chunk: Arr.NonEmptyReadonlyArray<A>) => Arr.NonEmptyReadonlyArray<A> | Effect.Effect<Arr.NonEmptyReadonlyArray<A>, E | Cause.Done<unknown>>)
    | undefined
  readonly failure?:
    | ((cause: Cause.Cause<E | Cause.Done<unknown>>) => Cause.Cause<E | Cause.Done<unknown>> | Effect.Effect<void, E | Cause.Done<unknown>>)
    | undefined
  readonly context?: Context.Context<never> | undefined
}

type AnyChunk = Arr.NonEmptyReadonlyArray<unknown>
type AnyCause = Cause.Cause<unknown>
type AnyPull = Effect.Effect<AnyChunk, unknown>
interface AnyHooks {
  readonly before?: (() => AnyCause | undefined) | undefined
  readonly chunk?: ((chunk: AnyChunk) => AnyChunk | Effect.Effect<AnyChunk, unknown>) | undefined
  readonly failure?: ((cause: AnyCause) => AnyCause | Effect.Effect<void, unknown>) | undefined
  readonly context?: Context.Context<never> | undefined
}

// The pull of a fused stage keeps the stage under this key: a stage made here that gets it from
// the stream below adds its hooks to it instead of wrapping it.
const fusedKey: unique symbol = Symbol.for("llm-connect/Streams/fused")
interface Tagged {
  readonly [fusedKey]?: Fused
}

// The per-stream objects of the stage and of the layers' hooks are class instances or copies of
// an array, not object or array literals: V8 pretenures a literal's allocation site whose objects
// outlive a scavenge (as these, alive for a stream's whole run, do), and then every later one is
// born in the old generation, where, dead, it keeps the stream's young objects it points to (its
// closures, and through them the stage and the layers' per-stream state) alive through every
// scavenge until a full collection: they were promoted (issue 14, stop 29, "the promotion").
class Handlers {
  readonly onSuccess: (chunk: AnyChunk) => Effect.Effect<AnyChunk, unknown>
  readonly onFailure: (cause: AnyCause) => Effect.Effect<AnyChunk, unknown>
  constructor(
    onSuccess: (chunk: AnyChunk) => Effect.Effect<AnyChunk, unknown>,
    onFailure: (cause: AnyCause) => Effect.Effect<AnyChunk, unknown>
  ) {
    this.onSuccess = onSuccess
    this.onFailure = onFailure
  }
}

/**
 * A layer's hooks as one class instance (see {@link Hooks}), rather than an object literal: a
 * literal's allocation site that V8 pretenures keeps each stream's young objects alive until a
 * full collection (issue 14, stop 29).
 *
 * @internal
 */
export class HookSet<A, E> implements Hooks<A, E> {
  readonly chunk: Hooks<A, E>["chunk"]
  readonly failure: Hooks<A, E>["failure"]
  readonly context: Context.Context<never> | undefined
  readonly before: Hooks<A, E>["before"]
  constructor(
    chunk: Hooks<A, E>["chunk"],
    failure: Hooks<A, E>["failure"],
    context: Context.Context<never> | undefined,
    before?: Hooks<A, E>["before"]
  ) {
    this.chunk = chunk
    this.failure = failure
    this.context = context
    this.before = before
  }
}

const noHooks: Array<AnyHooks> = []
const noContexts: Array<Context.Context<never> | undefined> = []

// The one stage of the layers' hooks over a pull that is not theirs (the provider's, a reader's).
// Its pull: one step to start the read (the `before` hooks, the context of the read set), a match
// on the read's outcome, and the hooks run in a loop (no effect per layer per pull).
class Fused {
  base: AnyPull
  // Innermost first (the order the layers' stages open in).
  // (copied from an empty array, not a literal: see `Handlers`)
  readonly hooks: Array<AnyHooks> = noHooks.slice()
  readonly pull: AnyPull
  // The context each hook's effects run in (made again when the hooks change).
  private contexts: Array<Context.Context<never> | undefined> | undefined = undefined
  // The consumer's context and fiber, during a read switched to the innermost layer's context.
  private outer: Context.Context<never> | undefined = undefined
  private fiber: Fiber.Fiber<unknown, unknown> | undefined = undefined
  private readonly handlers: {
    readonly onSuccess: (chunk: AnyChunk) => Effect.Effect<AnyChunk, unknown>
    readonly onFailure: (cause: AnyCause) => Effect.Effect<AnyChunk, unknown>
  }
  private restore: (() => undefined) | undefined = undefined
  // The read of `base` and the match on its outcome, made once per base: in the consumer's
  // context, and switched to the innermost layer's (made when first needed).
  private matched: Effect.Effect<AnyChunk, unknown>
  private switched: Effect.Effect<AnyChunk, unknown> | undefined = undefined

  constructor(base: AnyPull) {
    this.base = base
    this.handlers = new Handlers(
      (chunk) => this.chunkFrom(chunk, 0),
      (cause) => this.failFrom(cause, 0)
    )
    this.matched = Effect.matchCauseEffect(base, this.handlers)
    const pull: AnyPull & { [fusedKey]?: Fused } = Effect.suspend(() => this.read(this.hooks.length))
    pull[fusedKey] = this
    this.pull = pull
  }

  add(hooks: AnyHooks): void {
    this.hooks.push(hooks)
    this.contexts = undefined
    if (hooks.context !== undefined) this.withContexts = true
  }

  // Whether a hook has a context (else no context is switched to, and none is kept per hook).
  private withContexts = false

  // A read from below the layer at `top`: the `before` hooks below it, then the read, in the
  // innermost layer's context.
  read(top: number): Effect.Effect<AnyChunk, unknown> {
    const hooks = this.hooks
    const fiber = Fiber.getCurrent()!
    const outer = fiber.context
    this.outer = outer
    for (let index = top - 1; index >= 0; index--) {
      const own = hooks[index]!
      if (own.before === undefined) continue
      const failed = own.before()
      if (failed !== undefined) return this.failFrom(failed, index + 1)
    }
    const inner = this.contextAt(0)
    if (inner === undefined || inner === outer) return this.matched
    // (put back as the read ends, interrupted or not, before any hook runs)
    this.fiber = fiber
    fiber.setContext(inner)
    this.restore ??= () => {
      const switched = this.fiber!
      this.fiber = undefined
      switched.setContext(this.outer!)
      return undefined
    }
    return this.switched ??= Effect.matchCauseEffect(Effect.onExitPrimitive(this.base, this.restore), this.handlers)
  }

  chunkFrom(chunk: AnyChunk, from: number): Effect.Effect<AnyChunk, unknown> {
    const hooks = this.hooks
    for (let index = from; index < hooks.length; index++) {
      const own = hooks[index]!
      if (own.chunk === undefined) continue
      const out = own.chunk(chunk)
      if (Effect.isEffect(out)) {
        const next = index + 1
        return Effect.matchCauseEffect(this.within(out, index), {
          onSuccess: (mapped) => this.chunkFrom(mapped, next),
          onFailure: (cause) => this.failFrom(cause, next)
        })
      }
      chunk = out
    }
    return Effect.succeed(chunk)
  }

  failFrom(cause: AnyCause, from: number): Effect.Effect<AnyChunk, unknown> {
    const hooks = this.hooks
    for (let index = from; index < hooks.length; index++) {
      const own = hooks[index]!
      if (own.failure === undefined) continue
      const out = own.failure(cause)
      if (Effect.isEffect(out)) {
        const next = index + 1
        return Effect.matchCauseEffect(this.within(out, index), {
          // Read again from below this layer (the stream below may have been replaced).
          onSuccess: () => this.read(this.hooks.indexOf(own)),
          onFailure: (failed) => this.failFrom(failed, next)
        })
      }
      cause = out
    }
    return Effect.failCause(cause)
  }

  /** Replaces what is below `hooks` (their layer's stage) with the pull of a stream opened anew. */
  replaceBelow(hooks: AnyHooks, pull: AnyPull): void {
    const level = this.hooks.indexOf(hooks)
    const fused = (pull as Tagged)[fusedKey]
    if (fused === undefined) {
      this.base = pull
      this.hooks.splice(0, level)
    } else {
      this.base = fused.base
      this.hooks.splice(0, level, ...fused.hooks)
      if (fused.withContexts) this.withContexts = true
    }
    this.contexts = undefined
    this.matched = Effect.matchCauseEffect(this.base, this.handlers)
    this.switched = undefined
  }

  // A hook's effect in its layer's context (the nearest one at or above it; the consumer's when none).
  private within<X>(effect: Effect.Effect<X, unknown>, index: number): Effect.Effect<X, unknown> {
    const context = this.contextAt(index)
    return context === undefined || context === this.outer ? effect : Effect.updateContext(effect, () => context)
  }

  private contextAt(index: number): Context.Context<never> | undefined {
    if (!this.withContexts) return undefined
    let contexts = this.contexts
    if (contexts === undefined) {
      contexts = noContexts.slice()
      let current: Context.Context<never> | undefined
      for (let at = this.hooks.length - 1; at >= 0; at--) {
        current = this.hooks[at]!.context ?? current
        contexts[at] = current
      }
      this.contexts = contexts
    }
    return contexts[index]
  }
}

const fusedOf = (pull: unknown): Fused | undefined => (pull as Tagged)[fusedKey]

/**
 * Adds a layer's hooks over the pull of the stream below it (in the step that opens its stage):
 * to that pull's fused stage when it has one (the pull is then passed on as it is), else to a
 * fused stage made over it. The layers of a streamed call then run one stage per pull, not one
 * each.
 *
 * @internal
 */
export const attach = <A, E, E2 = E, R = never>(
  pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown, R>,
  hooks: Hooks<A, E | E2>
): Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E | E2, unknown, R> => {
  // (the stage's types are the layers' own: one stage holds hooks of several error types)
  const fused = fusedOf(pull) ?? new Fused(pull as AnyPull)
  fused.add(hooks as AnyHooks)
  return fused.pull as Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E | E2, unknown, R>
}

/**
 * A stage of hooks over a stream: `make` gives the hooks for each run of the stream, in the step
 * that opens it, once the stream below has opened; given a `context`, the opening of the stream
 * below runs in it. With `catchOpening`, a failed opening of the stream below is the first pull's
 * failure (what a `Channel.fromTransform` channel does: the hooks then see it).
 *
 * @internal
 */
export const hookedStage = <A, E, E2 = E>(
  stream: Stream.Stream<A, E> | Stage<A, E>,
  make: Hooks<A, E | E2> | ((pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>) => Hooks<A, E | E2>),
  options?: { readonly context?: Context.Context<never> | undefined; readonly catchOpening?: boolean | undefined }
): Stage<A, E | E2> => {
  const context = options?.context
  const catchOpening = options?.catchOpening === true
  // (hooks given as they are, for a stage made per stream: no function to make them)
  const attached = typeof make === "function"
    ? (pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>) => attach<A, E, E2>(pull, make(pull))
    : (pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>) => attach<A, E, E2>(pull, make)
  return new Stage<A, E | E2>((upstream, scope, fiber) => {
    let opened: Effect.Effect<Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>, E>
    if (context === undefined) opened = openIn(stream, upstream, scope, fiber)
    else {
      // The opening below made in the context it runs in (see `Open`): the fiber's, set around it
      // with no step, when the fiber is known; else made as it runs.
      if (fiber === undefined || fiber.context === context) opened = openIn(stream, upstream, scope, fiber)
      else {
        const previous = fiber.context
        fiber.setContext(context)
        try {
          opened = openIn(stream, upstream, scope, fiber)
        } finally {
          fiber.setContext(previous)
        }
      }
      opened = Effect.updateContext(opened, () => context)
    }
    return catchOpening ? caughtThen(opened, attached) : Effect.map(opened, attached)
  })
}

/**
 * {@link hookedStage}'s stream.
 *
 * @internal
 */
export const hooked = <A, E, E2 = E>(
  stream: Stream.Stream<A, E> | Stage<A, E>,
  make: Hooks<A, E | E2> | ((pull: Pull.Pull<Arr.NonEmptyReadonlyArray<A>, E, unknown>) => Hooks<A, E | E2>),
  options?: { readonly context?: Context.Context<never> | undefined; readonly catchOpening?: boolean | undefined }
): Stream.Stream<A, E | E2> => fromStage(hookedStage(stream, make, options))

/**
 * Shows each part of a stream to `onPart` (synchronously, a chunk at a time, the chunk passed on
 * as it came) and runs `onDone` when the stream has ended by itself, before its end reaches the
 * consumer (uninterruptibly, as a finalizer would). `Stream.map` + `Stream.onExit` for a
 * stream's success, as hooks of the layers' one stage ({@link attach}). Given a `context`, the
 * stream's start and each of its reads run in it, as with {@link inContext}; `onDone` is called
 * in it too.
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
  const chunk = (parts: Arr.NonEmptyReadonlyArray<A>): Arr.NonEmptyReadonlyArray<A> => {
    for (let index = 0; index < parts.length; index++) onPart(parts[index]!)
    return parts
  }
  // (`onDone` called in the context, set around it with no step, when it is not the fiber's)
  const done = context === undefined ? onDone : (): Effect.Effect<void> | undefined => {
    const fiber = Fiber.getCurrent()
    const previous = fiber?.context
    if (fiber === undefined || previous === context) return onDone()
    fiber.setContext(context)
    try {
      return onDone()
    } finally {
      fiber.setContext(previous!)
    }
  }
  const failure = (cause: Cause.Cause<E | Cause.Done<unknown>>): Cause.Cause<E | Cause.Done<unknown>> | Effect.Effect<never, E | Cause.Done<unknown>> => {
    if (!Pull.isDoneCause(cause)) return cause
    const last = done()
    return last === undefined ? cause : Effect.andThen(Effect.uninterruptible(last), Effect.failCause(cause))
  }
  return hookedStage(stream, new HookSet(chunk, failure, context), { context })
}

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
 * Its hooks join the layers' one stage ({@link attach}): a run opened anew replaces the hooks of
 * the failed run's layers there ({@link Fused}'s `replaceBelow`).
 *
 * @internal
 */
export const retryBeforeFirstStage = <A, E, E2>(
  make: () => Stream.Stream<A, E>,
  again: (error: E) => Effect.Effect<unknown, E2> | undefined
): Stage<A, E | E2> =>
  new Stage((upstream, scope, fiber) => {
    // Each run's scope: a child of the stream's, or, when the stream's scope has only the layers'
    // joined finalizer, a scope of its own that a finalizer joined there closes (the current run:
    // a failed one was closed before the next was made), so that the stream's scope still has one.
    const joined = joinedFinalizers(scope)
    const makeRun = joined === undefined ? () => Scope.forkUnsafe(scope) : () => Scope.makeUnsafe()
    let run = makeRun()
    if (joined !== undefined) joined.push((exit) => Scope.closeUnsafe(run, exit))
    // Whether a part went out: from then on, failures pass.
    let seen = false
    let fused: Fused | undefined
    const hooks: Hooks<A, E | E2> = new HookSet<A, E | E2>(
      (chunk) => {
        seen = true
        return chunk
      },
      (cause) => {
        if (seen || Pull.isDoneCause(cause) || Cause.hasDies(cause)) return cause
        const error = Cause.findErrorOption(cause)
        if (error._tag === "None" || Cause.isDone(error.value)) return cause
        const wait = again(error.value as E)
        if (wait === undefined) return cause
        const failed = run
        run = makeRun()
        return Effect.andThen(
          Effect.andThen(Scope.close(failed, Exit.failCause(cause)), wait),
          Effect.suspend(() =>
            caughtThen(openIn(make(), upstream, run), (pull) => {
              fused!.replaceBelow(hooks as AnyHooks, pull)
            })
          )
        )
      },
      undefined
    )
    return caughtThen(openIn(make(), upstream, run, fiber), (pull) => {
      const own = attach<A, E, E2>(pull, hooks)
      fused = fusedOf(own)
      return own
    })
  })

/**
 * Runs a stream, its start and each of its pulls, in `context`: a context made once, from the
 * context the stream starts in, with the services it adds (a hook of the layers' one stage with
 * only a context). (`Stream.provideContext` and `Stream.provideService` copy the context on every
 * pull, one copy per service.)
 *
 * @internal
 */
export const inContext = <A, E>(stream: Stream.Stream<A, E>, context: Context.Context<never>): Stream.Stream<A, E> => {
  return hooked(stream, new HookSet<A, E>(undefined, undefined, context), { context })
}

/**
 * Maps each chunk of a stream, synchronously or with an effect (`f` returns the chunk, or an
 * effect that gives it), as a hook of the layers' one stage; given a `context`, the stream's
 * start and each of its pulls run in it, as with {@link inContext}.
 *
 * @internal
 */
export const mapChunks = <A, E>(
  stream: Stream.Stream<A, E>,
  f: (chunk: Arr.NonEmptyReadonlyArray<A>) => Arr.NonEmptyReadonlyArray<A> | Effect.Effect<Arr.NonEmptyReadonlyArray<A>, E>,
  context?: Context.Context<never> | undefined
): Stream.Stream<A, E> => fromStage(mapChunksStage(stream, f, context))

/**
 * {@link mapChunks} as a {@link Stage}, for a layer that returns it from {@link fromScope}.
 *
 * @internal
 */
export const mapChunksStage = <A, E>(
  stream: Stream.Stream<A, E>,
  f: (chunk: Arr.NonEmptyReadonlyArray<A>) => Arr.NonEmptyReadonlyArray<A> | Effect.Effect<Arr.NonEmptyReadonlyArray<A>, E>,
  context?: Context.Context<never> | undefined
): Stage<A, E> => {
  return hookedStage(stream, new HookSet(f, undefined, context), { context })
}

/**
 * Maps the parts of a stream synchronously, a chunk at a time, the chunk kept as it came when no
 * part changed (`Stream.map` makes a new array for every chunk).
 *
 * @internal
 */
export const mapParts = <A, E>(stream: Stream.Stream<A, E>, f: (part: A) => A): Stream.Stream<A, E> => {
  return hooked<A, E>(stream, new HookSet<A, E>(
    (chunk): Arr.NonEmptyReadonlyArray<A> => {
      let out: Array<A> | undefined
      for (let index = 0; index < chunk.length; index++) {
        const part = chunk[index]!
        const mapped = f(part)
        if (out === undefined && mapped !== part) out = chunk.slice(0, index)
        if (out !== undefined) out.push(mapped)
      }
      return out !== undefined && Arr.isArrayNonEmpty(out) ? out : chunk
    },
    undefined,
    undefined
  ))
}

/**
 * Maps the parts of one chunk in order, synchronously until a part needs an effect (a finish
 * part that settles something): the chunk (kept whole when no part changed), or an effect that
 * gives it when a part needed one. A hook's `chunk` ({@link Hooks}) for a layer that maps parts.
 *
 * @internal
 */
export const mapChunkNow = <E = never>(
  parts: Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>,
  f: (part: StreamPart.StreamPart) => StreamPart.StreamPart | Effect.Effect<StreamPart.StreamPart, E>
): Arr.NonEmptyReadonlyArray<StreamPart.StreamPart> | Effect.Effect<Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>, E> => {
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
      return Effect.flatMap(mapped, (part): Effect.Effect<Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>, E> => {
        const whole = Arr.append(head, part)
        const rest = parts.slice(index + 1)
        if (!Arr.isArrayNonEmpty(rest)) return Effect.succeed(whole)
        const tail = mapChunkNow(rest, f)
        return Effect.isEffect(tail) ? Effect.map(tail, (more) => Arr.appendAll(whole, more)) : Effect.succeed(Arr.appendAll(whole, tail))
      })
    }
    if (out === undefined && mapped !== parts[index]) out = parts.slice(0, index)
    if (out !== undefined) out.push(mapped)
  }
  return out !== undefined && Arr.isArrayNonEmpty(out) ? out : parts
}

/**
 * {@link mapChunkNow}, always as an effect (for `Stream.mapArrayEffect`: one step per chunk
 * instead of one per part, as `Stream.mapEffect` and `Stream.tap` split every chunk into single
 * parts).
 *
 * @internal
 */
export const mapChunk = <E = never>(
  parts: Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>,
  f: (part: StreamPart.StreamPart) => StreamPart.StreamPart | Effect.Effect<StreamPart.StreamPart, E>
): Effect.Effect<Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>, E> => {
  const mapped = mapChunkNow(parts, f)
  return Effect.isEffect(mapped) ? mapped : Effect.succeed(mapped)
}
