/**
 * The CLI's log lines: one line each on stderr, in the CLI's voice, with secrets scrubbed:
 *
 *   llm-connect: warn: retrying LLM call (provider=mock model=mock-1 step=draft attempt=1 reason=ServerError delayMs=400)
 *
 * Effect's default logger prints a multi-line object per line logged (a retry warning took twelve
 * lines), which breaks scripts reading stderr line by line and buries the progress of `run`. A
 * config file's `logging:` section replaces this logger with the structured one (JSON lines, or
 * pretty) inside the model stack.
 *
 * @since 0.1.0
 */
import { Cause, Layer, Logger, References } from "effect"
import * as Redaction from "../observability/Redaction.ts"
import * as Output from "./Output.ts"

const show = (value: unknown): string => {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Math.round(value))
  if (typeof value === "string") return /\s/.test(value) ? JSON.stringify(value) : value
  if (value instanceof Error) return value.message
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/**
 * Formats one log event as the CLI's line (without the newline).
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = Logger.make((options): string => {
  const messages = Array.isArray(options.message) ? options.message : [options.message]
  const text = messages.map((part) => (typeof part === "string" ? part : show(part))).join(" ")
  const annotations = Object.entries(options.fiber.getRef(References.CurrentLogAnnotations))
    .map(([key, value]) => `${key}=${show(value)}`)
  const cause = options.cause.reasons.length > 0 ? `: ${Output.failureMessage(Cause.squash(options.cause))}` : ""
  const details = annotations.length > 0 ? ` (${annotations.join(" ")})` : ""
  return Redaction.scrubText(
    Output.oneLine(`${Output.PREFIX} ${options.logLevel.toLowerCase()}: ${text}${cause}${details}`)
  )
})

/**
 * The logger: {@link format}, written to stderr.
 *
 * @since 0.1.0
 * @category loggers
 */
export const logger = Logger.map(format, (line) => void process.stderr.write(`${line}\n`))

/**
 * The CLI's logger as a Layer (replaces Effect's default logger).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never> = Logger.layer([logger])
