/**
 * `llm-connect prompt --stream`: the parts of a streamed answer written to stdout as they arrive.
 *
 * - Without `--json`: each text delta as it comes (one write per delta, nothing held back), then
 *   a newline, so stdout ends as `prompt` without `--stream` leaves it; the caller prints the
 *   usage line on stderr. Tool-call deltas are not printed (as `prompt` prints only the content).
 * - With `--json`: JSON Lines (`StreamEvents`): one line per delta, then the finish line, whose
 *   `response` is the `--json` document.
 *
 * The parts go through the stdout `Sink` of `Stdio` (backpressure: a slow reader slows the reading
 * of the stream, nothing piles up). The stream runs in the command's fiber, so Ctrl-C interrupts
 * it like any call: the stack's layers see the interruption (usage charged, ledger row written)
 * before the process exits. A stream cut off after some text ends that text with a newline, so
 * the error line on stderr starts a line of its own on a terminal.
 *
 * @since 0.1.0
 */
import { Effect, Exit, Ref, Stdio, Stream } from "effect"
import * as LlmError from "../../LlmError.ts"
import type { LlmResponse } from "../../LlmResponse.ts"
import type * as StreamPart from "../../StreamPart.ts"
import * as StreamEvents from "../StreamEvents.ts"

/**
 * How the parts are printed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** JSON Lines (`--json`) rather than the plain text. */
  readonly json: boolean
  /** The configured provider, named by the error of a stream that ends without its finish part. */
  readonly provider: string
}

/**
 * What a part adds to stdout ("" for nothing).
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (part: StreamPart.StreamPart, json: boolean): string => {
  if (json) return `${StreamEvents.partLine(part)}\n`
  switch (part.type) {
    case "text-delta":
      return part.text
    case "finish":
      return "\n"
    default:
      return ""
  }
}

/**
 * Writes a stream's parts to stdout as they arrive and returns the response of its finish part.
 * Fails with the stream's error; a stream that ends without a finish part fails with
 * `ResponseMalformed`; a stdout that cannot be written (its reader closed the pipe, as `| head`
 * does) stops the stream (the call is interrupted, its usage recorded) and fails with `Unknown`,
 * after which nothing more is written to stdout.
 *
 * @since 0.1.0
 * @category printing
 */
export const print = <R>(
  parts: Stream.Stream<StreamPart.StreamPart, LlmError.LlmError, R>,
  options: Options
): Effect.Effect<LlmResponse, LlmError.LlmError, R | Stdio.Stdio> =>
  Effect.gen(function*() {
    const stdio = yield* Stdio.Stdio
    const finish = yield* Ref.make<LlmResponse | undefined>(undefined)
    // Whether the last text written left a line open (plain text only).
    const openLine = yield* Ref.make(false)
    const writes = parts.pipe(
      Stream.mapEffect((part) => {
        const text = render(part, options.json)
        const track = part.type === "finish"
          ? Ref.set(finish, part.response)
          : options.json || text === ""
          ? Effect.void
          : Ref.set(openLine, !text.endsWith("\n"))
        return Effect.as(track, text)
      }),
      Stream.filter((text) => text !== "")
    )
    yield* Stream.run(writes, stdio.stdout()).pipe(
      Effect.catchTag("PlatformError", (error) => {
        // Nothing more goes to stdout: its reader is gone (`| head`), and writing again would fail.
        const cause = error.reason.cause
        const closed = Effect.fail(stdoutFailed(cause instanceof Error ? cause.message : error.message))
        return Effect.andThen(Ref.set(openLine, false), closed)
      }),
      Effect.onExit((exit) =>
        Exit.isSuccess(exit)
          ? Effect.void
          : Effect.flatMap(Ref.get(openLine), (open) => (open ? write("\n") : Effect.void))
      )
    )
    const response = yield* Ref.get(finish)
    if (response === undefined) {
      return yield* Effect.fail(
        LlmError.make(
          options.provider,
          new LlmError.ResponseMalformed({ description: "the stream ended without its finish part (the whole response)" })
        )
      )
    }
    return response
  })

const STDOUT_FAILED = "could not write the answer to stdout"

const stdoutFailed = (detail: string): LlmError.LlmError =>
  LlmError.make("cli", new LlmError.Unknown({ description: `${STDOUT_FAILED} (${detail}); was its reader closed?` }))

/**
 * Whether an error is the failure to write to stdout (after which nothing more is written there).
 *
 * @since 0.1.0
 * @category guards
 */
export const isStdoutFailure = (error: LlmError.LlmError): boolean =>
  error.provider === "cli" && error.reason._tag === "Unknown" && error.reason.description.startsWith(STDOUT_FAILED)

/** Writes text to stdout through `Stdio`; a stdout that cannot be written is left alone. */
const write = (text: string): Effect.Effect<void, never, Stdio.Stdio> =>
  Stdio.Stdio.use((stdio) => Effect.ignore(Stream.run(Stream.succeed(text), stdio.stdout())))

/**
 * Writes the error line of a failed `--stream --json` call (the error document with
 * `"type": "error"`).
 *
 * @since 0.1.0
 * @category printing
 */
export const printError = (error: LlmError.LlmError): Effect.Effect<void, never, Stdio.Stdio> =>
  isStdoutFailure(error) ? Effect.void : write(`${StreamEvents.errorLine(LlmError.toDocument(error))}\n`)

