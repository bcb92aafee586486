/**
 * Loads a composed configuration: merges the file, the variables and the flags of every
 * section's settings into one document (flags > environment > file), validates it once with the
 * composed Schema (messages name the setting, its source and an example), then runs each
 * section's `finish`.
 *
 * @internal
 */
import { Config, Effect, Option, Schema, SchemaIssue } from "effect"
import * as ConfigSection from "../ConfigSection.ts"
import type * as LlmError from "../LlmError.ts"
import * as ConfigDocument from "./configDocument.ts"

type Source = ConfigSection.Source

/** What a load reads: flag values by dotted path, the `--config` flag, the working directory. */
export interface LoadOptions {
  readonly flags?: Readonly<Record<string, unknown>> | undefined
  readonly configFile?: string | undefined
  readonly cwd?: string | undefined
}

/** The composition and file Schema to load with, and where the file is looked for. */
export interface Loader<Sections extends ReadonlyArray<ConfigSection.Any>> {
  readonly composition: ConfigSection.Composition<Sections>
  readonly schema: Schema.Codec<object, unknown>
  readonly configEnv: string
  readonly defaultFile: string
}

/** The merged configuration, resolved, with the source of each value and the file read. */
export interface Loaded<Resolved> {
  readonly resolved: Resolved
  readonly sources: Record<string, Source>
  readonly file: string | undefined
}

/** How to write a good value in the place the bad one came from. */
const exampleFor = (setting: ConfigSection.Setting | undefined, path: string, source: Source | undefined): string => {
  const example = setting?.example ?? "see docs/configuration.md"
  const key = path.split(".").at(-1) ?? path
  switch (source?._tag) {
    case "Flag":
      return `pass e.g. ${source.flag} ${example}`
    case "Env":
      return `set e.g. ${source.variable}=${example}`
    case "File":
      return `in ${source.path} line ${source.line}, write e.g. "${key}: ${example}"`
    case "Option":
      return `pass e.g. ${optionExample(path, setting, example)}`
    default:
      return setting?.flag !== undefined ? `e.g. --${setting.flag.name} ${example}` : `see docs/configuration.md`
  }
}

// `budget.costUsd` and `0.50` -> `{ budget: { costUsd: 0.50 } }`; text values quoted.
const optionExample = (path: string, setting: ConfigSection.Setting | undefined, example: string): string => {
  const numeric = setting?.kind === "integer" || setting?.kind === "number" || /^(true|false)$/.test(example)
  const value = numeric ? example : JSON.stringify(example)
  return path.split(".").reduceRight((inner, key) => `{ ${key}: ${inner} }`, value)
}

const fromText = (setting: ConfigSection.Setting, text: string): unknown => {
  if (setting.kind === "integer" || setting.kind === "number") {
    const trimmed = text.trim()
    return trimmed !== "" && Number.isFinite(Number(trimmed)) ? Number(trimmed) : text
  }
  if (setting.kind === "list") return text.split(",").map((part) => part.trim()).filter((part) => part !== "")
  return text
}

const readEnv = (name: string): Effect.Effect<Option.Option<string>, LlmError.LlmError> =>
  Effect.mapError(
    Config.option(Config.String(name)),
    (error) => ConfigSection.configurationError(name, `cannot read ${name}: ${error.message}`, `unset ${name} or fix its value`)
  )

/** Reads, merges, validates and finishes. Variables are read through `Config`. */
export const load = Effect.fnUntraced(function*<Sections extends ReadonlyArray<ConfigSection.Any>>(
  loader: Loader<Sections>,
  options: LoadOptions
) {
  const { composition } = loader
  const file = yield* ConfigDocument.readFile({
    flag: options.configFile,
    env: yield* readEnv(loader.configEnv),
    envName: loader.configEnv,
    defaultFile: loader.defaultFile,
    cwd: options.cwd
  })
  const merged: Record<string, unknown> = {}
  const sources: Record<string, Source> = {}
  if (file !== undefined) {
    const raw = file.document.value
    if (raw !== null && raw !== undefined && (typeof raw !== "object" || Array.isArray(raw))) {
      return yield* Effect.fail(
        ConfigSection.configurationError(
          "config",
          `${file.shown} must be a mapping of settings, not ${ConfigDocument.show(raw)}`,
          `write e.g. "provider: mock" in ${file.shown}`
        )
      )
    }
    Object.assign(merged, structuredClone(raw ?? {}))
    for (const [key, line] of file.document.lines) sources[key] = { _tag: "File", path: file.shown, line }
  }
  for (const setting of composition.settings) {
    if (setting.env === undefined) continue
    const value = yield* readEnv(setting.env)
    if (Option.isSome(value) && value.value !== "") {
      ConfigDocument.setIn(merged, setting.path, fromText(setting, value.value))
      sources[setting.path.join(".")] = { _tag: "Env", variable: setting.env }
    }
  }
  for (const [key, value] of Object.entries(options.flags ?? {})) {
    if (value === undefined) continue
    const setting = composition.setting(key)
    const path = setting?.path ?? key.split(".")
    ConfigDocument.setIn(merged, path, setting !== undefined && typeof value === "string" ? fromText(setting, value) : value)
    sources[key] = { _tag: "Flag", flag: `--${setting?.flag?.name ?? key}` }
  }
  const resolved = yield* finish(loader, merged, sources, file?.shown)
  return { resolved, sources, file: file?.shown } satisfies Loaded<ConfigSection.ResolvedOf<Sections>>
})

