/**
 * Every problem a Schema finds in a value, as `{ path, message }` pairs (internal).
 *
 * @since 0.1.0
 */
import { Exit, Schema, SchemaIssue } from "effect"

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * One problem, with the path of keys/indexes where it was found.
 *
 * @since 0.1.0
 * @category models
 */
export interface SchemaProblem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

/**
 * Decodes `value` with `schema` and returns every problem (empty when it is valid).
 *
 * @since 0.1.0
 * @category validation
 */
export const schemaProblems = (
  schema: Schema.Top,
  value: unknown,
  options: { readonly onExcessProperty?: "ignore" | "error" } = {}
): ReadonlyArray<SchemaProblem> => {
  const exit = Schema.decodeUnknownExit(schema as Schema.Codec<unknown, unknown>)(value, { errors: "all", ...options })
  if (Exit.isSuccess(exit)) return []
  const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (error === undefined || !Schema.isSchemaError(error.error)) return [{ path: [], message: String(exit.cause) }]
  return formatter(error.error.issue).issues.map((issue) => ({
    path: (issue.path ?? []).map((segment) => (typeof segment === "object" ? segment.key : segment)),
    message: issue.message
  }))
}

/**
 * Decodes `value` with `schema`, returning the decoded value or the problems.
 *
 * @since 0.1.0
 * @category validation
 */
export const decodeOrProblems = <A>(
  schema: Schema.Codec<A, unknown>,
  value: unknown
): { readonly value: A } | { readonly problems: ReadonlyArray<SchemaProblem> } => {
  const exit = Schema.decodeUnknownExit(schema)(value, { errors: "all" })
  if (Exit.isSuccess(exit)) return { value: exit.value }
  return { problems: schemaProblems(schema, value) }
}
