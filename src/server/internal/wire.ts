// Small readers of client JSON shared by the OpenAI- and Anthropic-compatible doors: lenient
// (unknown fields ignored), each failure an InvalidInput document naming the field.
import { Effect, Random, Result } from "effect"
import * as BridgeContract from "../../bridge/BridgeContract.ts"
import type * as Message from "../../Message.ts"
import * as Tool from "../../Tool.ts"

export type Json = Readonly<Record<string, unknown>>

export const isRecord = (value: unknown): value is Json =>
  value !== null && typeof value === "object" && !Array.isArray(value)

export const invalid = (description: string, fix: string): BridgeContract.BridgeFailure =>
  BridgeContract.invalidInput(description, { fix }).document

export const optionalNumber = (body: Json, key: string): Result.Result<number | undefined, BridgeContract.BridgeFailure> => {
  const value = body[key]
  if (value === undefined || value === null) return Result.succeed(undefined)
  return typeof value === "number" && Number.isFinite(value)
    ? Result.succeed(value)
    : Result.fail(invalid(`"${key}" must be a number, got ${JSON.stringify(value)}`, `send "${key}" as a number, or leave it out`))
}

export const optionalString = (body: Json, key: string): Result.Result<string | undefined, BridgeContract.BridgeFailure> => {
  const value = body[key]
  if (value === undefined || value === null) return Result.succeed(undefined)
  return typeof value === "string"
    ? Result.succeed(value)
    : Result.fail(invalid(`"${key}" must be a string`, `send "${key}" as a string, or leave it out`))
}

// The text of a content value: a string, or an array of blocks whose text blocks are joined.
export const textOf = (content: unknown, where: string): Result.Result<string, BridgeContract.BridgeFailure> => {
  if (content === null || content === undefined) return Result.succeed("")
  if (typeof content === "string") return Result.succeed(content)
  if (Array.isArray(content)) {
    const texts: Array<string> = []
    for (const block of content) {
      if (typeof block === "string") texts.push(block)
      else if (isRecord(block) && typeof block.text === "string") texts.push(block.text)
      else if (isRecord(block) && (block.type === "text" || block.type === "input_text")) texts.push("")
      // Other blocks (images, documents, thinking, tool blocks until tools land) carry no text here.
    }
    return Result.succeed(texts.join(""))
  }
  return Result.fail(invalid(`${where} must be a string or an array of content blocks`, `send ${where} as a string`))
}

export const message = (role: Message.Role, content: string): Message.Message => ({ role, content })

const EMPTY_SCHEMA: Json = { type: "object", properties: {} }

// A declared tool (Anthropic's `{name, description, input_schema}`, the `function` of OpenAI's
// `{type: "function", function: {name, description, parameters}}`) as a definition: its name
// checked, its JSON Schema at `schemaField` (an empty object schema when absent). `where` names
// the declaration in the failures (`tools[0]`, `tools[0].function`).
export const toolDefinition = (where: string, declaration: Json, schemaField: string): Result.Result<Tool.Definition, BridgeContract.BridgeFailure> => {
  const { description, name } = declaration
  const schema = declaration[schemaField]
  if (typeof name !== "string" || !Tool.NAME_PATTERN.test(name)) {
    return Result.fail(invalid(`${where}.name is ${JSON.stringify(name)}`, "name a tool with a letter or _ then letters, digits, _ or -, at most 64 characters"))
  }
  if (schema !== undefined && schema !== null && !isRecord(schema)) {
    return Result.fail(invalid(`${where}.${schemaField} must be a JSON Schema object`, "send {\"type\": \"object\", \"properties\": {...}}"))
  }
  return Result.succeed({
    name,
    ...(typeof description === "string" ? { description } : {}),
    parameters: isRecord(schema) ? schema : EMPTY_SCHEMA
  })
}

// A request's declared tools and tool choice, read by a protocol's own readers, checked together
// (`Tool.checkDeclarations`: a choice naming an undeclared tool, duplicate names...).
export const declaredTools = (
  tools: Result.Result<ReadonlyArray<Tool.Definition> | undefined, BridgeContract.BridgeFailure>,
  toolChoice: Result.Result<Tool.ToolChoice | undefined, BridgeContract.BridgeFailure>
): Result.Result<{ readonly tools: ReadonlyArray<Tool.Definition> | undefined; readonly toolChoice: Tool.ToolChoice | undefined }, BridgeContract.BridgeFailure> => {
  if (Result.isFailure(tools)) return Result.fail(tools.failure)
  if (Result.isFailure(toolChoice)) return Result.fail(toolChoice.failure)
  const problem = Tool.checkDeclarations(tools.success, toolChoice.success)
  if (problem !== undefined) {
    return Result.fail(invalid(`"${problem.parameter === "tools" ? "tools" : "tool_choice"}": ${problem.description}`, "fix the tool declarations"))
  }
  return Result.succeed({ tools: tools.success, toolChoice: toolChoice.success })
}

// An id such as chatcmpl-3f9a... (random from Effect's Random, so tests can seed it).
// One effect step: the four words drawn as `Random.nextIntBetween(0, 0xffffffff)` draws them.
export const randomId = (prefix: string): Effect.Effect<string> => Effect.map(Random.Random, (random) => idWith(random, prefix))

// The same id drawn from a given Random (a handler that has its fiber's: no effect step).
export const idWith = (random: Random.Random, prefix: string): string => {
  let id = prefix
  for (let word = 0; word < 4; word++) id += Math.floor(random.nextDoubleUnsafe() * 0x100000000).toString(16).padStart(8, "0")
  return id
}

const encoder = new TextEncoder()

// One server-sent event, as text (the streamed answers join a pull's events into one write).
export const sseText = (data: unknown, event?: string): string =>
  `${event !== undefined ? `event: ${event}\n` : ""}data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`

// One server-sent event.
export const sse = (data: unknown, event?: string): Uint8Array => encoder.encode(sseText(data, event))
