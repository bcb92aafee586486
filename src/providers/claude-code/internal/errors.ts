/**
 * The one place where a failed `claude` run becomes an `LlmError`.
 *
 * A run can fail in seven ways, each a {@link Failure}: the binary could not be started, the
 * run reported an error in its JSON result (`is_error`), the process exited without a result we
 * can read, it printed more than the output cap, the process ran past its timeout, there was
 * no USD budget left to hand it, or (a stream) its answer does not continue the text already
 * streamed.
 *
 * Table (tested row by row in `test/providers/claude-code/errors.test.ts`):
 *
 * | failure | reason | retryable |
 * |---|---|---|
 * | spawn ENOENT | Configuration (`CLAUDE_CODE_PATH`, how to install) | no |
 * | spawn EACCES / other | Configuration (`CLAUDE_CODE_PATH`, not executable) | no |
 * | result, `api_error_status` 400/413/422 | InvalidRequest | no |
 * | result, 401 | Authentication | no |
 * | result, no status, "Not logged in" / "/login" | Authentication (log in with `claude /login` or set ANTHROPIC_API_KEY; no HTTP status: no request was made) | no |
 * | result, no status, "Invalid API key" | Authentication (no HTTP status quoted) | no |
 * | result, 402 / 403 | PermissionDenied | no |
 * | result, 404 | NotFound, naming the model | no |
 * | result, 408 | Timeout (attempt) | yes |
 * | result, 429 (or "rate limit") | RateLimited | yes |
 * | result, 503 / 529 (or "overloaded") | Unavailable | yes |
 * | result, other 5xx | ServerError | yes |
 * | result, no status, connection refused/reset, DNS | Network | yes |
 * | result, `error_max_budget_usd` | BudgetExceeded (`costUsd`, the cost it reports) | no |
 * | result, "malformed response" (an API answer the CLI could not read) | ResponseMalformed | no |
 * | result, `stop_reason: refusal` | ContentFiltered | no |
 * | result, anything else | Unknown | no |
 * | output that is not JSON, or JSON that is not a result | ResponseMalformed | no |
 * | no output: exit by signal, crash, or a usage error on stderr | Unknown | no |
 * | more output than `maxResponseBytes` (default 32 MiB): the process is stopped | ResponseMalformed, naming the cap | no |
 * | the temporary working directory could not be made | Configuration (`TMPDIR`) | no |
 * | timeout | Timeout (attempt) | yes |
 * | no USD budget left | BudgetExceeded (`costUsd`) | no |
 * | a stream whose result does not continue the text already sent (the CLI lost its API stream and answered again without streaming) | Network, with what the run spent | yes |
 * | an empty (or blank) prompt, which the CLI refuses | InvalidRequest | no |
 *
 * The CLI's own text is quoted (trimmed, whitespace folded, at most 300 characters, keys
 * scrubbed: `ProviderKit.scrub`); the prompt never is. The status rows are built with
 * `ProviderKit.statusTable`.
 *
 * @since 0.1.0
 */
import * as LlmError from "../../../LlmError.ts"
import * as Usage from "../../../Usage.ts"
import * as ProviderKit from "../../ProviderKit.ts"
import type { ClaudeCodeResult } from "./ClaudeCodeSchema.ts"
import { usageOf } from "./ClaudeCodeSchema.ts"

/**
 * The provider name used in every error.
 *
 * @since 0.1.0
 * @category constants
 */
export const PROVIDER = "claude-code"

/**
 * How to install the CLI, quoted in the Configuration error of a missing binary.
 *
 * @since 0.1.0
 * @category constants
 */
export const INSTALL_HINT =
  "install it with `npm i -g @anthropic-ai/claude-code` (then log in with `claude /login` or export ANTHROPIC_API_KEY), " +
  "or set CLAUDE_CODE_PATH to the claude binary"

/**
 * A failed run.
 *
 * @since 0.1.0
 * @category models
 */
export type Failure =
  | { readonly _tag: "SpawnFailed"; readonly binary: string; readonly code: string; readonly message: string }
  | { readonly _tag: "ResultError"; readonly result: ClaudeCodeResult; readonly maxBudgetUsd?: number | undefined }
  | {
    readonly _tag: "NoResult"
    readonly exitCode: number | undefined
    readonly signal?: string | undefined
    /** Why the exit status is unknown when it was not a signal (e.g. the prompt could not be written). */
    readonly abnormal?: string | undefined
    readonly stderr: string
    /** Whether the CLI printed anything on stdout (then it was not a result we can read). */
    readonly printed: boolean
    readonly detail: string
  }
  | { readonly _tag: "WorkspaceFailed"; readonly message: string }
  | { readonly _tag: "OutputTooLarge"; readonly maxBytes: number }
  | { readonly _tag: "TimedOut"; readonly timeoutMs: number; readonly elapsedMs: number }
  | { readonly _tag: "NoBudgetLeft"; readonly remainingUsd: number }
  | { readonly _tag: "EmptyPrompt" }
  | {
    readonly _tag: "StreamRestarted"
    readonly result: ClaudeCodeResult
    /** How many characters had been sent as deltas. */
    readonly streamedChars: number
  }

