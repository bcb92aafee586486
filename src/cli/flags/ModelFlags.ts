/**
 * Flags choosing the model and shaping the request: `--provider`, `--model`, `--base-url`, `--system`,
 * `--max-tokens`, `--temperature`, `--timeout`. Keys are the settings' paths in the config file.
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
  provider: Flag.String("provider").pipe(
    Flag.withMetavar("NAME"),
    Flag.withDescription("provider to call (default: mock; see `llm-connect providers`)"),
    Flag.optional
  ),
  model: Flag.String("model").pipe(Flag.withMetavar("MODEL"), Flag.withDescription("model name (default: the provider's)"), Flag.optional),
  baseUrl: Flag.String("base-url").pipe(
    Flag.withMetavar("URL"),
    Flag.withDescription("the provider's endpoint, e.g. a local OpenAI-compatible server"),
    Flag.optional
  ),
  system: Flag.String("system").pipe(Flag.withMetavar("TEXT"), Flag.withDescription("system prompt"), Flag.optional),
  maxTokens: Flag.Int("max-tokens").pipe(Flag.withMetavar("N"), Flag.withDescription("most output tokens"), Flag.optional),
  temperature: Flag.Finite("temperature").pipe(Flag.withMetavar("T"), Flag.withDescription("sampling temperature, 0 to 2"), Flag.optional),
  timeout: Flag.String("timeout").pipe(
    Flag.withMetavar("DURATION"),
    Flag.withDescription("bound on the whole call, e.g. 30s (exit code 3 when it runs out)"),
    Flag.optional
  )
} as const
