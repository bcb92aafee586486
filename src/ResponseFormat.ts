/**
 * Structured output: what a request carries when it asks for a JSON object of a given shape, and
 * how the answer is read back.
 *
 * A request asks for structured output with `responseFormat: { type: "json", schema, name?,
 * description?, strict? }`: `schema` is a JSON Schema (draft 2020-12) whose root is an object,
 * `name` names it for the provider (default {@link DEFAULT_NAME}; a tool name's rules, as
 * Anthropic sends it as a tool). Like tool declarations it is plain data, so requests stay
 * serialisable; `LanguageModel.generateObject` builds it from an Effect `Schema` ({@link fromSchema})
 * and decodes the answer with the same Schema ({@link decodeText}).
 *
 * Providers map it once:
 *
 * - OpenAI protocol: `response_format: { type: "json_schema", json_schema: { name, description?,
 *   schema, strict } }`. `strict` is the request's when given; otherwise it is `true` exactly when
 *   the schema meets OpenAI's strict-mode rules ({@link isStrictCompatible}: every object closed
 *   with `additionalProperties: false` and every property required), which a `Schema.Struct`
 *   without optional keys does, and `false` otherwise (strict mode would refuse the schema).
 *   This is decided from the schema, not the model name: a model without structured outputs
 *   refuses `json_schema` whatever `strict` says.
 * - Gemini: `responseMimeType: "application/json"` and `responseJsonSchema` (the JSON Schema as
 *   is; @google/genai 3.3.0's `responseSchema` takes its OpenAPI subset, `responseJsonSchema`
 *   takes JSON Schema).
 * - Anthropic: a forced tool ({@link toTool}: the schema as its `input_schema`, `tool_choice: {
 *   type: tool, name }`); the `tool_use` input comes back as the response's text, as JSON
 *   ({@link fromForcedTool}), so every caller reads the object from `content`.
 * - mock: the reply as is when one is configured (so invalid output can be scripted), else the
 *   simplest object the schema accepts.
 * - claude-code: refused with `Unsupported` before anything is spawned.
 *
 * @since 0.1.0
 */
import { Schema, SchemaIssue } from "effect"
import type * as LlmResponse from "./LlmResponse.ts"
import * as Tool from "./Tool.ts"
import * as ToolCall from "./ToolCall.ts"

/**
 * The name given to the schema when a request names none.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_NAME = "output"

/**
 * The most characters of invalid output an `InvalidOutput` error carries (the rest is cut, and
 * the cut said).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_RAW_CHARS = 8_192

/**
 * The most decode issues an `InvalidOutput` error (or a repair request) carries, each at most
 * {@link MAX_ISSUE_CHARS} characters.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ISSUES = 20

/**
 * The most characters of one decode issue.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ISSUE_CHARS = 300

/**
 * The most repair attempts a call may ask for.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_REPAIR_ATTEMPTS = 5

/**
 * A request for structured output: a JSON object matching `schema`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ResponseFormat = Schema.Struct({
  type: Schema.Literal("json"),
  schema: Schema.Record(Schema.String, Schema.Unknown).annotate({
    description: "The JSON Schema (draft 2020-12) of the answer; its root is an object ({ type: object, properties: ... })."
  }),
  name: Schema.optionalKey(Tool.Name).annotate({ description: `The schema's name for the provider (default ${DEFAULT_NAME}).` }),
  description: Schema.optionalKey(Schema.String).annotate({ description: "What the object is, for the model." }),
  strict: Schema.optionalKey(Schema.Boolean).annotate({
    description: "OpenAI protocol: strict schema adherence; default true when the schema meets strict mode's rules."
  })
}).annotate({ identifier: "ResponseFormat" })

/**
 * @since 0.1.0
 * @category models
 */
export type ResponseFormat = typeof ResponseFormat.Type

/**
 * The schema's name: the format's, else {@link DEFAULT_NAME}.
 *
 * @since 0.1.0
 * @category accessors
 */
export const nameOf = (format: ResponseFormat): string => format.name ?? DEFAULT_NAME

/**
 * Why a format cannot be sent, or `undefined`: its schema's root must be an object (every
 * provider's structured output, and Anthropic's tool input, wants one).
 *
 * @since 0.1.0
 * @category validation
 */
