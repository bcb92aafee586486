/**
 * Scripted tool calls for the mock provider (`--mock-tool-calls FILE`, `mock.toolCalls`,
 * `LLM_CONNECT_MOCK_TOOL_CALLS`) and for `TestModel` steps.
 *
 * A script is a list of turns, each a list of calls `{ name, arguments?, id?, rawArguments? }`;
 * a flat list of calls is one turn:
 *
 * ```yaml
 * # one turn: the first request that declares tools gets these two calls
 * - name: get_weather
 *   arguments: { city: Paris }
 * - name: get_time
 * ```
 *
 * ```yaml
 * # two turns: calls, then a plain answer (an empty turn), then scripted calls again
 * - [{ name: search, arguments: { q: rivers } }]
 * - []
 * - [{ name: search, rawArguments: '{"q": "riv' }]   # arguments that are not JSON
 * ```
 *
 * Each request that declares tools (and does not set `toolChoice: none`) takes the next turn; a
 * turn with calls is answered with them (finish reason `tool-calls`), an empty turn with the
 * mock's text reply. A scripted call must name a declared tool. With the script used up (or
 * none), a request whose tool choice is `required` or a named tool is answered with a call built
 * from the tool's JSON Schema ({@link minimalValue}: the required properties with the simplest
 * values), so the CLI shows a call without a script.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type * as LlmRequest from "../../LlmRequest.ts"
import type * as Tool from "../../Tool.ts"
import * as ToolCall from "../../ToolCall.ts"

/**
 * One scripted call: the tool's name, its arguments (any JSON; `{}` when absent), optionally its
 * id (else `mock-call-<call>-<position>`), or `rawArguments`, text sent as the arguments as is
 * (to script arguments that do not parse).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ScriptedCall = Schema.Struct({
  name: Schema.String.check(Schema.isNonEmpty()),
  arguments: Schema.optionalKey(Schema.Unknown),
  id: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())),
  rawArguments: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "MockScriptedToolCall" })

/**
 * @since 0.1.0
 * @category models
 */
export type ScriptedCall = typeof ScriptedCall.Type

/**
 * A script as written: a list of calls (one turn), or a list of turns.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Script = Schema.Union([Schema.Array(Schema.Array(ScriptedCall)), Schema.Array(ScriptedCall)]).annotate({
  identifier: "MockToolCallScript",
  description: "A list of calls { name, arguments?, id?, rawArguments? } (one turn), or a list of turns (lists of calls)."
})

/**
 * A script as turns.
 *
 * @since 0.1.0
 * @category models
 */
export type Turns = ReadonlyArray<ReadonlyArray<ScriptedCall>>

/**
 * A script's turns (a flat list of calls is one turn).
 *
 * @since 0.1.0
 * @category constructors
 */
export const toTurns = (script: typeof Script.Type): Turns => {
  if (script.length === 0) return []
  return Array.isArray(script[0]) ? script as Turns : [script as ReadonlyArray<ScriptedCall>]
}

/**
 * Decodes a script (a parsed YAML/JSON document) into turns, reporting every issue.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeTurns = (value: unknown) => Schema.decodeUnknownResult(Script)(value, { errors: "all" })

/**
 * The calls of a turn, with their ids: the scripted id, else `mock-call-<call>-<position>`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toToolCalls = (turn: ReadonlyArray<ScriptedCall>, callNumber: number): ReadonlyArray<ToolCall.ToolCall> =>
  turn.map((scripted, position) => {
    const id = scripted.id ?? `mock-call-${callNumber}-${position}`
    return scripted.rawArguments !== undefined
      ? ToolCall.fromJsonText(id, scripted.name, scripted.rawArguments)
      : ToolCall.fromValue(id, scripted.name, scripted.arguments)
  })

/**
 * The first scripted call that names a tool the request does not declare, as a message.
 *
 * @since 0.1.0
 * @category validation
 */
