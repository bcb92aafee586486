/**
 * The built-in price list: USD per million input, output and cached-input tokens, per provider
 * and model, as published by each vendor on {@link PRICES_AS_OF}.
 *
 * Prices change; override any of them from the config file's `prices` section (see
 * `docs/budgets.md`). A model name that is not listed matches the longest listed name it starts
 * with followed by `-` (so `gpt-4o-mini-2024-07-18` is priced as `gpt-4o-mini`); `*` matches every
 * model of a provider.
 *
 * The mock provider has a small fake price (1 USD per million input tokens, 2 per million output
 * tokens, 0.5 per million cached) so that cost budgets can be exercised offline: one million
 * input tokens cost exactly one dollar, which keeps test arithmetic readable.
 *
 * @since 0.1.0
 */

/**
 * USD per million tokens.
 *
 * @since 0.1.0
 * @category models
 */
export interface Price {
  readonly inputPerMillion: number
  readonly outputPerMillion: number
  /** Cached input tokens; the input price when absent. */
  readonly cachedInputPerMillion?: number | undefined
}

/**
 * The day the built-in prices were taken from the vendors' public price pages.
 *
 * @since 0.1.0
 * @category constants
 */
export const PRICES_AS_OF = "2025-10-15"

const price = (inputPerMillion: number, outputPerMillion: number, cachedInputPerMillion?: number): Price =>
  cachedInputPerMillion === undefined
    ? { inputPerMillion, outputPerMillion }
    : { inputPerMillion, outputPerMillion, cachedInputPerMillion }

// Claude models (the `anthropic` and `claude-code` providers). Source of every row:
// https://www.anthropic.com/pricing (input, output, and cache reads at 0.1x the input price).
// Written from memory on 2026-12-06, not read from the page: verify against it before relying on
// them. Cache writes (1.25x the input price for 5-minute entries, 2x for 1-hour ones) are charged at
// the input price here, as the table has no cache-write price. Dated ids (claude-haiku-4-5-20251001)
// match their alias by prefix; newer models not listed here match the closest listed prefix
// (claude-opus-4-6 is priced as claude-opus-4): override them in the config file's `prices`.
const anthropic: Record<string, Price> = {
  "claude-opus-4-5": price(5, 25, 0.5), // anthropic.com/pricing, 2026-12-06 (from memory, verify)
  "claude-opus-4-1": price(15, 75, 1.5), // anthropic.com/pricing, 2026-12-06 (from memory, verify)
  "claude-opus-4": price(15, 75, 1.5), // anthropic.com/pricing, 2026-12-06 (from memory, verify)
  "claude-sonnet-4-5": price(3, 15, 0.3), // anthropic.com/pricing, 2026-12-06 (from memory, verify)
  "claude-sonnet-4": price(3, 15, 0.3), // anthropic.com/pricing, 2026-12-06 (from memory, verify)
  "claude-3-7-sonnet": price(3, 15, 0.3), // anthropic.com/pricing, 2026-12-06 (from memory, verify)
  "claude-haiku-4-5": price(1, 5, 0.1), // anthropic.com/pricing, 2026-12-06 (from memory, verify)
  "claude-3-5-haiku": price(0.8, 4, 0.08) // anthropic.com/pricing, 2026-12-06 (from memory, verify)
}

/**
 * The built-in prices, by provider name and model.
 *
 * @since 0.1.0
 * @category data
 */
export const builtinPrices: Readonly<Record<string, Readonly<Record<string, Price>>>> = {
  openai: {
    "gpt-5": price(1.25, 10, 0.125),
    "gpt-5-mini": price(0.25, 2, 0.025),
    "gpt-5-nano": price(0.05, 0.4, 0.005),
    "gpt-4.1": price(2, 8, 0.5),
    "gpt-4.1-mini": price(0.4, 1.6, 0.1),
    "gpt-4.1-nano": price(0.1, 0.4, 0.025),
    "gpt-4o": price(2.5, 10, 1.25),
    "gpt-4o-mini": price(0.15, 0.6, 0.075),
    "o3": price(2, 8, 0.5),
    "o3-mini": price(1.1, 4.4, 0.55),
    "o4-mini": price(1.1, 4.4, 0.275)
  },
  gemini: {
    "gemini-2.5-pro": price(1.25, 10, 0.31),
    "gemini-2.5-flash": price(0.3, 2.5, 0.075),
    "gemini-2.5-flash-lite": price(0.1, 0.4, 0.025),
    "gemini-2.0-flash": price(0.1, 0.4, 0.025),
    "gemini-2.0-flash-lite": price(0.075, 0.3)
  },
  openrouter: {
    "openai/gpt-5": price(1.25, 10, 0.125),
    "openai/gpt-5-mini": price(0.25, 2, 0.025),
    "openai/gpt-4.1": price(2, 8, 0.5),
    "openai/gpt-4.1-mini": price(0.4, 1.6, 0.1),
    "openai/gpt-4o": price(2.5, 10, 1.25),
    "openai/gpt-4o-mini": price(0.15, 0.6, 0.075),
    "anthropic/claude-opus-4.1": price(15, 75, 1.5),
    "anthropic/claude-sonnet-4.5": price(3, 15, 0.3),
    "anthropic/claude-sonnet-4": price(3, 15, 0.3),
    "anthropic/claude-haiku-4.5": price(1, 5, 0.1),
    "anthropic/claude-3.5-haiku": price(0.8, 4, 0.08),
    "google/gemini-2.5-pro": price(1.25, 10, 0.31),
    "google/gemini-2.5-flash": price(0.3, 2.5, 0.075),
    "google/gemini-2.5-flash-lite": price(0.1, 0.4, 0.025),
    "google/gemini-2.0-flash-001": price(0.1, 0.4, 0.025)
  },
  "claude-code": {
    ...anthropic,
    // The Claude Code CLI's model aliases, priced as the models they pointed to on PRICES_AS_OF.
    opus: price(15, 75, 1.5),
    sonnet: price(3, 15, 0.3),
    haiku: price(1, 5, 0.1)
  },
  anthropic,
  mock: {
    "*": price(1, 2, 0.5)
  }
}
