/**
 * The progress of `llm-connect run` on stderr, one line per event: readable lines on a
 * terminal, JSON lines otherwise (`{"event":"step","step":"outline","state":"completed",...}`),
 * so that scripts and tests can follow a run while stdout keeps only the result.
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import * as DurationText from "../../DurationText.ts"
import type * as RunState from "../../workflow/RunState.ts"
import * as WorkflowError from "../../workflow/WorkflowError.ts"
import type * as WorkflowHooks from "../../workflow/WorkflowHooks.ts"
import * as Output from "../Output.ts"
import type * as WorkflowDefinition from "../../workflow/WorkflowDefinition.ts"

/**
 * What the command reports through.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly hooks: WorkflowHooks.Hooks
  readonly start: (steps: ReadonlyArray<string>, resumed: ReadonlyArray<string>) => Effect.Effect<void>
  readonly cancelling: Effect.Effect<void>
  readonly end: (result: WorkflowDefinition.RunResult) => Effect.Effect<void>
}

const tokens = (count: number | undefined): string => `${count ?? 0} tokens`

/**
 * `completed in 52ms, 45 tokens` (and `, from the journal` for a resumed step).
 *
 * @since 0.1.0
 * @category formatting
 */
export const stepFacts = (step: RunState.StepSnapshot): string =>
  `${step.state}${step.durationMs !== undefined ? ` in ${DurationText.formatMillis(step.durationMs)}` : ""}${
    step.usage !== undefined ? `, ${tokens(step.usage.totalTokens)}` : ""
  }${step.resumed === true ? ", from the journal" : ""}`

/**
 * The totals line of a run.
 *
 * @since 0.1.0
 * @category formatting
 */
export const totals = (snapshot: RunState.RunSnapshot): string => {
  const { inputTokens, outputTokens, totalTokens } = snapshot.usage
  const time = snapshot.durationMs !== undefined ? ` in ${DurationText.formatMillis(snapshot.durationMs)}` : ""
  return `run ${snapshot.runId} ${snapshot.state}${time}: ${snapshot.steps.length} steps, ${totalTokens} tokens (${inputTokens} in + ${outputTokens} out)`
}

const mark: Record<RunState.State | "retrying", string> = {
  pending: "·",
  running: "▸",
  completed: "✓",
  failed: "✗",
  cancelled: "○",
  timeout: "⧗",
  retrying: "↻"
}

/**
 * The live block of a terminal: one line per step, redrawn in place on every event (the cursor
 * moves back up over the block; nothing else writes to stderr while it is drawn).
 */
const liveBlock = () => {
  const rows = new Map<string, string>()
  let footer: string | undefined
  let drawn = 0
  return {
    set: (step: string, state: RunState.State | "retrying", text: string) => {
      rows.set(step, `${mark[state]} ${step}  ${text}`)
    },
    footer: (text: string | undefined) => {
      footer = text
    },
    draw: Effect.sync(() => {
      const lines = [...rows.values(), ...(footer !== undefined ? [footer] : [])]
      let out = drawn > 0 ? `\x1b[${drawn}F` : ""
      for (const line of lines) out += `\x1b[2K${Output.PREFIX}   ${line}\n`
      drawn = lines.length
      process.stderr.write(out)
    })
  }
}

