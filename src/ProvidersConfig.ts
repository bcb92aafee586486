/**
 * The `providers:` section: settings per provider, by its registered name (key, key file, base
 * URL, default model and provider-specific `options`). A provider's key is `Redacted` as soon as
 * the file is read.
 *
 * ```yaml
 * providers:
 *   openai: { keyFile: ~/.secrets/openai.key, model: gpt-4o-mini }
 *   openrouter: { baseUrl: https://openrouter.ai/api/v1, options: { title: My App } }
 * ```
 *
 * `options` is any mapping by default. {@link makeSection} takes a Schema of options per
 * provider name: those providers' options are then validated at start-up with the same messages
 * as every other setting, and their shape appears in `contracts/config.schema.json`; providers
 * not in the map (plugins) keep the open mapping. The resolved `options` are the values as that
 * Schema decodes them.
 *
 * @since 0.1.0
 */
import { Effect, Redacted, Schema } from "effect"
import * as BaseUrl from "./BaseUrl.ts"
import * as ConfigSection from "./ConfigSection.ts"

const NonEmpty = Schema.String.check(Schema.isNonEmpty())

const OpenOptions = Schema.Record(Schema.String, Schema.Unknown)

const optionsDescription = "Provider-specific settings, e.g. openrouter { referer, title }, gemini { apiVersion }, " +
  "claude-code { binaryPath, timeout }; see docs/providers.md."

/**
 * One provider's entry, with the given Schema for its `options`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const providerSection = <Options extends Schema.Top>(options: Options, identifier: string) =>
  Schema.Struct({
    apiKey: Schema.optionalKey(NonEmpty).annotate({ description: "Prefer the environment or a key file." }),
    baseUrl: Schema.optionalKey(BaseUrl.BaseUrlString),
    model: Schema.optionalKey(NonEmpty),
    keyFile: Schema.optionalKey(NonEmpty).annotate({ description: "A file holding the key." }),
    options: Schema.optionalKey(options).annotate({ description: optionsDescription })
  }).annotate({ identifier })

/**
 * One entry of the `providers:` section, with open `options`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ProviderSection = providerSection(OpenOptions, "ProviderSection")

const OpenProviders = Schema.Record(Schema.String, ProviderSection)

/**
 * The Schemas of provider options, by provider name.
 *
 * @since 0.1.0
 * @category models
 */
export type OptionSchemas = Readonly<Record<string, Schema.Codec<unknown, unknown>>>

/**
 * The `providers:` Schema with, for each provider in `optionSchemas`, an entry whose `options`
 * that Schema validates; other names keep open options.
 *
 * @since 0.1.0
 * @category schemas
 */
export const providersSchema = (optionSchemas: OptionSchemas) => {
  const typed: Record<string, Schema.Top> = {}
  for (const [name, options] of Object.entries(optionSchemas)) {
    typed[name] = Schema.optionalKey(providerSection(options, `ProviderSection-${name}`))
  }
  // The open entries are the other names only, so a typed entry is checked (and reported) once.
  const names = Object.keys(optionSchemas)
  const OtherName = Schema.String.check(Schema.makeFilter((name: string) => !names.includes(name) || "a typed provider"))
  return Schema.StructWithRest(Schema.Struct(typed), [Schema.Record(OtherName, ProviderSection)])
}

/**
 * A provider's settings, resolved: the key is `Redacted`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProviderSettings {
  readonly apiKey?: Redacted.Redacted<string> | undefined
  readonly baseUrl?: string | undefined
  readonly model?: string | undefined
  readonly keyFile?: string | undefined
  readonly options?: Readonly<Record<string, unknown>> | undefined
}

/**
 * The section, resolved.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly providers: Readonly<Record<string, ProviderSettings>>
}

interface Entry {
  readonly apiKey?: string
  readonly baseUrl?: string
  readonly model?: string
  readonly keyFile?: string
  readonly options?: unknown
}

/**
 * Resolves the section. Typed options were decoded to check them; they are handed on in their
 * encoded form (e.g. `timeout: "30s"`, not a `Duration`), as written, because the provider
 * decodes its options itself when a model is created (also for options given in code).
 */
const resolveWith = (optionSchemas: OptionSchemas) => ({ providers }: { readonly providers?: Readonly<Record<string, Entry>> }) => {
  const resolved: Record<string, ProviderSettings> = {}
  for (const [name, entry] of Object.entries(providers ?? {})) {
    const { apiKey, options, ...others } = entry
    const schema = optionSchemas[name]
    const handed = options === undefined || schema === undefined ? options : Schema.encodeUnknownSync(schema)(options)
    resolved[name] = {
      ...others,
      ...(handed !== undefined ? { options: handed as Readonly<Record<string, unknown>> } : {}),
      ...(apiKey !== undefined ? { apiKey: Redacted.make(apiKey) } : {})
    }
  }
  return Effect.succeed<Resolved>({ providers: resolved })
}

const resolve = resolveWith({})

/**
 * The section with open options for every provider.
 *
 * @since 0.1.0
 * @category sections
 */
export const section = ConfigSection.make({
  name: "providers",
  fields: { providers: Schema.optionalKey(OpenProviders) },
  finish: resolve
})

/**
 * The section with a Schema for the options of the providers in `optionSchemas` (see
 * {@link providersSchema}); {@link section} when the map is empty.
 *
 * @since 0.1.0
 * @category sections
 */
export const makeSection = (optionSchemas: OptionSchemas) =>
  Object.keys(optionSchemas).length === 0 ? section : ConfigSection.make({
    name: "providers",
    fields: { providers: Schema.optionalKey(providersSchema(optionSchemas)) },
    finish: resolveWith(optionSchemas)
  })