/**
 * What is known about the call that failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallInfo {
  readonly model: string
  /** The API key handed to the CLI, only to scrub it out of its messages. */
  readonly apiKey?: string | undefined
}

const resultText = (result: ClaudeCodeResult): string => {
  const parts = [result.result ?? "", ...(result.errors ?? [])].filter((part) => part.trim() !== "")
  return parts.join("; ")
}

const NETWORK = /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|socket hang up|fetch failed|connection (?:refused|reset|error)|network error/i
const NOT_LOGGED_IN = /not logged in|please run \/login/i
const AUTH = /invalid api key|invalid x-api-key|authentication|oauth token/i
const RATE = /rate.?limit|too many requests|\b429\b/i
const OVERLOADED = /overloaded|\b529\b|\b503\b/i
const REFUSED_ARGUMENTS = /unknown option|unknown command|argument .* is invalid|too many arguments/i
const MALFORMED = /malformed response|not valid JSON|could not parse/i

/** What a row of the status table knows. */
interface StatusContext {
  readonly call: CallInfo
  readonly status: number
  /** `: <the CLI's text, scrubbed>`, or nothing. */
  readonly said: string
}

/** Maps an API status the CLI reports (or a status read from its text) to a reason. */
const reasonOf = ProviderKit.statusTable<StatusContext>({
  401: ({ said }) =>
    new LlmError.Authentication({
      description: `the Anthropic API refused the credentials (HTTP 401)${said}; log in with \`claude\` or check ANTHROPIC_API_KEY`
    }),
  402: ({ said, status }) => new LlmError.PermissionDenied({ description: `the Anthropic API denied the call (HTTP ${status})${said}` }),
  403: ({ said, status }) => new LlmError.PermissionDenied({ description: `the Anthropic API denied the call (HTTP ${status})${said}` }),
  404: ({ call, said }) =>
    new LlmError.NotFound({
      description: `the model "${call.model}" was not found (HTTP 404)${said}; use an alias such as sonnet, opus or haiku`,
      model: call.model
    }),
  408: ({ said }) => ProviderKit.timeoutReason(`the Anthropic API timed out (HTTP 408)${said}`),
  429: ({ said }) => new LlmError.RateLimited({ description: `the Anthropic API rate-limited the call (HTTP 429)${said}` }),
  503: ({ said, status }) => new LlmError.Unavailable({ description: `the Anthropic API is overloaded or down (HTTP ${status})${said}` }),
  529: ({ said, status }) => new LlmError.Unavailable({ description: `the Anthropic API is overloaded or down (HTTP ${status})${said}` }),
  "5xx": ({ said, status }) => new LlmError.ServerError({ description: `the Anthropic API failed (HTTP ${status})${said}`, status }),
  orElse: ({ said, status }) =>
    new LlmError.InvalidRequest({ description: `the Anthropic API rejected the request (HTTP ${status})${said}` })
})

const fromStatus = (status: number, said: string, call: CallInfo): LlmError.LlmErrorReason =>
  reasonOf(status, { call, status, said })

const fromResult = (
  result: ClaudeCodeResult,
  maxBudgetUsd: number | undefined,
  call: CallInfo
): { readonly reason: LlmError.LlmErrorReason; readonly status?: number | undefined } => {
  const text = ProviderKit.scrub(resultText(result), call.apiKey)
  const said = text !== "" ? `: ${text}` : ""
  const status = result.api_error_status ?? undefined
  if (result.subtype === "error_max_budget_usd") {
    const consumed = result.total_cost_usd ?? 0
    return {
      reason: new LlmError.BudgetExceeded({
        description: `the claude CLI stopped at its USD budget (--max-budget-usd ${maxBudgetUsd ?? "?"}) after spending $${consumed}`,
        dimension: "costUsd",
        limit: maxBudgetUsd ?? consumed,
        consumed,
        reserved: 0,
        requested: 0
      })
    }
  }
  if (status !== undefined && status >= 300) return { reason: fromStatus(status, said, call), status }
  if (MALFORMED.test(text)) {
    return { reason: new LlmError.ResponseMalformed({ description: `the Anthropic API answered something unreadable${said}` }) }
  }
  if (result.stop_reason === "refusal") {
    return { reason: new LlmError.ContentFiltered({ description: `the model refused to answer${said}` }) }
  }
  if (NETWORK.test(text)) {
    return { reason: new LlmError.Network({ description: `the claude CLI could not reach the Anthropic API${said}` }) }
  }
  // No status: the CLI refused before any request (not logged in) or reports a refusal in
  // words; quoting "HTTP 401" would name a request that was never made.
  if (NOT_LOGGED_IN.test(text)) {
    return {
      reason: new LlmError.Authentication({
        description: `the claude CLI is not logged in${said}; log in with \`claude /login\`, or set ANTHROPIC_API_KEY ` +
          `(or give the provider an apiKey)`
      })
    }
  }
  if (AUTH.test(text)) {
    return {
      reason: new LlmError.Authentication({
        description: `the Anthropic API refused the credentials${said}; log in with \`claude /login\` or check ANTHROPIC_API_KEY`
      })
    }
  }
  if (RATE.test(text)) return { reason: fromStatus(429, said, call) }
  if (OVERLOADED.test(text)) return { reason: fromStatus(529, said, call) }
  const subtype = result.subtype ?? "unknown"
  return {
    reason: new LlmError.Unknown({ description: `the claude CLI reported an error (subtype ${subtype})${said}` })
  }
}

