/**
 * Flags built from the configuration's settings: every setting a section declares with a `flag`
 * becomes an optional `Flag` (its kind picks `Flag.Int`, `Flag.Finite` or `Flag.String`, with
 * the row's metavar and help line), keyed by the setting's dotted path so that
 * `ConfigFlags.overrides` hands the given ones to `LlmConnectConfig.load`.
 *
 * A flag is declared once, in its section's settings (next to the concern's code); the groups in
 * this folder only pick which section's flags a command offers.
 *
 * @since 0.1.0
 */
import type { Option } from "effect"
import { Flag } from "effect/cli"
import type * as ConfigSection from "../../ConfigSection.ts"

/**
 * What a flag of a given kind reads.
 *
 * @since 0.1.0
 * @category models
 */
export type ValueOf<K extends ConfigSection.Kind> = K extends "integer" | "number" ? number : string

/**
 * The flags of a section's settings that have one, by dotted path.
 *
 * @since 0.1.0
 * @category models
 */
export type Group<S extends ConfigSection.Settings> = {
  readonly [P in keyof S as S[P] extends { readonly flag: ConfigSection.FlagSpec } ? P : never]: Flag.Flag<
    Option.Option<ValueOf<S[P]["kind"]>>
  >
}

/**
 * The optional flag of one setting.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSetting = (kind: ConfigSection.Kind, flag: ConfigSection.FlagSpec): Flag.Flag<Option.Option<string | number>> => {
  const base: Flag.Flag<string | number> = kind === "integer"
    ? Flag.Int(flag.name)
    : kind === "number"
    ? Flag.Finite(flag.name)
    : Flag.String(flag.name)
  return base.pipe(Flag.withMetavar(flag.metavar), Flag.withDescription(flag.description), Flag.optional)
}

/**
 * The flags of a section's settings, in the order they are declared (the order of `--help`).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * export const flags = SettingFlags.group(MockConfig.section.settings)  // { "mock.reply": Flag, ... }
 */
export const group = <const S extends ConfigSection.Settings>(settings: S): Group<S> => {
  const flags: Record<string, Flag.Flag<Option.Option<string | number>>> = {}
  for (const [path, setting] of Object.entries(settings)) {
    if (setting.flag !== undefined) flags[path] = fromSetting(setting.kind, setting.flag)
  }
  // Each entry was built from its row's kind, which is what `Group` reads from the row's type.
  return flags as Group<S>
}
