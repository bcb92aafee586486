/**
 * Flags asking for structured output: `--schema FILE.json` (a JSON Schema whose root is an
 * object; read by `../SchemaFile.ts`) and `--repair-attempts N` (from
 * `StructuredOutputConfig.section`, so also `repairAttempts` in the file and
 * `LLM_CONNECT_REPAIR_ATTEMPTS`).
 *
 * @since 0.1.0
 */
import { Flag } from "effect/cli"
import * as StructuredOutputConfig from "../../StructuredOutputConfig.ts"
import * as SettingFlags from "./SettingFlags.ts"

/**
 * The `--schema` flag.
 *
 * @since 0.1.0
 * @category flags
 */
export const schema = Flag.String("schema").pipe(
  Flag.withMetavar("FILE.json"),
  Flag.withDescription("ask for a JSON object matching this JSON Schema and print it decoded (--json: in field object)"),
  Flag.optional
)

/**
 * The settings flags of this group (`--repair-attempts`).
 *
 * @since 0.1.0
 * @category flags
 */
export const settings = SettingFlags.group(StructuredOutputConfig.section.settings)
