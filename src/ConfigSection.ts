/**
 * A section of the configuration, declared by the concern it configures, next to its code.
 *
 * A section names the top-level keys it owns in the YAML file (`fields`, a Schema per key), the
 * settings that can also come from an environment variable or a flag (`settings`, one row per
 * setting: its variable, its flag with metavar and help line, how text is read, an example), and
 * how its decoded values become their resolved form (`finish`: durations to milliseconds, fault
 * scripts parsed, keys made `Redacted`). One row gives a setting its file key, its variable and
 * its flag: the CLI builds its flags from the rows (`src/cli/flags/`).
 *
 * `LlmConnectConfig` only {@link compose}s the sections: the file Schema is the union of their
 * fields (in the order of the list), the loader reads every row, validates once and runs every
 * `finish`. Composition refuses two sections that claim the same key, variable or flag.
 *
 * @since 0.1.0
 */
import { Effect, Result } from "effect"
import type { Schema, Types } from "effect"
import * as DurationText from "./DurationText.ts"
import * as LlmError from "./LlmError.ts"

/**
 * How the text of a flag or variable is read: as is, as a whole number (`Flag.Int`), as a number
 * (`Flag.Finite`), or as a comma-separated list.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "string" | "integer" | "number" | "list"

/**
 * A setting's flag: its name without the dashes, the placeholder shown in help, and the help line.
 *
 * @since 0.1.0
 * @category models
 */
export interface FlagSpec {
  readonly name: string
  readonly metavar: string
  readonly description: string
}

/**
 * One setting that can also come from a variable or a flag, declared once in its section's
 * `settings` record under its dotted path in the file (`"mock.latency"`).
 *
 * @since 0.1.0
 * @category models
 */
export interface SettingSpec {
  /** The environment variable, e.g. `LLM_CONNECT_MOCK_LATENCY`. */
  readonly env?: string | undefined
  /** The flag, e.g. `{ name: "mock-latency", metavar: "DURATION", description: "..." }`. */
  readonly flag?: FlagSpec | undefined
  readonly kind: Kind
  /** A valid value, shown in messages. */
  readonly example: string
  /** What a valid value is, in words (replaces the Schema's wording in messages). */
  readonly expected?: string | undefined
}

/**
 * A section's settings, by dotted path.
 *
 * @since 0.1.0
 * @category models
 */
export type Settings = { readonly [path: string]: SettingSpec }

/**
 * A setting with its place in the file and the section that declares it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Setting extends SettingSpec {
  /** Where it sits in the file, e.g. `["mock", "latency"]`. */
  readonly path: ReadonlyArray<string>
  /** The section that declares it. */
  readonly section: string
}

/**
 * Where a value came from.
 *
 * @since 0.1.0
 * @category models
 */
export type Source =
  | { readonly _tag: "Flag"; readonly flag: string }
  | { readonly _tag: "Env"; readonly variable: string }
  | { readonly _tag: "File"; readonly path: string; readonly line: number }
  /** A program's option (`createClient({ budget: { costUsd } })`): `path` is the dotted key. */
  | { readonly _tag: "Option"; readonly path: string }
  | { readonly _tag: "Default" }

/**
 * Describes a source for a message: `--provider`, `LLM_CONNECT_PROVIDER`, `llm-connect.yaml line 3`,
 * `the option budget.costUsd`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describeSource = (source: Source): string => {
  switch (source._tag) {
    case "Flag":
      return source.flag
    case "Env":
      return source.variable
    case "File":
      return `${source.path} line ${source.line}`
    case "Option":
      return `the option ${source.path}`
    case "Default":
      return "the default"
  }
}

/**
 * Builds a configuration error.
 *
 * @since 0.1.0
 * @category errors
 */
export const configurationError = (setting: string, description: string, fix: string): LlmError.LlmError =>
  LlmError.make("config", new LlmError.Configuration({ description, setting, fix }))

/**
 * What a section's `finish` is given besides its values: where each value came from, and how to
 * refuse one (the error names the setting's source and shows a good value written there).
 *
 * @since 0.1.0
 * @category models
 */
export interface Finishing {
  readonly sources: Readonly<Record<string, Source>>
  /** A `Configuration` error for `setting`: `description (from <source>)`, and an example as its fix. */
  readonly invalid: (setting: string, description: string) => LlmError.LlmError
}

/**
 * A configuration section: its top-level file keys, its settings, and its `finish`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigSection<Fields extends Schema.Struct.Fields, S extends Settings, Resolved> {
  /** A name for messages and for composition errors, e.g. `"mock"`. */
  readonly name: string
  /** The top-level keys this section owns in the file, each an `optionalKey` Schema. */
  readonly fields: Fields
  readonly settings: S
  /** The decoded values of `fields` (absent keys stay absent) to their resolved form. */
  readonly finish: (decoded: Schema.Struct.Type<Fields>, finishing: Finishing) => Effect.Effect<Resolved, LlmError.LlmError>
}

/**
 * Any section, whatever its types (what {@link compose} takes).
 *
 * @since 0.1.0
 * @category models
 */
export interface Any {
  readonly name: string
  readonly fields: Schema.Struct.Fields
  readonly settings: Settings
  readonly finish: (decoded: never, finishing: Finishing) => Effect.Effect<object, LlmError.LlmError>
}

/**
 * Declares a section. Without `finish`, the decoded values are the resolved ones.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * export const section = ConfigSection.make({
 *   name: "pii",
 *   fields: { pii: Schema.optionalKey(PiiGuard.PiiConfig) },
 *   settings: { "pii.mode": { env: "LLM_CONNECT_PII", kind: "string", example: "block" } }
 * })
 */
