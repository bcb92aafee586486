/**
 * Decoding `providers.<name>.options` with a provider's own Schema, and turning the first
 * problem into a `Configuration` error that names the option, the provider and an example.
 *
 * The example comes from the option's `examples` annotation (on its encoded side, which is what
 * a user writes), so the same annotation shows in the config file's JSON Schema and in the error.
 *
 * @since 0.1.0
 * @internal
 */
import { Result, Schema, SchemaAST, SchemaIssue } from "effect"
import * as LlmError from "../../LlmError.ts"

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The `examples` annotation of the option at `key`, if the Schema is a struct that has one. */
const exampleOf = (schema: Schema.Top, key: PropertyKey | undefined): unknown => {
  if (key === undefined) return undefined
  const encoded = SchemaAST.toEncoded(schema.ast)
  if (!SchemaAST.isObjects(encoded)) return undefined
  const field = encoded.propertySignatures.find((signature) => signature.name === key)
  if (field === undefined) return undefined
  const examples = SchemaAST.resolve(field.type)?.examples
  return Array.isArray(examples) && examples.length > 0 ? examples[0] : undefined
}

const show = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value))

/**
 * Decodes a provider's raw options (absent options decode as `{}`), or fails with the
 * `Configuration` error of the first problem.
 *
 * @since 0.1.0
 * @internal
 */
export const decode = <Options>(
  provider: string,
  schema: Schema.Decoder<Options>,
  raw: unknown
): Result.Result<Options, LlmError.LlmError> => {
  const decoded = Schema.decodeUnknownResult(schema)(raw ?? {})
  if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
  const issue = formatter(decoded.failure.issue).issues[0]
  const path = (issue?.path ?? []).map((segment) =>
    typeof segment === "object" && segment !== null && "key" in segment ? segment.key : segment
  )
  // The setting is the option itself; the description names the exact place inside it.
  const setting = [`providers.${provider}.options`, ...path.slice(0, 1).map(String)].join(".")
  const where = [`providers.${provider}.options`, ...path.map(String)].join(".")
  const example = exampleOf(schema, path[0])
  return Result.fail(LlmError.make(
    provider,
    new LlmError.Configuration({
      description: `${where} is not valid for ${provider}: ${issue?.message ?? decoded.failure.message}`,
      setting,
      fix: example !== undefined
        ? `write it as e.g. ${setting}: ${show(example)}`
        : `see the options of ${provider} in docs/providers.md`
    })
  ))
}