/**
 * What a run that failed still cost, from its result: the CLI may have paid for API calls
 * before failing (e.g. stopping at --max-budget-usd), and the budget layer commits that spend
 * rather than releasing it.
 */
const spentOf = (result: ClaudeCodeResult): LlmError.Spent | undefined => {
  const costUsd = result.total_cost_usd ?? 0
  const usage = usageOf(result)
  return costUsd > 0 || (usage !== undefined && usage.totalTokens > 0) ? { usage: usage ?? Usage.empty, costUsd } : undefined
}

/**
 * Maps a failed run to an `LlmError`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toLlmError = (failure: Failure, call: CallInfo): LlmError.LlmError => {
  const make = (reason: LlmError.LlmErrorReason, status?: number) =>
    LlmError.make(PROVIDER, reason, { model: call.model, status })
  switch (failure._tag) {
    case "SpawnFailed":
      return make(
        new LlmError.Configuration({
          description: failure.code === "ENOENT"
            ? `the claude CLI was not found (looked for "${failure.binary}")`
            : `the claude CLI "${failure.binary}" could not be started (${failure.code}): ${ProviderKit.scrub(failure.message)}`,
          setting: "CLAUDE_CODE_PATH",
          fix: failure.code === "ENOENT"
            ? INSTALL_HINT
            : `make "${failure.binary}" executable, or set CLAUDE_CODE_PATH to a working claude binary`
        })
      )
    case "ResultError": {
      const { reason, status } = fromResult(failure.result, failure.maxBudgetUsd, call)
      return LlmError.make(PROVIDER, reason, { model: call.model, status, spent: spentOf(failure.result) })
    }
    case "StreamRestarted":
      return LlmError.make(
        PROVIDER,
        new LlmError.Network({
          description: `the claude CLI lost its stream from the Anthropic API after ${failure.streamedChars} characters were ` +
            `sent, and answered again without streaming; the text already sent cannot be taken back`
        }),
        { model: call.model, spent: spentOf(failure.result) }
      )
    case "NoResult": {
      const stderr = ProviderKit.scrub(failure.stderr, call.apiKey)
      const how = failure.signal !== undefined
        ? `was killed by ${failure.signal}`
        : failure.exitCode !== undefined
        ? `exited with code ${failure.exitCode}`
        : `ended abnormally (${ProviderKit.scrub(failure.abnormal ?? "unknown", call.apiKey)})`
      const said = stderr !== "" ? `; stderr: ${stderr}` : ""
      if (failure.printed) {
        return make(new LlmError.ResponseMalformed({ description: `${failure.detail} (the CLI ${how})${said}` }))
      }
      if (failure.signal === undefined && REFUSED_ARGUMENTS.test(failure.stderr)) {
        return make(new LlmError.Unknown({
          description: `the claude CLI refused its arguments (${how})${said}; this version of the CLI may not be supported`
        }))
      }
      return make(new LlmError.Unknown({ description: `the claude CLI ${how} without a result (${failure.detail})${said}` }))
    }
    case "TimedOut":
      return make(
        new LlmError.Timeout({
          description: `the claude CLI ran past its ${failure.timeoutMs} ms timeout and was stopped`,
          scope: "attempt",
          attempts: 1,
          elapsedMs: failure.elapsedMs
        })
      )
    case "OutputTooLarge":
      return ProviderKit.responseTooLarge({ provider: PROVIDER, model: call.model }, failure.maxBytes, {
        what: "the output of the claude CLI (it was stopped)"
      })
    case "WorkspaceFailed":
      return make(
        new LlmError.Configuration({
          description: `could not prepare a temporary working directory for the claude CLI: ${ProviderKit.scrub(failure.message)}`,
          setting: "TMPDIR",
          fix: "point TMPDIR at a writable directory"
        })
      )
    case "EmptyPrompt":
      return make(
        new LlmError.InvalidRequest({
          description: "the prompt is empty: the claude CLI needs some text to answer",
          parameter: "messages"
        })
      )
    case "NoBudgetLeft":
      return make(
        new LlmError.BudgetExceeded({
          description: `no USD budget is left for this call ($${failure.remainingUsd} remaining)`,
          dimension: "costUsd",
          limit: failure.remainingUsd,
          consumed: 0,
          reserved: 0,
          requested: 0
        })
      )
  }
}