export const undeclared = (turn: ReadonlyArray<ScriptedCall>, request: LlmRequest.LlmRequest): string | undefined => {
  const names = (request.tools ?? []).map((tool) => tool.name)
  const missing = turn.find((call) => !names.includes(call.name))
  if (missing === undefined) return undefined
  return `the mock's tool-call script calls ${missing.name}, which the request does not declare ` +
    `(declared: ${names.length === 0 ? "none" : names.join(", ")}); fix the script or declare the tool`
}

const MAX_DEPTH = 8

/**
 * The simplest value a JSON Schema accepts, as far as it can be read: an object with its required
 * properties, the first `enum` member, `const`, 0 for a number (or its nearest bound when 0 is out of bounds), `minLength` `x`s for a
 * string, `minItems` items of an array, `false`, `null`. Bounded in depth; `$ref`s are resolved in
 * `$defs`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * MockToolCalls.minimalValue({ type: "object", properties: { city: { type: "string" } }, required: ["city"] }) // { city: "" }
 */
export const minimalValue = (schema: unknown, defs?: Readonly<Record<string, unknown>>, depth = 0): unknown => {
  if (typeof schema !== "object" || schema === null || depth > MAX_DEPTH) return null
  const node = schema as Record<string, unknown>
  const definitions = (node.$defs as Readonly<Record<string, unknown>> | undefined) ?? defs
  if (typeof node.$ref === "string" && node.$ref.startsWith("#/$defs/")) {
    return minimalValue(definitions?.[node.$ref.slice("#/$defs/".length)], definitions, depth + 1)
  }
  if ("const" in node) return node.const
  if (Array.isArray(node.enum) && node.enum.length > 0) return node.enum[0]
  for (const key of ["anyOf", "oneOf"]) {
    const options = node[key]
    if (Array.isArray(options) && options.length > 0) return minimalValue(options[0], definitions, depth + 1)
  }
  const type = Array.isArray(node.type) ? node.type[0] : node.type
  switch (type) {
    case "object": {
      const properties = (node.properties ?? {}) as Readonly<Record<string, unknown>>
      const required = Array.isArray(node.required) ? node.required.filter((key): key is string => typeof key === "string") : []
      const out: Record<string, unknown> = {}
      for (const key of required) out[key] = minimalValue(properties[key], definitions, depth + 1)
      return out
    }
    case "string":
      return "x".repeat(typeof node.minLength === "number" ? Math.min(node.minLength, 64) : 0)
    case "integer":
    case "number": {
      // 0 when the bounds allow it (an Effect Int's bounds are the safe-integer range), else the nearest bound.
      if (typeof node.minimum === "number" && node.minimum > 0) return node.minimum
      if (typeof node.exclusiveMinimum === "number" && node.exclusiveMinimum >= 0) {
        return type === "integer" ? Math.floor(node.exclusiveMinimum) + 1 : node.exclusiveMinimum + 1
      }
      if (typeof node.maximum === "number" && node.maximum < 0) return node.maximum
      if (typeof node.exclusiveMaximum === "number" && node.exclusiveMaximum <= 0) {
        return type === "integer" ? Math.ceil(node.exclusiveMaximum) - 1 : node.exclusiveMaximum - 1
      }
      return 0
    }
    case "boolean":
      return false
    case "array": {
      const count = typeof node.minItems === "number" ? Math.min(node.minItems, 8) : 0
      return Array.from({ length: count }, () => minimalValue(node.items, definitions, depth + 1))
    }
    default:
      return null
  }
}

/**
 * The call the mock makes when a tool call is required and nothing is scripted: to the named
 * tool (or the first declared one), with {@link minimalValue} arguments; `undefined` when the
 * tool choice does not require a call.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forcedCall = (request: LlmRequest.LlmRequest): ScriptedCall | undefined => {
  const choice = request.toolChoice
  if (choice === undefined || choice === "auto" || choice === "none") return undefined
  const tools: ReadonlyArray<Tool.Definition> = request.tools ?? []
  const tool = choice === "required" ? tools[0] : tools.find((declared) => declared.name === choice.tool)
  if (tool === undefined) return undefined
  return { name: tool.name, arguments: minimalValue(tool.parameters) }
}
