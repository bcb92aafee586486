/**
 * Where a provider's API key comes from, for every provider alike.
 *
 * In order: an explicit value (a program's option, or `providers.<name>.apiKey` in the config
 * file) -> the environment (the provider's `keyEnv` list, e.g. `OPENAI_API_KEY`; for gemini
 * `GEMINI_API_KEY` then `GOOGLE_API_KEY`) -> a key file (`providers.<name>.keyFile`, else
 * `$LLM_CONNECT_KEY_DIR/<provider>.key`, by default `~/.config/llm-connect/<provider>.key`; a
 * leading `~/` means the home directory).
 * When none has it, the error names all three places. Keys are always `Redacted`; {@link find}
 * says whether and where a key was found without revealing it (for `llm-connect providers`).
 *
 * Variables are read through `Config`, files through `FileSystem`, so tests control both.
 *
 * @since 0.1.0
 */
import { Config, Effect, FileSystem, Option, Path, Redacted } from "effect"
import * as LlmError from "./LlmError.ts"
import type { Provider } from "./ProviderRegistry.ts"

/**
 * The variable naming the key directory.
 *
 * @since 0.1.0
 * @category settings
 */
export const KEY_DIR_ENV = "LLM_CONNECT_KEY_DIR"

/**
 * Where a key was found (never the key itself).
 *
 * @since 0.1.0
 * @category models
 */
export type KeySource =
  | { readonly _tag: "Explicit" }
  | { readonly _tag: "Env"; readonly variable: string }
  | { readonly _tag: "File"; readonly path: string }
  | { readonly _tag: "NotNeeded" }
  | { readonly _tag: "Missing"; readonly looked: ReadonlyArray<string> }

/**
 * A resolved key and where it came from.
 *
 * @since 0.1.0
 * @category models
 */
export interface FoundKey {
  readonly key: Redacted.Redacted<string>
  readonly source: KeySource
}

/**
 * What to look for: the provider's entry (its name, `keyEnv`, `requiresKey`), an explicit key
 * and an explicit key file.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly provider: Pick<Provider, "name" | "keyEnv" | "requiresKey">
  readonly explicit?: Redacted.Redacted<string> | undefined
  readonly keyFile?: string | undefined
}

const optionalString = (name: string) =>
  Effect.orElseSucceed(Config.option(Config.String(name)), () => Option.none<string>())

const homeDirectory: Effect.Effect<string | undefined> = Effect.gen(function*() {
  const home = yield* optionalString("HOME")
  const profile = Option.isSome(home) && home.value !== "" ? home : yield* optionalString("USERPROFILE")
  return Option.isSome(profile) && profile.value !== "" ? profile.value : undefined
})

/** Expands a leading `~/` to the home directory. */
const expandHome = (file: string): Effect.Effect<string, never, Path.Path> =>
  Effect.gen(function*() {
    if (file !== "~" && !file.startsWith("~/")) return file
    const home = yield* homeDirectory
    const path = yield* Path.Path
    return home === undefined ? file : path.join(home, file.slice(1))
  })

/**
 * The directory of key files: `$LLM_CONNECT_KEY_DIR`, else `$HOME/.config/llm-connect`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const keyDirectory: Effect.Effect<string | undefined, never, Path.Path> = Effect.gen(function*() {
  const path = yield* Path.Path
  const explicit = yield* optionalString(KEY_DIR_ENV)
  if (Option.isSome(explicit) && explicit.value !== "") return yield* expandHome(explicit.value)
  const home = yield* homeDirectory
  return home !== undefined ? path.join(home, ".config", "llm-connect") : undefined
})

/**
 * The key file looked at for a provider.
 *
 * @since 0.1.0
 * @category accessors
 */
export const keyFilePath = (options: Options): Effect.Effect<string | undefined, never, Path.Path> =>
  Effect.gen(function*() {
    if (options.keyFile !== undefined) return yield* expandHome(options.keyFile)
    const path = yield* Path.Path
    const dir = yield* keyDirectory
    return dir === undefined ? undefined : path.join(dir, `${options.provider.name}.key`)
  })

