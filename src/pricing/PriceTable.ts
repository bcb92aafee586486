/**
 * What a call costs: a price table (USD per million input, output and cached-input tokens) and
 * the arithmetic that turns usage into dollars.
 *
 * The table ships with the prices in `prices.ts` (taken on {@link Prices.PRICES_AS_OF}) and is
 * overridden from the config file's `prices` section, keyed `provider/model`
 * (`openai/gpt-4o`, `openrouter/openai/gpt-4o`, `mock/*`). The budget layer reserves and commits
 * cost with it; a cost the provider reports itself always wins over the table. Costs are
 * computed in whole nano-USD (`Money`), rounded up; the USD figures returned here are those
 * amounts as numbers.
 *
 * The table is a `Context.Reference`: it needs no layer, and {@link layer} replaces it.
 *
 * @since 0.1.0
 */
import { Context, Layer, Schema } from "effect"
import type { Usage } from "../Usage.ts"
import * as Money from "./Money.ts"
import * as Prices from "./prices.ts"

/**
 * USD per million input, output and cached-input tokens.
 *
 * @since 0.1.0
 * @category models
 */
export type Price = Prices.Price

/**
 * One price as written in config.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PriceConfig = Schema.Struct({
  inputPerMillion: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  outputPerMillion: Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)),
  cachedInputPerMillion: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)))
}).annotate({ identifier: "Price", description: "USD per million tokens." })

/**
 * The `prices` section of the config file: prices keyed `provider/model` (`*` for every model
 * of a provider), e.g. `{ "openai/gpt-4o": { inputPerMillion: 2.5, outputPerMillion: 10 } }`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PricesConfig = Schema.Record(Schema.String, PriceConfig).check(
  Schema.makeFilter((prices: { readonly [key: string]: unknown }) =>
    Object.keys(prices)
      .filter((key) => !/^[^/]+\/.+$/.test(key))
      .map((key) => ({ path: [key], issue: `"${key}" is not provider/model; write e.g. openai/gpt-4o or mock/*` }))
  )
).annotate({ identifier: "PricesConfig", description: "Price overrides keyed provider/model." })

/**
 * @since 0.1.0
 * @category models
 */
export type PricesConfig = typeof PricesConfig.Type

/**
 * A price table.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The day the built-in prices were taken. */
  readonly asOf: string
  /** The price of a provider's model, if known. */
  readonly lookup: (provider: string, model: string) => Prices.Price | undefined
}

const lookupIn = (models: Readonly<Record<string, Prices.Price>> | undefined, model: string): Prices.Price | undefined => {
  if (models === undefined) return undefined
  const exact = models[model]
  if (exact !== undefined) return exact
  let best: string | undefined
  for (const name of Object.keys(models)) {
    if (name !== "*" && model.startsWith(`${name}-`) && (best === undefined || name.length > best.length)) best = name
  }
  return best !== undefined ? models[best] : models["*"]
}

/**
 * Builds a table from the built-in prices and overrides keyed `provider/model`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * PriceTable.make({ "openai/gpt-4o": { inputPerMillion: 2, outputPerMillion: 8 } })
 */
export const make = (overrides: PricesConfig = {}): Service => {
  const table: Record<string, Record<string, Prices.Price>> = {}
  for (const [provider, models] of Object.entries(Prices.builtinPrices)) table[provider] = { ...models }
  for (const [key, price] of Object.entries(overrides)) {
    const slash = key.indexOf("/")
    const provider = key.slice(0, slash)
    const models = table[provider] ?? (table[provider] = {})
    models[key.slice(slash + 1)] = price
  }
  // Resolutions memoised by provider then model (a prefix match scans the provider's models, and
  // the budget and observability layers look up every call); the table never changes. Bounded.
  const resolved = new Map<string, Map<string, Prices.Price | undefined>>()
  return {
    asOf: Prices.PRICES_AS_OF,
    lookup: (provider, model) => {
      let models = resolved.get(provider)
      if (models === undefined) {
        if (resolved.size >= 100) return lookupIn(table[provider], model)
        resolved.set(provider, models = new Map())
      }
      if (models.has(model)) return models.get(model)
      const price = lookupIn(table[provider], model)
      if (models.size < 1_000) models.set(model, price)
      return price
    }
  }
}

/**
 * The price table in use; the built-in prices unless a {@link layer} replaces it.
 *
 * @since 0.1.0
 * @category references
 */
export const PriceTable = Context.Reference<Service>("llm-connect/PriceTable", { defaultValue: () => make() })

/**
 * Replaces the price table with the built-in prices plus overrides.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (overrides: PricesConfig = {}): Layer.Layer<never> => Layer.succeed(PriceTable, make(overrides))

/**
 * The cost in USD of some tokens. Cached input tokens are part of `inputTokens` and are charged
 * at the cached price. Computed in whole nano-USD, rounded up (`Money.ofTokens`).
 *
 * @since 0.1.0
 * @category cost
 */
export const costOfTokens = (
  price: Prices.Price,
  inputTokens: number,
  outputTokens: number,
  cachedInputTokens = 0
): number => Money.toUsd(Money.ofTokens(price, inputTokens, outputTokens, cachedInputTokens))

/**
 * The cost of a call's usage in whole nano-USD, rounded up.
 *
 * @since 0.1.0
 * @category cost
 */
export const nanosOf = (price: Prices.Price, usage: Usage): Money.Nanos =>
  Money.ofTokens(price, usage.inputTokens, usage.outputTokens, usage.cachedInputTokens ?? 0)

/**
 * The cost in USD of a call's usage (its {@link nanosOf} as a number).
 *
 * @since 0.1.0
 * @category cost
 */
export const costOf = (price: Prices.Price, usage: Usage): number => Money.toUsd(nanosOf(price, usage))

/**
 * The higher of two prices, per kind of token (`undefined` only when both are).
 *
 * @since 0.1.0
 * @category cost
 */
export const highest = (a: Prices.Price | undefined, b: Prices.Price | undefined): Prices.Price | undefined => {
  if (a === undefined || a === b) return b
  if (b === undefined) return a
  return {
    inputPerMillion: Math.max(a.inputPerMillion, b.inputPerMillion),
    outputPerMillion: Math.max(a.outputPerMillion, b.outputPerMillion),
    cachedInputPerMillion: Math.max(a.cachedInputPerMillion ?? a.inputPerMillion, b.cachedInputPerMillion ?? b.inputPerMillion)
  }
}
