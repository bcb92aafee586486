/**
 * Deadlines on shared timers: one fiber per clock and timeout sleeps until the earliest deadline
 * still open, so that bounding a call costs no timer and no fiber of its own for its timeout.
 * `Timeout` (attempts, streams) and the providers' HTTP calls use it.
 *
 * @internal
 */
import { Clock, type Context, Duration, Effect, type Exit, Fiber } from "effect"

// How long the shared timer outlives its last open attempt: calls made one after another (each in
// a fiber of its own, with event-loop turns between them) keep one timer, and a process that is
// done exits at most twice this much later (a check that saw a deadline added checks again).
const STOP_AFTER_MS = 10
const afterIdle = (f: () => void): void => {
  const handle: unknown = globalThis.setTimeout(f, STOP_AFTER_MS)
  // Node: the check itself never keeps the process alive.
  if (typeof handle === "object" && handle !== null && "unref" in handle && typeof handle.unref === "function") handle.unref()
}

/**
 * Bounds an effect the way `Timeout.attempt` does (a fiber of its own, its deadline on the shared
 * timer of its clock and timeout, interrupted at the deadline and awaited), failing with
 * `onTimeout(elapsedMs)` once it has stopped. Cheaper than `Effect.timeoutOrElse` (no fiber per
 * race and no timer per call): the providers bound their HTTP calls with it.
 *
 * With `encloses` (the attempt timeout), the fiber it starts is known as bounded: an effect
 * bounded inside it (a provider's own request timeout) whose deadline is no earlier than this
 * one's runs in that fiber, with no fiber and no deadline of its own. It could never fire first:
 * this bound interrupts the fiber (aborting the request, as that bound's interruption would) at
 * its own earlier deadline, and its own error is the one reported, as before (ADR 0050).
 *
 * @internal
 */
export const bounded = <A, E, R, E2 = E>(
  effect: Effect.Effect<A, E, R>,
  timeoutMs: number,
  onTimeout: (elapsedMs: number) => E2,
  options?: { readonly encloses?: boolean | undefined }
): Effect.Effect<A, E | E2, R> =>
  // The registration runs in the caller's step (its fiber is the current one): no step of its own
  // to read the fiber first. The child is started inside the registration, so nothing runs between
  // its start and the wait that interrupts it when the caller is interrupted: it needs no place
  // among the caller's children (no effect steps, no set of children to join and leave).
  Effect.callback<A, E | E2, R>((resume) => {
    const parent = Fiber.getCurrent()!
    const clock = parent.getRef(Clock.Clock)
    const started = clock.currentTimeMillisUnsafe()
    // Inside an enclosing bound that interrupts this fiber no later than this one would: the
    // effect runs here, resumed in this step (no fiber, no deadline, no suspension).
    const enclosing = enclosingBounds.get(parent)
    if (enclosing !== undefined && enclosing.covers(clock, started + timeoutMs)) return resume(effect)
    const bound = new Bound(started + timeoutMs, started, parent.id, clock, onTimeout, resume)
    const child = Effect.runForkWith(parent.context as Context.Context<R>)(options?.encloses === true ? bound.enclosing(effect) : effect)
    const answered = child.pollUnsafe()
    if (answered !== undefined) return resume(answered)
    bound.child = child
    wheelOf(clock, timeoutMs, parent.context).enter(bound)
    // (closures passed as arguments, not kept in properties: what V8 may pretenure, as effect notes)
    child.addObserver((exit) => bound.exited(exit))
    // The caller interrupted: the effect stops and is awaited.
    return Effect.suspend(() => bound.cancelled())
  })

// The fibers started by an enclosing bound (the attempt timeout's), while they run: the bound that
// interrupts each at its deadline. A `WeakMap`: a fiber that has ended is dropped with it.
const enclosingBounds = new WeakMap<Fiber.Fiber<unknown, unknown>, Enclosing>()

interface Enclosing {
  readonly covers: (clock: Clock.Clock, at: number) => boolean
}

// One bounded effect, its deadline in the queue: the deadline entry itself and what expiring it
// interrupts (no closure of its own for the timer). A class instance, not an object literal (see
// `Entry`). What it holds is dropped when it leaves the queue (a closed entry may wait in the queue
// behind open ones for up to ~1,000 calls; it then holds no fiber).
class Bound<A, E, E2, R> implements Deadline, Enclosing {
  readonly at: number
  open = true
  expire: (() => void) | undefined = undefined
  timedOut = false
  private readonly started: number
  child: Fiber.Fiber<A, E> | undefined = undefined
  private readonly parentId: number
  private readonly clock: Clock.Clock
  private onTimeout: ((elapsedMs: number) => E2) | undefined
  private resume: ((effect: Effect.Effect<A, E | E2, R>) => void) | undefined
  wheel: Wheel | undefined = undefined
  constructor(
    at: number,
    started: number,
    parentId: number,
    clock: Clock.Clock,
    onTimeout: (elapsedMs: number) => E2,
    resume: (effect: Effect.Effect<A, E | E2, R>) => void
  ) {
    this.at = at
    this.started = started
    this.parentId = parentId
    this.clock = clock
    this.onTimeout = onTimeout
    this.resume = resume
  }