export const check = (format: ResponseFormat): string | undefined => {
  const root = format.schema
  if (root.type === "object") return undefined
  return `responseFormat.schema must be a JSON Schema object ({ type: object, properties: ... }), got type ` +
    `${JSON.stringify(root.type ?? null)}; wrap the value in an object (e.g. { items: [...] })`
}

/**
 * The JSON Schema of an Effect Schema as a response format sends it: objects closed
 * (`additionalProperties: false`, as the decoder refuses nothing else but strict mode needs it),
 * a root `$ref` resolved to its definition, other definitions under `$defs`.
 *
 * @since 0.1.0
 * @category converting
 */
export const jsonSchemaOf = (schema: Schema.Top): Record<string, unknown> => {
  const document = Schema.toJsonSchemaDocument(schema, { onExcessProperty: "error" })
  const definitions: Record<string, unknown> = { ...document.definitions }
  let root: Record<string, unknown> = { ...document.schema }
  const ref = root.$ref
  if (typeof ref === "string" && ref.startsWith("#/$defs/") && Object.keys(root).length === 1) {
    const name = ref.slice("#/$defs/".length)
    const target = definitions[name]
    // Inlined unless the definition refers to itself (a recursive Schema keeps its $ref).
    if (typeof target === "object" && target !== null && !JSON.stringify(target).includes(`"${ref}"`)) {
      root = { ...(target as Record<string, unknown>) }
      delete definitions[name]
    }
  }
  if (Object.keys(definitions).length > 0) root.$defs = definitions
  return root
}

/**
 * A response format for an Effect Schema.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ResponseFormat.fromSchema(Schema.Struct({ city: Schema.String }), { name: "place" })
 */
export const fromSchema = (
  schema: Schema.Top,
  options: { readonly name?: string | undefined; readonly description?: string | undefined; readonly strict?: boolean | undefined } = {}
): ResponseFormat => ({
  type: "json",
  schema: jsonSchemaOf(schema),
  ...(options.name !== undefined ? { name: options.name } : {}),
  ...(options.description !== undefined ? { description: options.description } : {}),
  ...(options.strict !== undefined ? { strict: options.strict } : {})
})

const MAX_DEPTH = 32

const strictNode = (node: unknown, depth: number): boolean => {
  if (depth > MAX_DEPTH) return false
  if (typeof node !== "object" || node === null) return true
  if (Array.isArray(node)) return node.every((item) => strictNode(item, depth + 1))
  const record = node as Record<string, unknown>
  const type = record.type
  if (type === "object" || (Array.isArray(type) && type.includes("object"))) {
    if (record.additionalProperties !== false) return false
    const properties = (record.properties ?? {}) as Record<string, unknown>
    const required = new Set(Array.isArray(record.required) ? record.required : [])
    for (const key of Object.keys(properties)) if (!required.has(key)) return false
    if (record.patternProperties !== undefined) return false
  }
  for (const key of ["properties", "$defs", "definitions"]) {
    const children = record[key]
    if (typeof children === "object" && children !== null) {
      for (const child of Object.values(children)) if (!strictNode(child, depth + 1)) return false
    }
  }
  for (const key of ["items", "anyOf", "oneOf", "allOf", "prefixItems"]) {
    if (record[key] !== undefined && !strictNode(record[key], depth + 1)) return false
  }
  return true
}

/**
 * Whether a JSON Schema meets OpenAI's strict-mode rules as far as they decide acceptance: every
 * object closed (`additionalProperties: false`, no `patternProperties`) and every property listed
 * in `required`, all the way down.
 *
 * @since 0.1.0
 * @category validation
 */
export const isStrictCompatible = (schema: Readonly<Record<string, unknown>>): boolean => strictNode(schema, 0)

/**
 * Whether a format is sent strict: its `strict` when given, else {@link isStrictCompatible}.
 *
 * @since 0.1.0
 * @category accessors
 */
export const strictOf = (format: ResponseFormat): boolean => format.strict ?? isStrictCompatible(format.schema)

/**
 * The tool Anthropic is forced to call for a format: its name, description and the schema as
 * its parameters.
 *
 * @since 0.1.0
 * @category converting
 */
