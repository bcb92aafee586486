/**
 * The `prices:` section of the configuration (`PriceTable.PricesConfig`): price overrides keyed
 * `provider/model`, in USD per million tokens. It has no variable or flag.
 *
 * ```yaml
 * prices:
 *   openai/gpt-4o: { inputPerMillion: 2.5, outputPerMillion: 10 }
 *   mock/*: { inputPerMillion: 1, outputPerMillion: 2 }
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as ConfigSection from "../ConfigSection.ts"
import * as PriceTable from "./PriceTable.ts"

/**
 * The section.
 *
 * @since 0.1.0
 * @category sections
 */
export const section = ConfigSection.make({
  name: "prices",
  fields: { prices: Schema.optionalKey(PriceTable.PricesConfig) }
})
