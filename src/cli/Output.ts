/**
 * How the CLI writes: results on stdout, everything else (notices, usage line, one-line error
 * messages) on stderr, so that `llm-connect prompt "..." > answer.txt` keeps only the answer and
 * `--json` keeps stdout to exactly one JSON document (`prompt --stream --json`: JSON Lines, see
 * `StreamEvents.ts`). Every stderr line passes through the one
 * scrubber (`Redaction.scrubText`), so a key or a URL's credentials never reach the terminal.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import * as DurationText from "../DurationText.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import * as Redaction from "../observability/Redaction.ts"
import * as Money from "../pricing/Money.ts"
import * as StreamEvents from "./StreamEvents.ts"

/**
 * The prefix of every line the CLI writes to stderr.
 *
 * @since 0.1.0
 * @category constants
 */
export const PREFIX = "llm-connect:"

/**
 * Writes a result line (or block) to stdout.
 *
 * @since 0.1.0
 * @category output
 */
export const result = (text: string): Effect.Effect<void> => Console.log(text)

/**
 * Writes one JSON document to stdout.
 *
 * @since 0.1.0
 * @category output
 */
export const json = (value: unknown): Effect.Effect<void> => Console.log(JSON.stringify(value, null, 2))

/**
 * Writes a one-line notice to stderr (`llm-connect: ...`), scrubbed of secrets.
 *
 * @since 0.1.0
 * @category output
 */
export const notice = (text: string): Effect.Effect<void> => Console.error(`${PREFIX} ${oneLine(Redaction.scrubText(text))}`)

/**
 * Writes a one-line error message to stderr (`llm-connect: error: ...`), scrubbed of secrets.
 *
 * @since 0.1.0
 * @category output
 */
export const errorLine = (text: string): Effect.Effect<void> =>
  Console.error(`${PREFIX} error: ${oneLine(Redaction.scrubText(text))}`)

/**
 * Collapses whitespace and newlines so a message stays on one line.
 *
 * @since 0.1.0
 * @category formatting
 */
export const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, " ").trim()

/**
 * A cost as text: dollars (`$0.000140`, every nano-USD shown), `unpriced` when nothing of it was
 * priced (never `$0`), or dollars plus the calls without a price (`$0.000140 + 2 unpriced`).
 *
 * @since 0.1.0
 * @category formatting
 */
export const costText = (costUsd: number | undefined, unpricedCalls = 0): string => {
  if (costUsd === undefined) return "unpriced"
  const amount = Money.format(Money.fromUsd(costUsd))
  return unpricedCalls > 0 ? `${amount} + ${unpricedCalls} unpriced` : amount
}

/**
 * The usage line printed after an answer:
 * `usage: 12 in + 20 out = 32 tokens | model mock-1 | provider mock | 3ms | $0.000052`
 * (`| unpriced` when the model has no price).
 *
 * @since 0.1.0
 * @category formatting
 */
export const usageLine = (response: LlmResponse): string => {
  const { inputTokens, outputTokens, totalTokens } = response.usage
  const estimated = response.usage.estimated === true ? " (estimated)" : ""
  const cost = response.cost !== undefined
    ? ` | ${costText(response.cost.usd)}`
    : response.priced === false
    ? " | unpriced"
    : ""
  return `usage: ${inputTokens} in + ${outputTokens} out = ${totalTokens} tokens${estimated} | model ${response.model} | provider ${response.provider} | ${
    DurationText.formatMillis(response.latencyMs)
  }${cost}`
}

/**
 * The one-line message for any failure.
 *
 * @since 0.1.0
 * @category formatting
 */
export const failureMessage = (error: unknown): string => {
  if (LlmError.isLlmError(error)) return error.message
  if (error instanceof Error) return error.message
  return String(error)
}

/**
 * The error document of an interrupted command (Ctrl-C, SIGTERM): what `--json` prints when a
 * command is stopped from outside (exit 130). It is an `Interrupted` error's document (so
 * `contracts/error.schema.json` accepts it) whose `error` is the plain word `interrupted`.
 *
 * @since 0.1.0
 * @category constants
 */
export const INTERRUPTED_DOCUMENT: Readonly<Record<string, unknown>> = {
  ...LlmError.toDocument(
    LlmError.make("cli", new LlmError.Interrupted({ description: "stopped by a signal (Ctrl-C or SIGTERM) before it finished" }))
  ),
  error: "interrupted"
}

/**
 * What a command prints on stdout for a failure: nothing (`false`), the error document (`true`,
 * `--json`), or the error line of JSON Lines (`"lines"`, `prompt --stream --json`).
 *
 * @since 0.1.0
 * @category models
 */
export type JsonMode = boolean | "lines"

/**
 * Reports an interrupt on every exit path of a command: the interrupted document on stdout with
 * `--json` (as the `error` line with `--stream --json`), and one error line on stderr (`detail`
 * added to it, e.g. how to resume).
 *
 * @since 0.1.0
 * @category output
 */
export const interrupted = (asJson: JsonMode, detail?: string | undefined): Effect.Effect<void> =>
  Effect.andThen(
    asJson === "lines"
      ? Console.log(StreamEvents.errorLine(INTERRUPTED_DOCUMENT))
      : asJson
      ? json(INTERRUPTED_DOCUMENT)
      : Effect.void,
    errorLine(detail === undefined ? "interrupted" : `interrupted (${detail})`)
  )

/**
 * Runs a command's work so that an interrupt still keeps the `--json` promise ({@link interrupted}).
 *
 * @since 0.1.0
 * @category output
 */
export const reportInterrupt = (asJson: JsonMode, detail?: () => string | undefined) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.onInterrupt(effect, () => interrupted(asJson, detail?.()))
