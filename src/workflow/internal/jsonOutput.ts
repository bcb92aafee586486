/**
 * Reads a model's reply as JSON and checks it against a Schema (internal).
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as LlmError from "../../LlmError.ts"
import type { LlmResponse } from "../../LlmResponse.ts"
import { schemaProblems } from "./schemaIssues.ts"

const fence = /^\s*```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/

/**
 * Parses a reply as JSON (a Markdown code fence around it is accepted) and decodes it with
 * `schema`; a reply that is not JSON or does not match fails with `ResponseMalformed`, naming
 * the step and every problem.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeReply = (
  step: string,
  response: LlmResponse,
  schema: Schema.Top | undefined
): Effect.Effect<unknown, LlmError.LlmError> => {
  const fail = (description: string) =>
    Effect.fail(LlmError.make(response.provider, new LlmError.ResponseMalformed({ description }), { model: response.model }))
  const text = response.content.match(fence)?.[1] ?? response.content
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return fail(`step "${step}" expects a JSON reply, but the model answered with text that is not JSON`)
  }
  if (schema === undefined) return Effect.succeed(value)
  const problems = schemaProblems(schema, value)
  if (problems.length > 0) {
    return fail(`step "${step}": the JSON reply does not match its schema: ${
      problems.map((problem) => `${problem.path.length > 0 ? `${problem.path.join(".")}: ` : ""}${problem.message}`).join("; ")
    }`)
  }
  return Effect.succeed(Schema.decodeUnknownSync(schema as Schema.Codec<unknown, unknown>)(value))
}
