/**
 * Reads what `claude -p --output-format stream-json --verbose --include-partial-messages`
 * prints: JSON Lines, one event per line, as the run goes.
 *
 * - `stream_event` lines carry the Anthropic API's stream events as the CLI receives them; a
 *   `content_block_delta` with a `text_delta` (of the main conversation, not a sub-agent's:
 *   `parent_tool_use_id` null) emits a `text-delta` part at once;
 * - `assistant` lines repeat each message whole, each with the same usage: they are not read
 *   (summing them would count the usage several times);
 * - the `result` line, last, holds the answer, the usage and `total_cost_usd` of the whole run:
 *   the response is built from it, as `generate` builds it from `--output-format json`;
 * - `system` lines and any other type are ignored; a line that is not JSON is skipped and
 *   counted (it fails the run only if no result follows).
 *
 * Bytes are decoded as UTF-8 across chunk boundaries and split at line ends; the line being read
 * is held until its end. Nothing is unbounded: the whole output is capped at `maxResponseBytes`
 * (a line can be as long as the whole answer: the result line holds it), and past the cap the
 * reader reports `OutputTooLarge`. Reading stops at the result line. The reader is a small
 * mutable state machine, made fresh for each run and used by one fiber only (the pull loop of
 * {@link parts}, which turns a run's stdout into stream parts): no effect step per line.
 *
 * @since 0.1.0
 * @internal
 */
import { Array as Arr, Cause, Effect, Pull, type Result, Stream } from "effect"
import type * as LlmError from "../../../LlmError.ts"
import * as StreamPart from "../../../StreamPart.ts"
import * as ClaudeCodeSchema from "./ClaudeCodeSchema.ts"
import type * as Errors from "./errors.ts"

/**
 * The state of one run's output.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reader {
  /** Reads a chunk of stdout; returns the failure to end with once past the cap. */
  readonly feed: (chunk: Uint8Array) => Errors.Failure | undefined
  /** Reads the last line when stdout ends without a line end. */
  readonly end: () => void
  /** The parts produced since the last call (the array is handed over). */
  readonly take: () => Array<StreamPart.StreamPart>
  /** Whether the result line was read (reading stops there). */
  readonly done: () => boolean
  /** The result, or why the result line could not be read; `undefined` before it. */
  readonly result: () => Result.Result<ClaudeCodeSchema.ClaudeCodeResult, string> | undefined
  /** The text sent as deltas so far. */
  readonly streamed: () => string
  /** How many lines were not JSON. */
  readonly unreadable: () => number
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null

/** The text of a `stream_event` line's `text_delta`, if it is one of the main conversation. */
const textDelta = (line: Record<string, unknown>): string | undefined => {
  if (line.parent_tool_use_id != null) return undefined
  const event = line.event
  if (!isObject(event) || event.type !== "content_block_delta") return undefined
  const delta = event.delta
  if (!isObject(delta) || delta.type !== "text_delta" || typeof delta.text !== "string") return undefined
  return delta.text
}

/**
 * Makes the reader of one run.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (maxBytes: number): Reader => {
  const decoder = new TextDecoder()
  let partial = ""
  let size = 0
  let pending: Array<StreamPart.StreamPart> = []
  let streamed = ""
  let unreadable = 0
  let result: Result.Result<ClaudeCodeSchema.ClaudeCodeResult, string> | undefined

  const onLine = (text: string) => {
    if (result !== undefined) return
    const trimmed = text.trim()
    if (trimmed === "") return
    let line: unknown
    try {
      line = JSON.parse(trimmed)
    } catch {
      unreadable++
      return
    }
    if (!isObject(line)) {
      unreadable++
      return
    }
    if (line.type === "stream_event") {
      const delta = textDelta(line)
      if (delta !== undefined && delta !== "") {
        streamed += delta
        pending.push(StreamPart.textDelta(delta))
      }
    } else if (line.type === "result") {
      result = ClaudeCodeSchema.readResult(line)
    }
  }

  const onText = (text: string) => {
    let newline = text.indexOf("\n")
    if (newline === -1) {
      partial += text
      return
    }
    onLine(partial + text.slice(0, newline))
    let start = newline + 1
    while ((newline = text.indexOf("\n", start)) !== -1) {
      onLine(text.slice(start, newline))
      start = newline + 1
    }
    partial = text.slice(start)
  }

  return {
    feed: (chunk) => {
      if (result !== undefined) return undefined
      size += chunk.length
      if (size > maxBytes) return { _tag: "OutputTooLarge", maxBytes }
      onText(decoder.decode(chunk, { stream: true }))
      return undefined
    },
    end: () => {
      const rest = partial + decoder.decode()
      partial = ""
      onLine(rest)
    },
    take: () => {
      const out = pending
      if (out.length > 0) pending = []
      return out
    },
    done: () => result !== undefined,
    result: () => result,
    streamed: () => streamed,
    unreadable: () => unreadable
  }
}

type PartsPull = Pull.Pull<Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>, LlmError.LlmError, void>

/**
 * The parts of one streamed run: stdout through a fresh reader (text deltas as their lines
 * arrive), until the result line or the end of stdout; then `complete` (the exit status, the rest
 * of the answer, the finish part or the error), given `rest`, which reads what stdout still
 * holds and drops it. Past the output cap the stream fails (and closing it stops the CLI).
 *
 * @since 0.1.0
 * @category constructors
 */
export const parts = (
  stdout: Stream.Stream<Uint8Array, unknown>,
  maxResponseBytes: number,
  complete: (
    reader: Reader,
    rest: Effect.Effect<void>
  ) => Effect.Effect<Arr.NonEmptyReadonlyArray<StreamPart.StreamPart>, LlmError.LlmError>,
  fail: (failure: Errors.Failure) => Effect.Effect<never, LlmError.LlmError>
): Stream.Stream<StreamPart.StreamPart, LlmError.LlmError> =>
  Stream.transformPull(stdout, (upstream) =>
    Effect.sync(() => {
      const reader = make(maxResponseBytes)
      let ended = false
      let finished = false
      // A read error ends stdout like its end does: what was read is kept.
      const read = upstream.pipe(
        Effect.catch(() => Cause.done()),
        Pull.catchDone(() =>
          Effect.sync(() => {
            ended = true
            reader.end()
            return undefined
          })
        )
      )
      // Whatever follows the result line is read and dropped, so the CLI never blocks on a full pipe.
      const rest: Effect.Effect<void> = Effect.suspend(() => (ended ? Effect.void : Effect.flatMap(read, () => rest)))
      const next = (): PartsPull => {
        const out = reader.take()
        if (Arr.isArrayNonEmpty(out)) return Effect.succeed(out)
        if (finished) return Cause.done()
        if (ended || reader.done()) {
          finished = true
          return complete(reader, rest)
        }
        return Effect.flatMap(read, (chunks) => {
          if (chunks !== undefined) {
            for (const chunk of chunks) {
              const tooLarge = reader.feed(chunk)
              if (tooLarge !== undefined) return fail(tooLarge)
            }
          }
          return next()
        })
      }
      return Effect.suspend(next)
    }))
