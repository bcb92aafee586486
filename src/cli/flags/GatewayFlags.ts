/**
 * The flags of the long-lived doors that answer other programs (`bridge`, `serve`, `mcp`): the
 * provider and model, the mock, the budget, resilience, the ledger, the request size and the
 * config file — and the one way they become a loaded configuration.
 *
 * @since 0.1.0
 */
import type { Option } from "effect"
import * as CliConfig from "../CliConfig.ts"
import * as BudgetFlags from "./BudgetFlags.ts"
import * as ConfigFlags from "./ConfigFlags.ts"
import * as MockFlags from "./MockFlags.ts"
import * as ModelFlags from "./ModelFlags.ts"
import * as ObservabilityFlags from "./ObservabilityFlags.ts"
import * as RequestSizeFlags from "./RequestSizeFlags.ts"
import * as ResilienceFlags from "./ResilienceFlags.ts"

/**
 * @since 0.1.0
 * @category flags
 */
export const flags = {
  model: ModelFlags.flags,
  mock: MockFlags.flags,
  budget: BudgetFlags.flags,
  resilience: ResilienceFlags.flags,
  ledger: ObservabilityFlags.recording,
  requestSize: RequestSizeFlags.flags,
  config: ConfigFlags.config
} as const

type Group = Readonly<Record<string, Option.Option<unknown>>>

/**
 * The parsed values of {@link flags}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  readonly model: Group
  readonly mock: Group
  readonly budget: Group
  readonly resilience: Group
  readonly requestSize: Group
  readonly ledger: Parameters<typeof ObservabilityFlags.overrides>[0]
  readonly config: Option.Option<string>
}

/**
 * The configuration the flags, the environment and the config file describe (flags first).
 *
 * @since 0.1.0
 * @category loading
 */
export const load = (input: Input) =>
  CliConfig.load({
    flags: ConfigFlags.overrides(
      input.model,
      input.mock,
      input.budget,
      input.resilience,
      input.requestSize,
      ObservabilityFlags.overrides(input.ledger)
    ),
    configFile: ConfigFlags.configFile(input.config)
  })
