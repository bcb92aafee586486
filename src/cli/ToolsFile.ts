/**
 * The tools of `llm-connect prompt --tools FILE --tool-choice CHOICE`: the file read (YAML or
 * JSON: a list of `{ name, description, parameters }`), each tool's parameters converted with
 * Effect's JSON Schema support (`Tool.fromDefinition`: a keyword it cannot express is refused),
 * and the tool choice parsed and checked against the declared names. Every bad input is a
 * `Configuration` error (exit 2) that names the file, the tool and what to change.
 *
 * @since 0.1.0
 */
import { Effect, type FileSystem, type Path, Result, Schema } from "effect"
import * as DataFile from "../internal/dataFile.ts"
import * as LlmError from "../LlmError.ts"
import * as Tool from "../Tool.ts"
import * as ToolCall from "../ToolCall.ts"

/**
 * What a `--tools` file holds: a list of tool definitions.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolsFile = Schema.Array(Tool.Definition).annotate({
  identifier: "ToolsFile",
  title: "llm-connect --tools file",
  description: "A YAML or JSON list of tools: { name, description, parameters } with parameters as a JSON Schema object."
})

const EXAMPLE = "- name: get_weather\n  description: The weather in a city\n  parameters: { type: object, properties: { city: { type: string } }, required: [city] }"

const configuration = (setting: string, description: string, fix: string) =>
  LlmError.make("config", new LlmError.Configuration({ description, setting, fix }))

/**
 * The tools and tool choice of a request, ready to spread into it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Declared {
  readonly tools?: ReadonlyArray<Tool.Definition>
  readonly toolChoice?: Tool.ToolChoice
}

/**
 * What `load` gives: the request's fields, and each declared tool with the Schema its calls are
 * checked with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded {
  readonly request: Declared
  readonly tools: ReadonlyMap<string, Tool.Dynamic>
}

/**
 * Parses `--tool-choice`: `auto`, `none`, `required`, or a tool's name.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseChoice = (text: string): Tool.ToolChoice =>
  text === "auto" || text === "none" || text === "required" ? text : { tool: text }

/**
 * Reads the tools file (if given) and the tool choice (if given), converted and checked.
 *
 * @since 0.1.0
 * @category loading
 */
export const load = (options: {
  readonly file: string | undefined
  readonly choice: string | undefined
}): Effect.Effect<Loaded, LlmError.LlmError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    let tools: ReadonlyArray<Tool.Definition> | undefined
    const byName = new Map<string, Tool.Dynamic>()
    if (options.file !== undefined) {
      const definitions = yield* DataFile.read(ToolsFile, options.file, { setting: "tools", via: "--tools", example: EXAMPLE })
      for (const definition of definitions) {
        const converted = Tool.fromDefinition(definition)
        if (Result.isFailure(converted)) {
          return yield* Effect.fail(configuration(
            "tools",
            `${options.file}: ${converted.failure}`,
            "use JSON Schema keywords Effect can express (type, properties, required, enum, items, anyOf, minimum, pattern...), see docs/tools.md"
          ))
        }
        byName.set(definition.name, converted.success)
      }
      tools = definitions
    }
    if (options.choice === undefined) return { request: tools === undefined ? {} : { tools }, tools: byName }
    if (options.choice.trim() === "") {
      return yield* Effect.fail(configuration("toolChoice", "--tool-choice is empty", "pass auto, none, required or the name of a tool"))
    }
    const toolChoice = parseChoice(options.choice)
    const problem = Tool.checkDeclarations(tools, toolChoice)
    if (problem !== undefined) {
      return yield* Effect.fail(configuration(
        problem.parameter,
        `--tool-choice ${options.choice}: ${problem.description}`,
        tools === undefined ? "declare tools with --tools FILE" : `name a tool of ${options.file}, or pass auto, none or required`
      ))
    }
    return { request: { ...(tools !== undefined ? { tools } : {}), toolChoice }, tools: byName }
  })

/**
 * One line of human output for a tool call: `tool call NAME ARGUMENTS (id ID)`; for arguments
 * that are not JSON, the raw text and why; for arguments that do not match the declared tool's
 * parameters (checked with the Schema converted from its JSON Schema), what is wrong.
 *
 * @since 0.1.0
 * @category output
 */
export const callLine = (call: ToolCall.ToolCall, tool?: Tool.Dynamic): string => {
  if (ToolCall.isUnparsed(call)) {
    return `tool call ${call.name} ${call.rawArguments} (id ${call.id}; arguments are not JSON: ${call.argumentsError})`
  }
  const line = `tool call ${call.name} ${JSON.stringify(call.arguments)} (id ${call.id}`
  if (tool === undefined) return `${line})`
  const checked = Schema.decodeUnknownResult(tool.parametersSchema)(call.arguments)
  return Result.isSuccess(checked)
    ? `${line})`
    : `${line}; arguments do not match its parameters: ${checked.failure.message.replace(/\s*\n\s*/g, " ")})`
}
