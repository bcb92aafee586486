/**
 * Flags declaring tools for one prompt: `--tools FILE` (a YAML/JSON list of `{ name,
 * description, parameters }`, parameters as JSON Schema) and `--tool-choice
 * auto|none|required|NAME`. Read by `../ToolsFile.ts`. No tool is executed from the CLI: the
 * model's calls are printed.
 *
 * @since 0.1.0
 */
import { Flag } from "effect/cli"

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = {
  tools: Flag.String("tools").pipe(
    Flag.withMetavar("FILE"),
    Flag.withDescription("declare tools: a YAML/JSON list of { name, description, parameters } (parameters as JSON Schema)"),
    Flag.optional
  ),
  toolChoice: Flag.String("tool-choice").pipe(
    Flag.withMetavar("auto|none|required|NAME"),
    Flag.withDescription("whether the model may (auto), must not (none) or must (required) call a tool, or which one (NAME)"),
    Flag.optional
  )
}