/**
 * Builds the progress reporter of one run: JSON lines, or a live block on a terminal.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly json: boolean
  readonly workflow: string
  readonly runId: string
  /** The command that resumes this run (default `llm-connect run --resume <id>`). */
  readonly resume?: string | undefined
}): Progress => {
  const { json, runId, workflow } = options
  const resume = options.resume ?? `llm-connect run --resume ${runId}`
  const block = liveBlock()
  const emit = (event: Record<string, unknown>, update: () => void) =>
    json ? Console.error(JSON.stringify({ runId, ...event })) : Effect.andThen(Effect.sync(update), block.draw)
  return {
    hooks: {
      beforeStep: (event) =>
        emit(
          { event: "step", step: event.step, state: "running", attempt: event.attempt, at: event.startedAt },
          () => block.set(event.step, "running", `running${event.attempt > 1 ? ` (attempt ${event.attempt})` : ""}...`)
        ),
      afterStep: (event) =>
        emit(
          { event: "step", step: event.step, state: "completed", attempt: event.attempt, durationMs: event.durationMs, usage: event.usage },
          () =>
            block.set(
              event.step,
              "completed",
              `completed in ${DurationText.formatMillis(event.durationMs)}, ${tokens(event.usage.totalTokens)}`
            )
        ),
      onError: (event) =>
        emit(
          {
            event: "step",
            step: event.step,
            state: event.willRetry ? "retrying" : "failed",
            attempt: event.attempt,
            durationMs: event.durationMs,
            error: event.error.message
          },
          () =>
            block.set(
              event.step,
              event.willRetry ? "retrying" : "failed",
              `attempt ${event.attempt} failed${event.willRetry ? ", retrying" : ""}: ${Output.oneLine(event.error.message)}`
            )
        )
    },
    start: (steps, resumed) =>
      json
        ? Console.error(
          JSON.stringify({ runId, event: "run", state: "running", workflow, steps: steps.length, resumed: resumed.length, resume })
        )
        : Effect.andThen(
          Output.notice(
            `run ${runId}: workflow "${workflow}", ${steps.length} steps${
              resumed.length > 0 ? `, ${resumed.length} already finished (resumed)` : ""
            } (resume with: ${resume})`
          ),
          Effect.andThen(
            Effect.sync(() => {
              for (const step of steps) {
                block.set(step, resumed.includes(step) ? "completed" : "pending", resumed.includes(step) ? "from the journal" : "pending")
              }
            }),
            block.draw
          )
        ),
    cancelling: emit(
      { event: "run", state: "cancelling" },
      () => block.footer("cancelling: steps in flight will finish, no new step starts (Ctrl-C again to stop at once)")
    ),
    end: (result) =>
      json
        ? Console.error(JSON.stringify({ runId, event: "run", state: result.state, durationMs: result.durationMs, usage: result.usage }))
        : Effect.andThen(
          Effect.andThen(
            Effect.sync(() => {
              for (const step of result.steps) block.set(step.id, step.state, stepFacts(step))
              block.footer(undefined)
            }),
            block.draw
          ),
          Output.notice(totals(result))
        )
  }
}

/**
 * A short message for the final error line.
 *
 * @since 0.1.0
 * @category formatting
 */
export const failureSummary = (error: WorkflowError.WorkflowError, resume?: string | undefined): string => {
  const reason = error.reason
  const run = error.runId !== undefined
    ? ` (run ${error.runId}; resume with: ${resume ?? `llm-connect run --resume ${error.runId}`})`
    : ""
  switch (reason._tag) {
    case "Invalid":
      return `${error.workflow === WorkflowError.UNKNOWN ? "invalid usage" : `workflow "${error.workflow}" is invalid`}: ${reason.issues.length} problem${
        reason.issues.length === 1 ? "" : "s"
      }, nothing ran`
    case "StepFailed":
      return `step "${reason.step}" failed on attempt ${reason.attempt}: ${reason.cause.message}${run}`
    case "Timeout":
      return `the run timed out after ${DurationText.formatMillis(reason.timeoutMs)}${run}`
    case "Cancelled":
      return `the run was cancelled${run}`
    default:
      return error.message
  }
}

/**
 * Writes the details of a failure to stderr: each validation problem on its own line
 * (`file:line:column: message`), or the state of each step.
 *
 * @since 0.1.0
 * @category output
 */
export const reportFailure = (error: WorkflowError.WorkflowError): Effect.Effect<void> => {
  const reason = error.reason
  if (reason._tag === "Invalid") {
    return Effect.forEach(reason.issues, (issue) => Console.error(`${Output.PREFIX} ${WorkflowError.formatIssue(issue)}`), {
      discard: true
    })
  }
  const snapshot = reason._tag === "StepFailed" ? reason.snapshot : reason._tag === "Timeout" || reason._tag === "Cancelled"
    ? reason.snapshot
    : undefined
  if (snapshot === undefined) return Effect.void
  return Effect.forEach(
    snapshot.steps,
    (step) => Output.notice(`  ${step.id}: ${stepFacts(step)}${step.error !== undefined ? ` (${step.error})` : ""}`),
    { discard: true }
  ).pipe(Effect.andThen(Output.notice(totals(snapshot))))
}

