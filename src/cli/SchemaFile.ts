/**
 * The schema of `llm-connect prompt --schema FILE.json`: a JSON Schema (draft 2020-12; YAML is
 * read too) whose root is an object, converted to an Effect Schema with Effect's own JSON Schema
 * support (`SchemaRepresentation.fromJsonSchemaDocument`, as `Tool.fromDefinition` does for
 * tools; `pattern`s applied), so that the answer is decoded with it. The file's JSON Schema is
 * what the provider receives, as written; its `title`, when it is a valid name, names it.
 * Every bad input is a `Configuration` error (exit 2) naming the file and what to change: a
 * file that cannot be read or parsed, a root that is not an object, a keyword Effect cannot
 * express (`if`/`then`, `dependentRequired`, `contains`, an external `$ref`...).
 *
 * @since 0.1.0
 */
import { Effect, type FileSystem, JsonSchema, type Path, Schema, SchemaRepresentation } from "effect"
import * as DataFile from "../internal/dataFile.ts"
import * as LlmError from "../LlmError.ts"
import * as LlmResponse from "../LlmResponse.ts"
import * as ResponseFormat from "../ResponseFormat.ts"
import * as Tool from "../Tool.ts"
import { Usage } from "../Usage.ts"

const EXAMPLE = "{ \"type\": \"object\", \"properties\": { \"city\": { \"type\": \"string\" } }, \"required\": [\"city\"] }"

const configuration = (description: string, fix: string) =>
  LlmError.make("config", new LlmError.Configuration({ description, setting: "schema", fix }))

/**
 * A loaded schema file: the JSON Schema as written, the Schema converted from it, and the name
 * it is sent under.
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded {
  readonly jsonSchema: Record<string, unknown>
  readonly schema: Schema.Codec<unknown, unknown>
  readonly name: string | undefined
}

/**
 * Reads and converts a `--schema` file.
 *
 * @since 0.1.0
 * @category loading
 */
export const load = (file: string): Effect.Effect<Loaded, LlmError.LlmError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const value = yield* DataFile.readValue(file, { setting: "schema", via: "--schema", example: EXAMPLE })
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      return yield* Effect.fail(configuration(
        `${file} (named by --schema) does not hold a JSON Schema object`,
        `write a JSON Schema whose root is an object, e.g. ${EXAMPLE}`
      ))
    }
    const jsonSchema = value as Record<string, unknown>
    const problem = ResponseFormat.check({ type: "json", schema: jsonSchema })
    if (problem !== undefined) {
      return yield* Effect.fail(configuration(`${file}: ${problem.replace("responseFormat.schema", "the schema")}`, `e.g. ${EXAMPLE}`))
    }
    let schema: Schema.Codec<unknown, unknown>
    try {
      // A JSON Schema import decodes plain JSON: no services, unknown values.
      schema = SchemaRepresentation.fromJsonSchemaDocument(
        JsonSchema.fromSchemaDraft2020_12(jsonSchema as JsonSchema.JsonSchema),
        { patterns: "apply" }
      ) as Schema.Codec<unknown, unknown>
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      return yield* Effect.fail(configuration(
        `${file}: the schema uses JSON Schema that Effect cannot express: ${message.replace(/\s*\n\s*/g, " ").replace(/\["schema"\]/g, "\$")}`,
        "use JSON Schema keywords Effect can express (type, properties, required, enum, items, anyOf, minimum, pattern...), see docs/structured-output.md"
      ))
    }
    const title = jsonSchema.title
    const name = typeof title === "string" && Tool.NAME_PATTERN.test(title) ? title : undefined
    return { jsonSchema, schema, name }
  })

/**
 * What `prompt --schema FILE --json` prints on success: the response the object was read from
 * (the last one), `object` (the decoded value), `requests` (how many requests the call made: more
 * than one when the answer was repaired) and `totalUsage` (their usage together; `usage` is the
 * last response's).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ObjectDocument = Schema.Struct({
  ...LlmResponse.LlmResponse.fields,
  object: Schema.Unknown.annotate({ description: "The decoded object: it matches the --schema file." }),
  requests: Schema.Int.check(Schema.isGreaterThan(0)).annotate({
    description: "How many requests were made: 1, or more when the answer was repaired (repairAttempts)."
  }),
  totalUsage: Usage.annotate({ description: "The usage of every request together (usage is the last one's)." })
}).annotate({ identifier: "ObjectDocument" })

/**
 * @since 0.1.0
 * @category models
 */
export type ObjectDocument = typeof ObjectDocument.Type
