/**
 * The `pii:` section of the configuration (`PiiGuard.PiiConfig`): whether prompts are scanned
 * for personal data, and what happens to a finding. `LLM_CONNECT_PII` sets the mode.
 *
 * ```yaml
 * pii:
 *   mode: block           # or redact; LLM_CONNECT_PII=block
 *   kinds: [email, iban]  # default: every kind
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as ConfigSection from "../ConfigSection.ts"
import * as PiiGuard from "./PiiGuard.ts"

/**
 * The section.
 *
 * @since 0.1.0
 * @category sections
 */
export const section = ConfigSection.make({
  name: "pii",
  fields: { pii: Schema.optionalKey(PiiGuard.PiiConfig) },
  settings: {
    "pii.mode": { env: "LLM_CONNECT_PII", kind: "string", example: "block", expected: "redact or block" }
  }
})
