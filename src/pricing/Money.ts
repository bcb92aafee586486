/**
 * Money as whole nano-USD (billionths of a dollar): how every amount of cost is held inside
 * llm-connect, so that sums are exact and a reservation released returns its budget to exactly 0.
 *
 * Floating-point dollars drift: `0.1 + 0.2` is `0.30000000000000004`, and a budget that adds and
 * subtracts thousands of costs keeps a residue of `1e-17`. Micro-USD cannot hold the per-token
 * price of the cheapest models (0.075 USD per million tokens is 0.075 micro-USD a token), and
 * some prices are not whole nano-USD either (0.0375 USD per million is 37.5 nano-USD a token). So:
 *
 * - a price (USD per million tokens) is read as whole **pico**-USD per token ({@link picoPerToken},
 *   exact for any price with up to six decimals), and the cost of a number of tokens is their
 *   pico-USD summed, rounded **up** to the next nano-USD ({@link ofTokens}): never below the truth;
 * - a cost a provider reports in USD is rounded to the nearest nano-USD ({@link fromUsd});
 * - amounts are added and compared as integers (exact up to 2^53 nano-USD, about 9 million USD);
 * - dollars appear only at the edges: {@link toUsd} for the `costUsd` numbers of JSON documents
 *   (computed once, so `0.00014` prints as `0.00014`) and {@link format} for text.
 *
 * @since 0.1.0
 */
import type { Brand } from "effect"

/**
 * A whole number of nano-USD (1e-9 USD).
 *
 * @since 0.1.0
 * @category models
 */
export type Nanos = number & Brand.Brand<"Nanos">

/**
 * Nano-USD in one USD.
 *
 * @since 0.1.0
 * @category constants
 */
export const NANOS_PER_USD = 1_000_000_000

/**
 * No money.
 *
 * @since 0.1.0
 * @category constants
 */
export const zero: Nanos = 0 as Nanos

/**
 * A whole number of nano-USD, as is (rounded to the nearest whole nano-USD when it is not one).
 *
 * @since 0.1.0
 * @category constructors
 */
export const nanos = (value: number): Nanos => (Number.isInteger(value) ? value : Math.round(value)) as Nanos

/**
 * USD (e.g. a cost a provider reports) to the nearest nano-USD.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * Money.fromUsd(0.02) // 20_000_000
 */
export const fromUsd = (usd: number): Nanos => Math.round(usd * NANOS_PER_USD) as Nanos

/**
 * Nano-USD as a USD number, for documents: the closest double, so that it prints as the decimal
 * it is (`140_000` is `0.00014`).
 *
 * @since 0.1.0
 * @category conversions
 */
export const toUsd = (amount: Nanos | number): number => amount / NANOS_PER_USD

/**
 * The sum of two amounts.
 *
 * @since 0.1.0
 * @category combinators
 */
export const add = (self: Nanos, that: Nanos): Nanos => (self + that) as Nanos

/**
 * A price in USD per million tokens as whole pico-USD (1e-12 USD) per token.
 *
 * @since 0.1.0
 * @category pricing
 * @example
 * Money.picoPerToken(0.15) // 150_000
 */
export const picoPerToken = (usdPerMillion: number): number => Math.round(usdPerMillion * 1_000_000)

/**
 * Whole pico-USD rounded up to whole nano-USD (integer arithmetic: exact).
 *
 * @since 0.1.0
 * @category pricing
 */
export const ceilPico = (pico: number): Nanos => {
  const rest = pico % 1000
  return ((pico - rest) / 1000 + (rest > 0 ? 1 : 0)) as Nanos
}

/**
 * The cost of some tokens at a price per million, rounded up to the nano-USD: input (of which
 * `cachedInputTokens` at the cached price), and output.
 *
 * @since 0.1.0
 * @category pricing
 */
export const ofTokens = (
  price: {
    readonly inputPerMillion: number
    readonly outputPerMillion: number
    readonly cachedInputPerMillion?: number | undefined
  },
  inputTokens: number,
  outputTokens: number,
  cachedInputTokens = 0
): Nanos => {
  const cached = Math.min(cachedInputTokens, inputTokens)
  const cachedPrice = cached === 0 ? 0 : picoPerToken(price.cachedInputPerMillion ?? price.inputPerMillion)
  return ceilPico(
    (inputTokens - cached) * picoPerToken(price.inputPerMillion) + cached * cachedPrice +
      outputTokens * picoPerToken(price.outputPerMillion)
  )
}

/**
 * An amount as text in dollars: at least six decimals, up to nine (no rounding: every nano-USD
 * shows), e.g. `$0.000140`, `$0.000000075`, `$1.250000`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (amount: Nanos | number): string => {
  const whole = Math.round(amount)
  const sign = whole < 0 ? "-" : ""
  const absolute = Math.abs(whole)
  const fraction = String(absolute % NANOS_PER_USD).padStart(9, "0")
  return `${sign}$${Math.floor(absolute / NANOS_PER_USD)}.${trimTo6(fraction)}`
}

// Nine decimals, trailing zeros dropped down to six.
const trimTo6 = (nine: string): string => {
  let end = nine.length
  while (end > 6 && nine[end - 1] === "0") end--
  return nine.slice(0, end)
}
