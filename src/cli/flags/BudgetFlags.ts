/**
 * Budget flags of `llm-connect prompt`: `--max-input-tokens`, `--max-output-tokens`,
 * `--max-total-tokens`, `--max-cost-usd`, `--deadline`, built from the settings of
 * `BudgetConfig.section`. Keys are the settings' paths in the config file (the `budget:`
 * section), so a flag overrides `LLM_CONNECT_MAX_*` and the file. An invalid limit is a
 * configuration error (exit 2); a call the budget refuses exits 1 with `errorType`
 * `BudgetExceeded` and the `dimension` that ran out.
 *
 * @since 0.1.0
 */
import * as BudgetConfig from "../../budget/BudgetConfig.ts"
import * as SettingFlags from "./SettingFlags.ts"

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = SettingFlags.group(BudgetConfig.section.settings)
