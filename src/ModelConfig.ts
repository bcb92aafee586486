/**
 * The configuration's first keys: which provider and model to call, and how each request is
 * shaped (`provider`, `model`, `system`, `baseUrl`, `maxTokens`, `temperature`, `timeout`).
 *
 * ```yaml
 * provider: openai        # or --provider / LLM_CONNECT_PROVIDER; mock when nothing names one
 * model: gpt-4o-mini
 * maxTokens: 512
 * timeout: 30s            # bounds the whole call; resolved as timeoutMs
 * ```
 *
 * The provider is `mock` unless a flag, `LLM_CONNECT_PROVIDER` or the file names one: an API key
 * in the environment never selects a paid provider by itself.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as BaseUrl from "./BaseUrl.ts"
import * as ConfigSection from "./ConfigSection.ts"
import * as DurationText from "./DurationText.ts"

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const NonEmpty = Schema.String.check(Schema.isNonEmpty())

/**
 * The section's file keys.
 *
 * @since 0.1.0
 * @category schemas
 */
export const fields = {
  provider: Schema.optionalKey(NonEmpty).annotate({ description: "The provider, e.g. mock or openai." }),
  model: Schema.optionalKey(NonEmpty),
  system: Schema.optionalKey(Schema.String),
  baseUrl: Schema.optionalKey(BaseUrl.BaseUrlString),
  maxTokens: Schema.optionalKey(PositiveInt),
  temperature: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 2 }))),
  timeout: Schema.optionalKey(DurationText.DurationString)
}

/**
 * The section's values, resolved: the provider always set, the timeout in milliseconds.
 *
 * @since 0.1.0
 * @category models
 */
export type Resolved = Omit<Schema.Struct.Type<typeof fields>, "provider" | "timeout"> & {
  readonly provider: string
  readonly timeoutMs?: number | undefined
}

/**
 * The section. Its settings are listed in the order of the CLI's help.
 *
 * @since 0.1.0
 * @category sections
 */
export const section = ConfigSection.make({
  name: "model",
  fields,
  settings: {
    provider: {
      env: "LLM_CONNECT_PROVIDER",
      flag: { name: "provider", metavar: "NAME", description: "provider to call (default: mock; see `llm-connect providers`)" },
      kind: "string",
      example: "mock"
    },
    model: {
      env: "LLM_CONNECT_MODEL",
      flag: { name: "model", metavar: "MODEL", description: "model name (default: the provider's)" },
      kind: "string",
      example: "gpt-4o-mini"
    },
    baseUrl: {
      env: "LLM_CONNECT_BASE_URL",
      flag: { name: "base-url", metavar: "URL", description: "the provider's endpoint, e.g. a local OpenAI-compatible server" },
      kind: "string",
      example: BaseUrl.EXAMPLE
    },
    system: {
      env: "LLM_CONNECT_SYSTEM",
      flag: { name: "system", metavar: "TEXT", description: "system prompt" },
      kind: "string",
      example: "You are terse."
    },
    maxTokens: {
      env: "LLM_CONNECT_MAX_TOKENS",
      flag: { name: "max-tokens", metavar: "N", description: "most output tokens" },
      kind: "integer",
      example: "512",
      expected: "a whole number greater than 0"
    },
    temperature: {
      env: "LLM_CONNECT_TEMPERATURE",
      flag: { name: "temperature", metavar: "T", description: "sampling temperature, 0 to 2" },
      kind: "number",
      example: "0.7",
      expected: "a number from 0 to 2"
    },
    timeout: {
      env: "LLM_CONNECT_TIMEOUT",
      flag: {
        name: "timeout",
        metavar: "DURATION",
        description: "bound on the whole call, e.g. 30s (exit code 3 when it runs out)"
      },
      kind: "string",
      example: "30s"
    }
  },
  finish: ({ provider, timeout, ...rest }, finishing) =>
    Effect.map(
      ConfigSection.millis(finishing, "timeout", timeout, { positive: true }),
      (timeoutMs): Resolved => ({ ...rest, provider: provider ?? "mock", ...(timeoutMs !== undefined ? { timeoutMs } : {}) })
    )
})
