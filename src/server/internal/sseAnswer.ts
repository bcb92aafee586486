// A streamed answer's body, shared by the OpenAI- and Anthropic-compatible doors (issue 16, stop 31):
// the model's parts pulled as they come, the parts of each pull written as one piece of text, one
// Uint8Array (one `write` per pull, not one per event), the head with the first parts, the tail
// ([DONE]) or a failure's event with the pull that finds the end. The bytes on the wire are the events the doors wrote one by
// one before (ADR 0066).
import { type Array as Arr, Cause, Effect, type Pull, Stream } from "effect"

type Parts<P> = Arr.NonEmptyReadonlyArray<P>

/** How a door writes its events (each a complete `data: ...\n\n` text, or several). */
export interface Encoder<P, E> {
  /** The events sent before the first part (with it, in the same write). */
  readonly head: string
  /** The events of one pull's parts ("" when they give none). */
  readonly parts: (parts: Parts<P>) => string
  /** The event of a failure after the stream started (the last before the tail). */
  readonly failure: (error: E) => string
  /** The events after the last part or the failure ("" when none). */
  readonly tail: string
}

const encoder = new TextEncoder()

/** What the first pull gave: parts, the end of the stream, or a failure. */
export type First<P, E> =
  | { readonly _tag: "Parts"; readonly parts: Parts<P> }
  | { readonly _tag: "End" }
  | { readonly _tag: "Failure"; readonly error: E }

/**
 * The first pull of `pull`, its outcome as a value (a defect or an interruption stays one), and
 * `onParts` run on the parts first (the usage noted on the finish part).
 */
export const first = <P, E>(
  pull: Pull.Pull<Parts<P>, E, void>,
  onParts: (parts: Parts<P>) => Effect.Effect<void> | undefined
): Effect.Effect<First<P, E>> =>
  Effect.matchEffect(pull, {
    onSuccess: (parts): Effect.Effect<First<P, E>> => {
      const noted = onParts(parts)
      const value: First<P, E> = { _tag: "Parts", parts }
      return noted === undefined ? Effect.succeed(value) : Effect.as(noted, value)
    },
    onFailure: (error): Effect.Effect<First<P, E>> =>
      Effect.succeed(Cause.isDone(error) ? { _tag: "End" } : { _tag: "Failure", error })
  })

/**
 * The body: the head and what `first` gave, then one Uint8Array per pull that gives events, then
 * the tail; a failure mid-stream is its event and the tail. `onParts` as in {@link first}.
 */
export const body = <P, E>(
  pull: Pull.Pull<Parts<P>, E, void>,
  start: First<P, E>,
  encode: Encoder<P, E>,
  onParts: (parts: Parts<P>) => Effect.Effect<void> | undefined
): Stream.Stream<Uint8Array> => {
  let ended = false
  const last = (text: string): Pull.Pull<Parts<Uint8Array>, never, void> => {
    ended = true
    const all = text + encode.tail
    return all === "" ? Cause.done() : Effect.succeed([encoder.encode(all)])
  }
  const next = (): Pull.Pull<Parts<Uint8Array>, never, void> => {
    if (ended) return Cause.done()
    return Effect.matchEffect(pull, {
      onSuccess: (parts) => {
        const text = encode.parts(parts)
        const noted = onParts(parts)
        const out = text === "" ? undefined : Effect.succeed<Parts<Uint8Array>>([encoder.encode(text)])
        if (noted === undefined) return out ?? next()
        return Effect.flatMap(noted, () => out ?? next())
      },
      onFailure: (error) => last(Cause.isDone(error) ? "" : encode.failure(error))
    })
  }
  const opening = (): Pull.Pull<Parts<Uint8Array>, never, void> => {
    if (start._tag === "End") return last(encode.head)
    if (start._tag === "Failure") return last(encode.head + encode.failure(start.error))
    return Effect.succeed([encoder.encode(encode.head + encode.parts(start.parts))])
  }
  let opened = false
  return Stream.fromPull(Effect.succeed(Effect.suspend(() => {
    if (opened) return next()
    opened = true
    return opening()
  })))
}

const noNote = () => undefined

/** A stream's whole SSE body through `encode`, nothing noted (the doors' `sseBody`). */
export const ofStream = <P, E>(parts: Stream.Stream<P, E>, encode: Encoder<P, E>): Stream.Stream<Uint8Array> =>
  Stream.unwrap(
    Effect.flatMap(Stream.toPull(parts), (pull) =>
      Effect.map(first(pull, noNote), (start) => body(pull, start, encode, noNote)))
  )
