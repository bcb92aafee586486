/**
 * Flags shared by every command that reads the configuration, and the helper that turns any
 * group of setting flags into overrides for `LlmConnectConfig.load`.
 *
 * A setting flag group is a record whose keys are the setting's dotted path in the config file
 * (`"maxTokens"`, `"mock.latency"`) and whose values are optional flags; {@link overrides} keeps
 * the ones that were given. Groups are built from a config section's settings
 * (`SettingFlags.group`); add one as a new module in this folder and spread it into a command's
 * config.
 *
 * @since 0.1.0
 */
import { Option } from "effect"
import { Flag } from "effect/cli"

/**
 * `--config FILE`.
 *
 * @since 0.1.0
 * @category flags
 */
export const config = Flag.String("config").pipe(
  Flag.withMetavar("FILE"),
  Flag.withDescription("YAML config file (default: $LLM_CONNECT_CONFIG, else ./llm-connect.yaml if present)"),
  Flag.optional
)

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = { config } as const

/**
 * Keeps the flags that were given, by setting path.
 *
 * @since 0.1.0
 * @category conversions
 */
export const overrides = (...groups: ReadonlyArray<Readonly<Record<string, Option.Option<unknown>>>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const group of groups) {
    for (const [key, value] of Object.entries(group)) if (Option.isSome(value)) out[key] = value.value
  }
  return out
}

/**
 * The `--config` value, if given.
 *
 * @since 0.1.0
 * @category conversions
 */
export const configFile = (value: Option.Option<string>): string | undefined => Option.getOrUndefined(value)