  // The effect as the child runs it: its fiber known as bounded by this (see `covers`), from its
  // first step (the child starts at once, so an effect bounded inside it may run before `bounded`
  // has the child).
  enclosing<R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.withFiber((fiber) => {
      enclosingBounds.set(fiber, this)
      return effect
    })
  }

  // Whether this bound, still running, interrupts its fiber no later than a deadline `at` of
  // `clock`: an effect bounded by that deadline in this fiber needs no bound of its own.
  covers(clock: Clock.Clock, at: number): boolean {
    return this.open && !this.timedOut && this.clock === clock && this.at <= at
  }

  // The deadline passed: the attempt is interrupted (and reported by `exited` once it has stopped).
  fire(): void {
    this.timedOut = true
    this.child?.interruptUnsafe(this.parentId)
  }

  // Leaves the queue and drops what the attempt held.
  drop(): void {
    this.wheel?.leave(this)
    this.child = undefined
    this.onTimeout = undefined
    this.resume = undefined
  }

  // The effect ended (by itself, or interrupted at the deadline).
  exited(exit: Exit.Exit<A, E>): void {
    const resume = this.resume
    const onTimeout = this.onTimeout
    this.drop()
    if (resume === undefined) return
    if (!this.timedOut) return resume(exit)
    resume(Effect.fail(onTimeout!(this.clock.currentTimeMillisUnsafe() - this.started)))
  }

  // The caller was interrupted: the effect is interrupted and awaited.
  cancelled(): Effect.Effect<void> {
    const child = this.child
    this.drop()
    return child === undefined ? Effect.void : Fiber.interrupt(child)
  }
}

// The shared timer of the attempt timeouts of one clock and one timeout. Deadlines are queued in
// the order they were added, which is their order in time (the same timeout after a clock that
// never goes back), so the timer only ever sleeps until the first deadline still open.
export interface Deadline {
  readonly at: number
  open: boolean
  // Dropped once the attempt has ended, so that the queue holds no finished fiber.
  expire: (() => void) | undefined
  // Called at the deadline instead of `expire`, by an entry that is its own callback (`bounded`'s).
  fire?: (() => void) | undefined
}

// A deadline made by a constructor, not an object literal: V8 tracks an object literal's
// allocation site and, when most of its objects outlive a young-generation collection (these wait
// in the queue for up to ~1,000 calls), allocates that site's objects in the old generation from
// then on. An old deadline then holds its young `expire` closure, and through it the attempt's
// fiber, its context and everything the call made, until a full collection: every call's objects
// were promoted, and GC took 2-4x the CPU (`node --trace-gc-nvp`; none of it with
// `--no-allocation-site-pretenuring`). A class instance has no allocation site.
class Entry implements Deadline {
  readonly at: number
  open = true
  expire: (() => void) | undefined
  constructor(at: number, expire: () => void) {
    this.at = at
    this.expire = expire
  }
}

export class Wheel {
  private queue: Array<Deadline> = []
  private head = 0
  private open = 0
  private sleeper: Fiber.Fiber<void> | undefined
  // While the timer sleeps with no deadline open (waiting for the stop check): when it wakes.
  private idleUntil: number | undefined = undefined
  private stopCheck = false
  // Deadlines added so far (the stop check stops a timer only after a check with none added).
  private added = 0
  private readonly clock: Clock.Clock
  private readonly context: Context.Context<never>
  private readonly timeoutMs: number
  constructor(clock: Clock.Clock, context: Context.Context<never>, timeoutMs: number) {
    this.clock = clock
    this.context = context
    this.timeoutMs = timeoutMs
  }

  add(at: number, expire: () => void): Deadline {
    const deadline = new Entry(at, expire)
    this.push(deadline)
    return deadline
  }

  // Queues an entry made by its owner (one that fires itself: no closure per deadline).
  enter(deadline: Deadline & { wheel: Wheel | undefined }): void {
    deadline.wheel = this
    this.push(deadline)
  }

  private push(deadline: Deadline): void {
    this.queue.push(deadline)
    this.open++
    this.added++
    // The loop starts on the next scheduler turn, never inside `add`: run at once, a loop whose
    // first deadline had already passed (an attempt that took longer than its timeout to start,
    // as on a loaded machine) ran to its end and cleared `sleeper` before `sleeper` was set, so
    // the finished fiber stayed the timer and no deadline of this wheel ever expired again.
    if (this.sleeper === undefined) this.start()
    else if (this.idleUntil !== undefined && deadline.at < this.idleUntil) {
      // The timer sleeps past this deadline (one measured from before its start): a new one.
      const sleeper = this.sleeper
      this.idleUntil = undefined
      sleeper.interruptUnsafe()
      this.start()
    }
  }

  private start(): void {
    this.sleeper = Effect.runForkWith(this.context)(Effect.andThen(Effect.yieldNow, this.loop()))
  }

