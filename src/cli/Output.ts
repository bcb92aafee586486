/**
 * How the CLI writes: results on stdout, everything else (notices, usage line, one-line error
 * messages) on stderr, so that `llm-connect prompt "..." > answer.txt` keeps only the answer and
 * `--json` keeps stdout to exactly one JSON document.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import * as DurationText from "../DurationText.ts"
import * as LlmError from "../LlmError.ts"
import type { LlmResponse } from "../LlmResponse.ts"
import * as Money from "../pricing/Money.ts"

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
 * Writes a one-line notice to stderr (`llm-connect: ...`).
 *
 * @since 0.1.0
 * @category output
 */
export const notice = (text: string): Effect.Effect<void> => Console.error(`${PREFIX} ${oneLine(text)}`)

/**
 * Writes a one-line error message to stderr (`llm-connect: error: ...`).
 *
 * @since 0.1.0
 * @category output
 */
export const errorLine = (text: string): Effect.Effect<void> => Console.error(`${PREFIX} error: ${oneLine(text)}`)

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