/**
 * What {@link find} gives: a key and its source, or why there is none.
 *
 * @since 0.1.0
 * @category models
 */
export type FindResult = FoundKey | Extract<KeySource, { readonly _tag: "NotNeeded" | "Missing" }>

/**
 * Looks for a key without failing: the key (redacted) and where it was found, or `Missing` with
 * the places looked at. A provider that needs no key gives `NotNeeded` when none is found.
 *
 * @since 0.1.0
 * @category resolving
 */
export const find: (options: Options) => Effect.Effect<FindResult, never, FileSystem.FileSystem | Path.Path> = Effect.fn(
  "ProviderKeys.find"
)(function*(options: Options) {
  const fs = yield* FileSystem.FileSystem
  if (options.explicit !== undefined && Redacted.value(options.explicit) !== "") {
    const found: FoundKey = { key: options.explicit, source: { _tag: "Explicit" } }
    return found
  }
  for (const variable of options.provider.keyEnv) {
    const value = yield* optionalString(variable)
    if (Option.isSome(value) && value.value.trim() !== "") {
      const found: FoundKey = { key: Redacted.make(value.value.trim()), source: { _tag: "Env", variable } }
      return found
    }
  }
  const file = yield* keyFilePath(options)
  if (file !== undefined) {
    const text = yield* Effect.orElseSucceed(fs.readFileString(file), () => "")
    if (text.trim() !== "") {
      const found: FoundKey = { key: Redacted.make(text.trim()), source: { _tag: "File", path: file } }
      return found
    }
  }
  if (!options.provider.requiresKey) return { _tag: "NotNeeded" } as const
  const looked = [
    `an explicit key (providers.${options.provider.name}.apiKey in the config file)`,
    ...(options.provider.keyEnv.length > 0 ? [`the environment (${options.provider.keyEnv.join(", ")})`] : []),
    `the key file ${file ?? `$${KEY_DIR_ENV}/${options.provider.name}.key`}`
  ]
  return { _tag: "Missing", looked } as const
})

/**
 * Whether {@link find} found a key.
 *
 * @since 0.1.0
 * @category guards
 */
export const isFound = (result: FindResult): result is FoundKey => "key" in result

/**
 * Resolves a provider's key, failing with `LlmError` (reason `Configuration`) that names all
 * three places when a key is needed and none is found. Gives `undefined` for a provider that
 * needs no key and has none.
 *
 * @since 0.1.0
 * @category resolving
 * @example
 * const found = yield* ProviderKeys.resolve({ provider: openAiProvider })
 */
export const resolve: (
  options: Options
) => Effect.Effect<FoundKey | undefined, LlmError.LlmError, FileSystem.FileSystem | Path.Path> = Effect.fn(
  "ProviderKeys.resolve"
)(function*(options: Options) {
  const result = yield* find(options)
  if (isFound(result)) return result
  if (result._tag !== "Missing") return undefined
  const name = options.provider.name
  const envHint = options.provider.keyEnv[0]
  return yield* Effect.fail(
    LlmError.make(
      name,
      new LlmError.Configuration({
        description: `no API key for ${name}: looked in ${result.looked.join(", then ")}`,
        setting: `providers.${name}.apiKey`,
        fix: `${envHint !== undefined ? `export ${envHint}=<your key>, or ` : ""}write the key into ${
          result.looked.at(-1)!.replace("the key file ", "")
        } (or use --provider mock to try without a key)`
      })
    )
  )
})

/**
 * Describes where a key was found, for `llm-connect providers`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (result: FindResult): string => {
  const source = isFound(result) ? result.source : result
  switch (source._tag) {
    case "Explicit":
      return "found in the config file"
    case "Env":
      return `found in ${source.variable}`
    case "File":
      return `found in ${source.path}`
    case "NotNeeded":
      return "not needed"
    case "Missing":
      return "missing"
  }
}