  leave(deadline: Deadline): void {
    if (!deadline.open) return
    deadline.open = false
    deadline.expire = undefined
    this.open--
    this.dropClosed()
    if (this.open === 0 && !this.stopCheck) this.armStopCheck()
  }

  // Stops the timer if nothing is open by then and nothing was added since this check was armed
  // (a loop of calls adds its next one first; a stream whose waits open and close within a turn
  // adds them between checks): else checks again as long as deadlines keep coming.
  private armStopCheck(): void {
    this.stopCheck = true
    const added = this.added
    afterIdle(() => {
      this.stopCheck = false
      if (this.open > 0 || this.sleeper === undefined) return
      if (this.added !== added) return this.armStopCheck()
      const sleeper = this.sleeper
      this.sleeper = undefined
      this.idleUntil = undefined
      this.queue = []
      this.head = 0
      sleeper.interruptUnsafe()
    })
  }

  // Drops the closed deadlines at the head of the queue (the queue holds open deadlines and the
  // closed ones behind them only).
  private dropClosed(): void {
    const queue = this.queue
    while (this.head < queue.length && !queue[this.head]!.open) this.head++
    if (this.head > 1_024 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head)
      this.head = 0
    }
  }

  private loop(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.idleUntil = undefined
      const now = this.clock.currentTimeMillisUnsafe()
      const queue = this.queue
      while (this.head < queue.length) {
        const first = queue[this.head]!
        if (first.open && first.at > now) break
        this.head++
        if (!first.open) continue
        const expire = first.expire
        first.open = false
        first.expire = undefined
        this.open--
        if (first.fire !== undefined) first.fire()
        else expire?.()
      }
      this.dropClosed()
      if (this.head === this.queue.length) {
        this.queue = []
        this.head = 0
        if (!this.stopCheck) {
          this.sleeper = undefined
          return Effect.void
        }
        // No deadline open, and the stop check (armed when the last one closed) is pending: the
        // timer sleeps on until it (and does not end, to be started again by the next deadline:
        // a stream whose waits all open and close within one turn, as when every part of a
        // response arrives in one read, then costs no fiber and no scheduler turn of the timer's).
        // Each deadline added from now on is at least `timeoutMs` away (one measured from earlier
        // starts the timer anew, see `push`), so waking at `now + timeoutMs` misses none.
        this.idleUntil = now + this.timeoutMs
        return Effect.andThen(this.clock.sleep(Duration.millis(this.timeoutMs)), this.loop())
      }
      return Effect.andThen(this.clock.sleep(Duration.millis(this.queue[this.head]!.at - now)), this.loop())
    })
  }
}

const wheels = new WeakMap<Clock.Clock, Map<number, Wheel>>()
export const wheelOf = (clock: Clock.Clock, timeoutMs: number, context: Context.Context<never>): Wheel => {
  let byTimeout = wheels.get(clock)
  if (byTimeout === undefined) wheels.set(clock, byTimeout = new Map())
  let wheel = byTimeout.get(timeoutMs)
  if (wheel === undefined) {
    wheel = new Wheel(clock, context, timeoutMs)
    if (byTimeout.size < 64) byTimeout.set(timeoutMs, wheel)
  }
  return wheel
}

/**
 * A waiter for an abort handle: a stream's timeouts offer one for the scope they open the stream
 * below in ({@link offerAbort}); a provider that can abort its own pending read (the SSE adapters'
 * streamed request) registers its handle for that scope as it opens ({@link registerAbort}). With
 * a handle, the timeouts need no reader fiber: when a wait runs out they abort the request, and
 * the pending read fails instead of having to be abandoned (ADR 0045).
 *
 * @internal
 */
export interface AbortSlot {
  /** Called once, as the provider opens, before its request is sent. */
  readonly register: (abort: () => void) => void
  /** Called when the provider's request is over (its stream's scope closed): nothing left to abort. */
  readonly release: () => void
}

// The slot offered for a stream's scope: the scope is the one object that the layers between the
// timeouts and the provider hand down unchanged (each stage opens the one below in the stream's
// scope), so the slot needs no service in the context (no context copy per call).
const abortSlots = new WeakMap<object, AbortSlot>()

/**
 * Offers `slot` to the provider opened in `scope`, until it is taken or withdrawn.
 *
 * @internal
 */
export const offerAbort = (scope: object, slot: AbortSlot): void => {
  abortSlots.set(scope, slot)
}

/**
 * Withdraws the slot offered for `scope`, if it is still there (the stream below has opened).
 *
 * @internal
 */
export const withdrawAbort = (scope: object): void => {
  abortSlots.delete(scope)
}

/**
 * Registers `abort` with the slot offered for `scope`, if any (taking it: one provider per slot);
 * returns the slot, whose `release` the provider calls when its request is over.
 *
 * @internal
 */
export const registerAbort = (scope: object, abort: () => void): AbortSlot | undefined => {
  const slot = abortSlots.get(scope)
  if (slot === undefined) return undefined
  abortSlots.delete(scope)
  slot.register(abort)
  return slot
}