/**
 * Validates and finishes a document a program gave (`createClient(options)`): no file, no
 * variable, no flag is read. Each value's source is `Option` (its dotted path), so messages name
 * the option and show a good value in the program's own shape. Synchronous: it needs no service.
 */
export const loadDocument = Effect.fnUntraced(function*<Sections extends ReadonlyArray<ConfigSection.Any>>(
  loader: Loader<Sections>,
  document: unknown
) {
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    return yield* Effect.fail(
      ConfigSection.configurationError(
        "options",
        `the options must be an object of settings, not ${ConfigDocument.show(document)}`,
        "pass e.g. { provider: \"mock\" }"
      )
    )
  }
  const merged: Record<string, unknown> = { ...(document as Record<string, unknown>) }
  const sources: Record<string, Source> = {}
  const visit = (value: unknown, path: ReadonlyArray<string>, depth: number): void => {
    if (path.length > 0) sources[path.join(".")] = { _tag: "Option", path: path.join(".") }
    // Bounded: a cyclic or very deep object is refused by the Schema, not walked forever.
    if (depth > 16 || typeof value !== "object" || value === null) return
    if (Object.getPrototypeOf(value) !== Object.prototype && !Array.isArray(value)) return
    for (const [key, inner] of Object.entries(value)) visit(inner, [...path, key], depth + 1)
  }
  visit(document, [], 0)
  const resolved = yield* finish(loader, merged, sources, undefined)
  return { resolved, sources, file: undefined } satisfies Loaded<ConfigSection.ResolvedOf<Sections>>
})

const finish = <Sections extends ReadonlyArray<ConfigSection.Any>>(
  loader: Loader<Sections>,
  merged: Record<string, unknown>,
  sources: Record<string, Source>,
  file: string | undefined
): Effect.Effect<ConfigSection.ResolvedOf<Sections>, LlmError.LlmError> =>
  Effect.gen(function*() {
  const { composition } = loader
  const decoded = yield* decodeMerged(loader, merged, sources, file)
  return yield* composition.finish(decoded, {
    sources,
    invalid: (setting, description) => {
      const source = sources[setting]
      return ConfigSection.configurationError(
        setting,
        `${description}${source !== undefined ? ` (from ${ConfigSection.describeSource(source)})` : ""}`,
        exampleFor(composition.setting(setting), setting, source)
      )
    }
  })
  })

const decodeMerged = <Sections extends ReadonlyArray<ConfigSection.Any>>(
  loader: Loader<Sections>,
  merged: Record<string, unknown>,
  sources: Record<string, Source>,
  file: string | undefined
): Effect.Effect<object, LlmError.LlmError> =>
  Effect.mapError(
    Schema.decodeUnknownEffect(loader.schema)(merged, { errors: "all", onExcessProperty: "error" }),
    (error) => {
      const issues = SchemaIssue.makeFormatterStandardSchemaV1()(error.issue).issues
      const lineOf = (path: ReadonlyArray<unknown> | undefined) => {
        const source = sources[(path ?? []).map(String).join(".")]
        return source?._tag === "File" ? source.line : 0
      }
      const described = [...issues]
        .sort((a, b) => lineOf(a.path) - lineOf(b.path))
        .map((issue) => describeIssue(loader, (issue.path ?? []).map(String), issue.message, merged, sources, file))
      const first = described[0]!
      if (described.length === 1) return ConfigSection.configurationError(first.setting, first.description, first.fix)
      return ConfigSection.configurationError(
        first.setting,
        `${described.length} problems: ${described.map((d, i) => `(${i + 1}) ${d.description} (${d.fix})`).join("; ")}`,
        "correct each setting above (see docs/configuration.md)"
      )
    }
  )

const describeIssue = <Sections extends ReadonlyArray<ConfigSection.Any>>(
  loader: Loader<Sections>,
  path: ReadonlyArray<string>,
  message: string,
  merged: unknown,
  sources: Record<string, Source>,
  file: string | undefined
): { setting: string; description: string; fix: string } => {
  const setting = path.join(".")
  const source = sources[setting]
  const where = source !== undefined ? ` (from ${ConfigSection.describeSource(source)})` : file !== undefined ? ` (in ${file})` : ""
  if (message === "Expected no excess property") {
    const parent = path.slice(0, -1)
    const known = ConfigDocument.knownKeys(loader.schema.ast, parent)
    const inside = parent.length === 0 ? "" : ` in ${parent.join(".")}`
    const at = source?._tag === "File" ? ` at ${source.path} line ${source.line}` : where
    return {
      setting,
      description: `unknown setting "${path.at(-1)}"${inside}${at}`,
      fix: `known settings${inside}: ${known.join(", ")}; check the spelling`
    }
  }
  const value = ConfigDocument.getIn(merged, path)
  const declared = loader.composition.setting(setting)
  const wanted = declared?.expected !== undefined
    ? `expected ${declared.expected}`
    : message.charAt(0).toLowerCase() + message.slice(1)
  return {
    setting,
    description: `invalid ${setting} = ${ConfigDocument.show(value)}${where}: ${wanted}`,
    fix: exampleFor(declared, setting, source)
  }
}