export const toTool = (format: ResponseFormat): Tool.Definition => ({
  name: nameOf(format),
  description: format.description ?? "Give the answer as this tool's input; it is the only way to answer.",
  parameters: format.schema
})

/**
 * A response to a forced-tool request read as structured output: the call to the format's tool
 * becomes the response's text (its input as JSON; the raw text when it did not parse), with no
 * tool calls left and finish reason `stop` (`tool-calls` only because the tool was forced).
 * Responses without that call are returned as they are.
 *
 * @since 0.1.0
 * @category converting
 */
export const fromForcedTool = (format: ResponseFormat, response: LlmResponse.LlmResponse): LlmResponse.LlmResponse => {
  const name = nameOf(format)
  const calls = response.toolCalls ?? []
  const call = calls.find((candidate) => candidate.name === name)
  if (call === undefined) return response
  const { parts: _parts, toolCalls: _toolCalls, ...rest } = response
  return {
    ...rest,
    content: ToolCall.argumentsText(call),
    finishReason: response.finishReason === "tool-calls" ? "stop" : response.finishReason
  }
}

const FENCE = /^\s*```[A-Za-z0-9_-]*\s*\n([\s\S]*?)\n?\s*```\s*$/

/**
 * Why output is refused: its text, and the issues (bounded: {@link MAX_ISSUES}, each at most
 * {@link MAX_ISSUE_CHARS} characters).
 *
 * @since 0.1.0
 * @category models
 */
export interface Refused {
  readonly raw: string
  readonly issues: ReadonlyArray<string>
}

const bound = (text: string, max: number): string => text.length <= max ? text : `${text.slice(0, max)}... (${text.length - max} more characters)`

/**
 * Cuts output to at most {@link MAX_RAW_CHARS} characters, saying how much was cut.
 *
 * @since 0.1.0
 * @category formatting
 */
export const boundRaw = (raw: string): string => bound(raw, MAX_RAW_CHARS)

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const pathText = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined): string => {
  if (path === undefined || path.length === 0) return "$"
  let out = "$"
  for (const segment of path) {
    const key = typeof segment === "object" ? segment.key : segment
    out += typeof key === "number" ? `[${key}]` : `.${String(key)}`
  }
  return out
}

/**
 * The issues of a failed decode, one line each (`$.tags[0]: Expected string`), bounded.
 *
 * @since 0.1.0
 * @category formatting
 */
export const issuesOf = (error: Schema.SchemaError): ReadonlyArray<string> => {
  const all = formatter(error.issue).issues
  const lines = all.slice(0, MAX_ISSUES).map((issue) => bound(`${pathText(issue.path)}: ${issue.message}`, MAX_ISSUE_CHARS))
  if (all.length > MAX_ISSUES) lines.push(`... and ${all.length - MAX_ISSUES} more issues`)
  return lines
}

/**
 * Parses output as JSON: the text as is, or the inside of a Markdown code fence around it (models
 * often fence JSON). A failure is the reason, for a person.
 *
 * @since 0.1.0
 * @category decoding
 */
export const parseJson = (text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly issue: string } => {
  const fenced = FENCE.exec(text)
  const body = fenced === null ? text : fenced[1]!
  if (body.trim() === "") return { ok: false, issue: "$: the answer is empty; expected a JSON object" }
  try {
    return { ok: true, value: JSON.parse(body) }
  } catch (error) {
    return { ok: false, issue: bound(`$: the answer is not JSON (${error instanceof Error ? error.message : String(error)})`, MAX_ISSUE_CHARS) }
  }
}

/**
 * The text of the user message asking the model to repair its output: what was wrong, and to
 * answer again with only the JSON. The invalid output itself goes before it, as the assistant's
 * message.
 *
 * @since 0.1.0
 * @category formatting
 */
export const repairPrompt = (format: ResponseFormat, issues: ReadonlyArray<string>): string =>
  `Your answer does not match the required JSON Schema (${nameOf(format)}):\n` +
  issues.map((issue) => `- ${issue}`).join("\n") +
  `\nAnswer again with only a JSON value that matches this JSON Schema, no other text:\n${JSON.stringify(format.schema)}`
