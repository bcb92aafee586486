/**
 * How many input tokens a call is reserved for, before it is sent.
 *
 * Two estimates, one cheap and one exact. {@link bound} never runs the tokenizer: a BPE token is
 * at least one UTF-8 byte, so the byte length of the prompt (plus the chat framing) is a safe
 * upper bound, computed in microseconds even for a 10 kB prompt. {@link exact} runs the `o200k`
 * tokenizer (hundreds of microseconds for 10 kB) and, for providers whose tokenizer differs,
 * adds a safety margin, never going above the bound. `BudgetTracker` reserves with the bound
 * while the budget is far from its limits and counts exactly only when the bound would be
 * refused.
 *
 * The framing (3 tokens per message, 3 per request) is `Tokenizer`'s, from OpenAI's published
 * counting recipe; the mock provider reports exactly `Tokenizer.countRequest`, which the tests
 * check. See docs/budgets.md.
 *
 * @since 0.1.0
 */
import type { LlmRequest } from "../LlmRequest.ts"
import * as Tokenizer from "../Tokenizer.ts"

/**
 * Per provider: extra input tokens the provider adds beyond `Tokenizer`'s chat framing, and the
 * margin applied to the exact `o200k` count (0 where it is the provider's own tokenizer).
 *
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  readonly framing: number
  readonly margin: number
  /**
   * Extra input tokens the provider adds when a request declares tools (the instructions it
   * wraps tool declarations in), besides the declarations' own text, which `Tokenizer` counts;
   * {@link TOOL_FRAMING_PER_TOOL} more per tool. Absent: {@link DEFAULT_TOOL_FRAMING}.
   */
  readonly toolFraming?: number | undefined
}

/**
 * Tokens a provider is assumed to add when a request declares tools, where its settings say
 * nothing: Anthropic documents a tool-use system prompt of up to 346 tokens, so 400.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_TOOL_FRAMING = 400

/**
 * Tokens assumed per declared tool besides its text (its wrapping in the provider's format).
 *
 * @since 0.1.0
 * @category constants
 */
export const TOOL_FRAMING_PER_TOOL = 8

/**
 * The settings of the built-in providers.
 *
 * @since 0.1.0
 * @category constants
 */
export const settings: Readonly<Record<string, Settings>> = {
  mock: { framing: 0, margin: 0, toolFraming: 0 },
  openai: { framing: 0, margin: 0, toolFraming: 32 },
  openrouter: { framing: 0, margin: 0.1 },
  "openai-compatible": { framing: 0, margin: 0.1 },
  anthropic: { framing: 0, margin: 0.1, toolFraming: 400 },
  gemini: { framing: 0, margin: 0.1, toolFraming: 64 },
  "claude-code": { framing: 0, margin: 0.1 }
}

/**
 * The settings used for a provider not listed (plugins): no extra framing, a 10% margin.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSettings: Settings = { framing: 0, margin: 0.1 }

/**
 * The settings of a provider.
 *
 * @since 0.1.0
 * @category accessors
 */
export const settingsFor = (provider: string): Settings => settings[provider] ?? defaultSettings

/**
 * A safe upper bound on a request's input tokens, without the tokenizer.
 *
 * @since 0.1.0
 * @category estimates
 */
export const bound = (request: LlmRequest, provider: string): number =>
  Tokenizer.boundRequest(request) + framingOf(request, settingsFor(provider))

/**
 * The tokens a provider adds to a request beyond `Tokenizer`'s count: its framing, and its tool
 * framing when the request declares tools (the mock adds none: it reports `Tokenizer`'s count).
 *
 * @since 0.1.0
 * @category estimates
 */
export const framingOf = (request: LlmRequest, settings: Settings): number => {
  // Structured output is one more tool where a provider forces one (Anthropic), and framed like one elsewhere.
  const tools = (request.tools?.length ?? 0) + (request.responseFormat === undefined ? 0 : 1)
  if (tools === 0) return settings.framing
  const perRequest = settings.toolFraming ?? DEFAULT_TOOL_FRAMING
  return settings.framing + (perRequest === 0 ? 0 : perRequest + tools * TOOL_FRAMING_PER_TOOL)
}

/**
 * The exact `o200k` count of a request's input tokens, with the provider's margin; never above
 * {@link bound}.
 *
 * @since 0.1.0
 * @category estimates
 */
export const exact = (request: LlmRequest, provider: string): number => {
  const own = settingsFor(provider)
  return Math.min(bound(request, provider), Math.ceil(Tokenizer.countRequest(request) * (1 + own.margin)) + framingOf(request, own))
}
