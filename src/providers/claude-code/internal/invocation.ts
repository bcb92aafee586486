/**
 * How an `LlmRequest` becomes one run of the `claude` CLI: the prompt text, the system prompt,
 * the command-line arguments, and the parameters the CLI cannot honour.
 *
 * Claude Code takes one prompt per run, so a conversation is rendered into text:
 *
 * - `system` messages (and `request.system`) become the system prompt, joined by blank lines;
 * - a single user message is sent as it is;
 * - a longer conversation is sent as a transcript, each message wrapped in `<user>` or
 *   `<assistant>` tags, oldest first, after one line asking for the assistant's next reply.
 *
 * @since 0.1.0
 */
import type { LlmRequest } from "../../../LlmRequest.ts"
import * as Message from "../../../Message.ts"

/**
 * The text given to the CLI.
 *
 * @since 0.1.0
 * @category models
 */
export interface RenderedPrompt {
  /** The system prompt (empty when there is none: Claude Code then adds only its one-line identity). */
  readonly system: string
  /** The prompt, written to the CLI's stdin. */
  readonly prompt: string
}

/**
 * The line that opens a rendered transcript.
 *
 * @since 0.1.0
 * @category constants
 */
export const TRANSCRIPT_INSTRUCTION =
  "Here is a conversation between a user and an assistant, oldest message first. " +
  "Write the assistant's next reply, and only that reply."

/**
 * Renders a request's conversation into a system prompt and a prompt.
 *
 * @since 0.1.0
 * @category rendering
 * @example
 * renderPrompt({ messages: [{ role: "user", content: "hi" }] }) // { system: "", prompt: "hi" }
 */
export const renderPrompt = (request: Pick<LlmRequest, "messages" | "system">): RenderedPrompt => {
  const systemParts: Array<string> = []
  if (request.system !== undefined && request.system.trim() !== "") systemParts.push(request.system)
  const turns: Array<{ readonly role: "user" | "assistant"; readonly content: string }> = []
  for (const message of request.messages) {
    const content = Message.text(message)
    if (message.role === "system") {
      if (content.trim() !== "") systemParts.push(content)
    } else if (message.role !== "tool") {
      turns.push({ role: message.role, content })
    }
  }
  const system = systemParts.join("\n\n")
  if (turns.length === 1 && turns[0]!.role === "user") return { system, prompt: turns[0]!.content }
  const transcript = turns.map((turn) => `<${turn.role}>\n${turn.content}\n</${turn.role}>`).join("\n\n")
  return { system, prompt: `${TRANSCRIPT_INSTRUCTION}\n\n${transcript}` }
}

/**
 * The request parameters the CLI has no flag for, each as a warning naming it.
 *
 * @since 0.1.0
 * @category rendering
 */
export const unsupportedParameters = (
  request: Pick<LlmRequest, "temperature" | "topP" | "stop" | "maxTokens">
): ReadonlyArray<string> => {
  const ignored: Array<string> = []
  if (request.temperature !== undefined) ignored.push("temperature")
  if (request.topP !== undefined) ignored.push("topP")
  if (request.stop !== undefined && request.stop.length > 0) ignored.push("stop")
  if (request.maxTokens !== undefined) ignored.push("maxTokens")
  return ignored.map((name) => `claude-code cannot honour ${name}: the claude CLI has no setting for it, so it was ignored`)
}

/**
 * Formats a USD amount for `--max-budget-usd`: rounded down to 8 decimals, no exponent.
 * `undefined` when nothing positive is left.
 *
 * @since 0.1.0
 * @category rendering
 */
export const formatBudgetUsd = (usd: number): string | undefined => {
  if (!Number.isFinite(usd)) return undefined
  const floored = Math.floor(usd * 1e8) / 1e8
  if (floored <= 0) return undefined
  return floored.toFixed(8).replace(/\.?0+$/, "")
}

/**
 * What one run is built from.
 *
 * @since 0.1.0
 * @category models
 */
export interface ArgsInput {
  readonly model: string
  /** The file holding the system prompt. */
  readonly systemPromptFile: string
  /** The `--max-budget-usd` value, already formatted. */
  readonly maxBudgetUsd?: string | undefined
  /** Print JSON Lines as the run goes (for `stream`) instead of one JSON result at the end. */
  readonly stream?: boolean | undefined
}

/**
 * The arguments of one run. The prompt is not among them: it goes to stdin, so it is neither
 * visible in the process list nor cut by the operating system's limit on one argument.
 *
 * - `-p --output-format json`: print one JSON result and exit; for a stream,
 *   `-p --output-format stream-json --verbose --include-partial-messages`: print every event as
 *   one JSON line as it happens (`--verbose` is required with `stream-json`), the model's text
 *   deltas among them (`stream_event` lines), and the `result` event last;
 * - `--tools ""`: no built-in tools, `--strict-mcp-config`: no MCP servers from the user's
 *   settings, `--max-turns 1`: one model turn, so it runs as a plain model;
 * - `--no-session-persistence`: nothing saved to resume;
 * - `--system-prompt-file`: replaces Claude Code's agent system prompt with ours.
 *
 * @since 0.1.0
 * @category rendering
 */
export const buildArgs = (input: ArgsInput): ReadonlyArray<string> => [
  "-p",
  "--output-format",
  ...(input.stream === true ? ["stream-json", "--verbose", "--include-partial-messages"] : ["json"]),
  "--model",
  input.model,
  "--system-prompt-file",
  input.systemPromptFile,
  "--tools",
  "",
  "--strict-mcp-config",
  "--max-turns",
  "1",
  "--no-session-persistence",
  ...(input.maxBudgetUsd !== undefined ? ["--max-budget-usd", input.maxBudgetUsd] : [])
]