export function make<const Fields extends Schema.Struct.Fields, Resolved extends object, const S extends Settings = {}>(options: {
  readonly name: string
  readonly fields: Fields
  readonly settings?: S | undefined
  readonly finish: (decoded: Schema.Struct.Type<Fields>, finishing: Finishing) => Effect.Effect<Resolved, LlmError.LlmError>
}): ConfigSection<Fields, S, Resolved>
export function make<const Fields extends Schema.Struct.Fields, const S extends Settings = {}>(options: {
  readonly name: string
  readonly fields: Fields
  readonly settings?: S | undefined
}): ConfigSection<Fields, S, Schema.Struct.Type<Fields>>
export function make(options: {
  readonly name: string
  readonly fields: Schema.Struct.Fields
  readonly settings?: Settings | undefined
  readonly finish?: (decoded: never, finishing: Finishing) => Effect.Effect<object, LlmError.LlmError>
}): Any {
  return {
    name: options.name,
    fields: options.fields,
    settings: options.settings ?? {},
    finish: options.finish ?? ((decoded: object) => Effect.succeed(decoded))
  }
}

/**
 * A duration setting in milliseconds (`undefined` when absent), refused with its source when
 * it is not a duration, or is zero where `positive` asks for more.
 *
 * @since 0.1.0
 * @category finishing
 */
export const millis = (
  finishing: Finishing,
  setting: string,
  text: string | undefined,
  options: { readonly positive: boolean }
): Effect.Effect<number | undefined, LlmError.LlmError> => {
  if (text === undefined) return Effect.succeed(undefined)
  const parsed = DurationText.parseMillis(text)
  if (Result.isFailure(parsed)) return Effect.fail(finishing.invalid(setting, parsed.failure))
  return options.positive && parsed.success <= 0
    ? Effect.fail(finishing.invalid(setting, `${setting} must be longer than 0`))
    : Effect.succeed(parsed.success)
}

/**
 * The file keys of a list of sections, together.
 *
 * @since 0.1.0
 * @category models
 */
export type FieldsOf<Sections extends ReadonlyArray<Any>> = Types.Simplify<
  Types.UnionToIntersection<Sections[number]["fields"]>
>

/**
 * The resolved configuration of a list of sections: what their `finish`es return, together.
 *
 * @since 0.1.0
 * @category models
 */
export type ResolvedOf<Sections extends ReadonlyArray<Any>> = Types.Simplify<
  Types.UnionToIntersection<Effect.Success<ReturnType<Sections[number]["finish"]>>>
>

/**
 * Sections composed into one configuration: their fields (in list order), every setting, and
 * a lookup by dotted path.
 *
 * @since 0.1.0
 * @category models
 */
export interface Composition<Sections extends ReadonlyArray<Any>> {
  readonly sections: Sections
  readonly fields: FieldsOf<Sections>
  readonly settings: ReadonlyArray<Setting>
  readonly setting: (path: string) => Setting | undefined
  /** Runs every section's `finish` on the decoded document, in list order. */
  readonly finish: (decoded: object, finishing: Finishing) => Effect.Effect<ResolvedOf<Sections>, LlmError.LlmError>
}

/**
 * Composes sections. Two sections that declare the same name, file key, setting, variable or
 * flag, or a setting outside the section's own keys, are a defect: this throws at module load.
 *
 * @since 0.1.0
 * @category constructors
 */
export const compose = <const Sections extends ReadonlyArray<Any>>(sections: Sections): Composition<Sections> => {
  const owners = new Map<string, string>()
  const claim = (what: string, by: string) => {
    const previous = owners.get(what)
    if (previous !== undefined) {
      throw new Error(`config sections "${previous}" and "${by}" both declare ${what}; each must be declared once`)
    }
    owners.set(what, by)
  }
  const fields: Record<string, Schema.Struct.Fields[string]> = {}
  const settings: Array<Setting> = []
  for (const section of sections) {
    claim(`the section name "${section.name}"`, section.name)
    for (const [key, schema] of Object.entries(section.fields)) {
      claim(`the file key "${key}"`, section.name)
      fields[key] = schema
    }
    for (const [dotted, spec] of Object.entries(section.settings)) {
      const path = dotted.split(".")
      if (!Object.hasOwn(section.fields, path[0]!)) {
        throw new Error(`config section "${section.name}" declares the setting "${dotted}" outside its own keys`)
      }
      if (spec.env !== undefined) claim(`the variable ${spec.env}`, section.name)
      if (spec.flag !== undefined) claim(`the flag --${spec.flag.name}`, section.name)
      settings.push({ ...spec, path, section: section.name })
    }
  }
  const byPath = new Map(settings.map((setting) => [setting.path.join("."), setting]))
  return {
    sections,
    fields: fields as FieldsOf<Sections>,
    settings,
    setting: (path) => byPath.get(path),
    finish: (decoded, finishing) =>
      Effect.map(
        Effect.forEach(sections, (section) => {
          const own: Record<string, unknown> = {}
          for (const key of Object.keys(section.fields)) {
            if (Object.hasOwn(decoded, key)) own[key] = (decoded as Record<string, unknown>)[key]
          }
          // `decoded` was decoded by a Schema holding this section's fields, so `own` is its Type.
          return (section.finish as (decoded: object, finishing: Finishing) => Effect.Effect<object, LlmError.LlmError>)(own, finishing)
        }),
        (parts) => Object.assign({}, ...parts) as ResolvedOf<Sections>
      )
  }
}
