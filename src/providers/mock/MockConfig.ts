/**
 * The `mock:` section of the configuration: how the embedded mock provider answers, from the
 * file, `LLM_CONNECT_MOCK_*` or the `--mock-*` flags.
 *
 * ```yaml
 * mock:
 *   reply: echo              # a fixed reply, or "echo" (repeats the prompt)
 *   latency: 250ms           # per call; per chunk when streaming
 *   faults: ["429:2s", ok]   # or "429:2s,ok": the next calls fail in order (see MockFault);
 *                            # "cut:2" ends a stream after 2 chunks with a Network error
 *   toolCalls: calls.yaml    # scripted tool calls: a file, or the script inline (MockToolCalls)
 * ```
 *
 * The fault script is checked at start-up (a bad token names its source); the resolved section
 * holds the latency in milliseconds and the script as a list of tokens. {@link mockOptions}
 * turns it into the mock provider's options.
 *
 * @since 0.1.0
 */
import { Effect, type FileSystem, type Path, Result, Schema } from "effect"
import * as ConfigSection from "../../ConfigSection.ts"
import * as DurationText from "../../DurationText.ts"
import * as DataFile from "../../internal/dataFile.ts"
import type * as LlmError from "../../LlmError.ts"
import * as MockFault from "./MockFault.ts"
import * as MockToolCalls from "./MockToolCalls.ts"

/**
 * The `mock:` section's Schema.
 *
 * @since 0.1.0
 * @category schemas
 */
export const MockSection = Schema.Struct({
  reply: Schema.optionalKey(Schema.String).annotate({ description: "Fixed reply text, or \"echo\"." }),
  latency: Schema.optionalKey(DurationText.DurationString),
  faults: Schema.optionalKey(Schema.Union([Schema.String, Schema.Array(Schema.Union([Schema.String, Schema.Int]))]))
    .annotate({ description: "Fault script, e.g. \"429,500\" or [\"429:2s\", \"timeout\", \"cut:2\"] (cut:N ends a stream after N chunks)." }),
  toolCalls: Schema.optionalKey(Schema.Union([Schema.String, MockToolCalls.Script])).annotate({
    description: "Scripted tool calls: a YAML/JSON file, or the script itself (a list of calls { name, arguments }, or a list of turns)."
  })
}).annotate({ identifier: "MockSection" })

/**
 * The mock's settings, resolved: the latency in milliseconds, the fault script as tokens
 * (empty when none).
 *
 * @since 0.1.0
 * @category models
 */
export interface MockSettings {
  readonly reply?: string | undefined
  readonly latencyMs?: number | undefined
  readonly faults: ReadonlyArray<string>
  /** The file of scripted tool calls, until {@link readToolCalls} reads it. */
  readonly toolCallsFile?: string | undefined
  /** Scripted tool calls, as turns. */
  readonly toolCalls?: MockToolCalls.Turns | undefined
}

/**
 * The section, resolved: always present.
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly mock: MockSettings
}

const tokensOf = (faults: string | ReadonlyArray<string | number> | undefined): ReadonlyArray<string> =>
  faults === undefined
    ? []
    : typeof faults === "string"
    ? faults.split(",").map((token) => token.trim()).filter((token) => token !== "")
    : faults.map(String)

/**
 * The section.
 *
 * @since 0.1.0
 * @category sections
 */
export const section = ConfigSection.make({
  name: "mock",
  fields: { mock: Schema.optionalKey(MockSection) },
  settings: {
    "mock.reply": {
      env: "LLM_CONNECT_MOCK_REPLY",
      flag: { name: "mock-reply", metavar: "TEXT", description: "the mock's reply (\"echo\" repeats the prompt)" },
      kind: "string",
      example: "echo"
    },
    "mock.latency": {
      env: "LLM_CONNECT_MOCK_LATENCY",
      flag: { name: "mock-latency", metavar: "DURATION", description: "the mock's latency (per chunk when streaming), e.g. 250ms" },
      kind: "string",
      example: "250ms"
    },
    "mock.faults": {
      env: "LLM_CONNECT_MOCK_FAULTS",
      flag: {
        name: "mock-faults",
        metavar: "SCRIPT",
        description:
          "fail the next calls, e.g. 429,500 (ok, 429[:2s], 5xx, timeout, hang, network, cut:N (a stream dropped after N chunks), malformed, auth, 400)"
      },
      kind: "list",
      example: "429,500"
    },
    "mock.toolCalls": {
      env: "LLM_CONNECT_MOCK_TOOL_CALLS",
      flag: {
        name: "mock-tool-calls",
        metavar: "FILE",
        description: "a YAML/JSON script of tool calls the mock makes when a request declares tools (see docs/tools.md)"
      },
      kind: "string",
      example: "tool-calls.yaml"
    }
  },
  finish: ({ mock }, finishing) =>
    Effect.gen(function*() {
      const latencyMs = yield* ConfigSection.millis(finishing, "mock.latency", mock?.latency, { positive: false })
      const faults = tokensOf(mock?.faults)
      const script = MockFault.parseScript(faults)
      if (Result.isFailure(script)) return yield* Effect.fail(finishing.invalid("mock.faults", script.failure))
      const toolCalls = mock?.toolCalls
      if (typeof toolCalls === "string" && toolCalls.trim() === "") {
        return yield* Effect.fail(finishing.invalid("mock.toolCalls", "mock.toolCalls names no file"))
      }
      const resolved: Resolved = {
        mock: {
          ...(mock?.reply !== undefined ? { reply: mock.reply } : {}),
          ...(latencyMs !== undefined ? { latencyMs } : {}),
          faults,
          ...(typeof toolCalls === "string"
            ? { toolCallsFile: toolCalls }
            : toolCalls !== undefined
            ? { toolCalls: MockToolCalls.toTurns(toolCalls) }
            : {})
        }
      }
      return resolved
    })
})

/**
 * The mock provider's options (`reply`, `latency`, `faults`) from a resolved configuration.
 *
 * @since 0.1.0
 * @category accessors
 */
export const mockOptions = (config: Resolved): Record<string, unknown> => ({
  ...(config.mock.reply !== undefined ? { reply: config.mock.reply } : {}),
  ...(config.mock.latencyMs !== undefined ? { latency: config.mock.latencyMs } : {}),
  ...(config.mock.faults.length > 0 ? { faults: config.mock.faults } : {}),
  ...(config.mock.toolCalls !== undefined ? { toolCalls: config.mock.toolCalls } : {})
})

/**
 * Reads the file of scripted tool calls `mock.toolCalls` names (relative to the working
 * directory), if any, into the section's `toolCalls`: a missing, malformed or invalid file is a
 * `Configuration` error naming it and where it was named.
 *
 * @since 0.1.0
 * @category loading
 */
export const readToolCalls = <C extends Resolved>(
  config: C,
  source: ConfigSection.Source | undefined
): Effect.Effect<C, LlmError.LlmError, FileSystem.FileSystem | Path.Path> => {
  const file = config.mock.toolCallsFile
  if (file === undefined) return Effect.succeed(config)
  return Effect.map(
    DataFile.read(MockToolCalls.Script, file, {
      setting: "mock.toolCalls",
      via: source === undefined ? "mock.toolCalls" : ConfigSection.describeSource(source),
      example: "- name: get_weather\n  arguments: { city: Paris }"
    }),
    (script) => {
      const { toolCallsFile: _, ...mock } = config.mock
      return { ...config, mock: { ...mock, toolCalls: MockToolCalls.toTurns(script) } }
    }
  )
}
