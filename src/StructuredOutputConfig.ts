/**
 * The configuration of structured output: `repairAttempts`, how many more requests a
 * structured-output call (`LanguageModel.generateObject`, `llm-connect prompt --schema`) makes
 * when the answer does not decode. Default 1 (at most two requests); 0 to 5.
 *
 * ```yaml
 * repairAttempts: 0        # or --repair-attempts / LLM_CONNECT_REPAIR_ATTEMPTS
 * ```
 *
 * A program passes it per call (`generateObject({ repairAttempts })`); the CLI reads it from
 * here.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as ConfigSection from "./ConfigSection.ts"
import * as ResponseFormat from "./ResponseFormat.ts"

/**
 * The repair attempts a config may set: a whole number from 0 to
 * `ResponseFormat.MAX_REPAIR_ATTEMPTS`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RepairAttempts = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: ResponseFormat.MAX_REPAIR_ATTEMPTS })).annotate({
  description: "How many more requests a structured-output call makes when the answer does not decode (default 1)."
})

/**
 * The section.
 *
 * @since 0.1.0
 * @category sections
 */
export const section = ConfigSection.make({
  name: "structuredOutput",
  fields: { repairAttempts: Schema.optionalKey(RepairAttempts) },
  settings: {
    repairAttempts: {
      env: "LLM_CONNECT_REPAIR_ATTEMPTS",
      flag: {
        name: "repair-attempts",
        metavar: "N",
        description: `with --schema: more requests when the answer does not decode (default 1, at most ${ResponseFormat.MAX_REPAIR_ATTEMPTS})`
      },
      kind: "integer",
      example: "1",
      expected: `a whole number from 0 to ${ResponseFormat.MAX_REPAIR_ATTEMPTS}`
    }
  }
})
