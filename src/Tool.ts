/**
 * Tools a model may call: how a program declares one, what a request carries, and how a call's
 * arguments are read back.
 *
 * A tool is declared in code with an Effect `Schema` for its parameters (and optionally for its
 * result), a name and a description ({@link make}). A request does not carry the Schema: it
 * carries the tool's {@link Definition}, `{ name, description, parameters }` with the parameters
 * as the JSON Schema generated from the Schema (`Schema.toJsonSchemaDocument`), which every
 * provider sends as it is (OpenAI `tools[].function.parameters`, Anthropic `input_schema`,
 * Gemini `parametersJsonSchema`). A definition is plain data, so requests stay serialisable
 * (journals, fixtures, the CLI's `--tools FILE`, the server). {@link decodeArguments} reads a
 * model's call back with the tool's Schema.
 *
 * `effect/ai` tools are accepted too (`EffectAiTool.definitionOf`, in its own module so that
 * `effect/ai` is loaded only by programs that use it): their JSON Schema comes from `effect/ai`'s
 * own `Tool.getJsonSchema` (see ADR 0017).
 *
 * `toolChoice` says whether the model may, must, or must not call tools, or which one it must
 * call: `"auto"` (the default), `"none"`, `"required"`, or `{ tool: name }`.
 *
 * @since 0.1.0
 */
import { type Effect, JsonSchema, Result, Schema, SchemaRepresentation } from "effect"
import type * as ToolCall from "./ToolCall.ts"

/**
 * What a tool's name may be: a letter or `_` first, then letters, digits, `_` or `-`, at most 64
 * characters (the strictest of the providers' rules, OpenAI's and Gemini's together).
 *
 * @since 0.1.0
 * @category constants
 */
export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/

/**
 * A tool's name.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Name = Schema.String.check(
  Schema.isPattern(NAME_PATTERN, {
    message: "a tool name is a letter or \"_\" then letters, digits, \"_\" or \"-\", at most 64 characters"
  })
).annotate({ identifier: "ToolName", description: "A letter or _ then letters, digits, _ or -, at most 64 characters." })

/**
 * What a request declares about one tool: its name, what it does, and its parameters as a JSON
 * Schema (an object schema, draft 2020-12).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Definition = Schema.Struct({
  name: Name,
  description: Schema.optionalKey(Schema.String).annotate({ description: "What the tool does, for the model." }),
  parameters: Schema.Record(Schema.String, Schema.Unknown).annotate({
    description: "The tool's parameters as a JSON Schema object (draft 2020-12), e.g. { type: object, properties: {...} }."
  })
}).annotate({ identifier: "ToolDefinition" })

/**
 * @since 0.1.0
 * @category models
 */
export type Definition = typeof Definition.Type

/**
 * Whether and which tools the model may call: `auto` (it decides), `none` (it must answer in
 * text), `required` (it must call at least one), or `{ tool: name }` (it must call that one).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ToolChoice = Schema.Union([
  Schema.Literals(["auto", "none", "required"]),
  Schema.Struct({ tool: Schema.String })
]).annotate({
  identifier: "ToolChoice",
  description: "auto | none | required | { tool: NAME } (the named tool must be declared)."
})

/**
 * @since 0.1.0
 * @category models
 */
export type ToolChoice = typeof ToolChoice.Type

/**
 * A tool declared in code: its {@link Definition} (sent to the model) and the Schemas its
 * arguments (and, optionally, its result) are read with.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tool<
  out Name extends string = string,
  out Parameters extends Schema.Top = Schema.Top,
  out Success extends Schema.Top = Schema.Top
> {
  readonly _tag: "Tool"
  readonly name: Name
  readonly description?: string | undefined
  /** The Schema of the arguments. */
  readonly parametersSchema: Parameters
  /** The Schema of the result, when declared. */
  readonly successSchema?: Success | undefined
  /** What a request carries. */
  readonly definition: Definition
}

/**
 * Any tool.
 *
 * @since 0.1.0
 * @category models
 */
export type Any = Tool<string, Schema.Top, Schema.Top>

/**
 * A tool whose parameters came as JSON Schema ({@link fromDefinition}): its arguments decode to
 * `unknown`, with no services.
 *
 * @since 0.1.0
 * @category models
 */
export type Dynamic = Tool<string, Schema.Codec<unknown, unknown>, Schema.Top>

/**
 * The JSON Schema of a tool's parameters, generated from its Schema: the root object with its
 * definitions under `$defs`. A Schema with no fields becomes `{ type: "object", properties: {} }`
 * (every provider wants an object). Throws when the Schema does not describe an object: a tool's
 * arguments are always an object of named parameters.
 *
 * @since 0.1.0
 * @category converting
 */
export const parametersJsonSchema = (name: string, schema: Schema.Top): Record<string, unknown> => {
  const document = Schema.toJsonSchemaDocument(schema)
  const root: Record<string, unknown> = { ...document.schema }
  if (root.type !== "object" && root.$ref === undefined) {
    const empty = schema.ast._tag === "Objects" && schema.ast.propertySignatures.length === 0 &&
      schema.ast.indexSignatures.length === 0
    if (!empty) {
      throw new Error(
        `the parameters of tool ${name} must be an object Schema (Schema.Struct), got a Schema whose JSON Schema is ` +
          JSON.stringify(document.schema).slice(0, 200)
      )
    }
    return { type: "object", properties: {} }
  }
  if (Object.keys(document.definitions).length > 0) root.$defs = document.definitions
  return root
}

/**
 * Declares a tool: its name, a description for the model, the Schema of its parameters (a
 * `Schema.Struct`; none means no parameters) and optionally the Schema of its result. Throws on
 * a name providers refuse or parameters that are not an object (mistakes in the program).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * const weather = Tool.make("get_weather", {
 *   description: "The weather in a city now",
 *   parameters: Schema.Struct({ city: Schema.String })
 * })
 * LanguageModel.generate({ prompt: "Weather in Paris?", tools: [weather] })
 */
export const make = <
  const Name extends string,
  Parameters extends Schema.Top = Schema.Struct<{}>,
  Success extends Schema.Top = Schema.Top
>(name: Name, options: {
  readonly description?: string | undefined
  readonly parameters?: Parameters | undefined
  readonly success?: Success | undefined
} = {}): Tool<Name, Parameters, Success> => {
  if (!NAME_PATTERN.test(name)) {
    throw new Error(`tool name ${JSON.stringify(name)}: use a letter or "_" then letters, digits, "_" or "-", at most 64 characters`)
  }
  const parametersSchema = (options.parameters ?? Schema.Struct({})) as Parameters
  const definition: Definition = {
    name,
    ...(options.description !== undefined ? { description: options.description } : {}),
    parameters: parametersJsonSchema(name, parametersSchema)
  }
  return {
    _tag: "Tool",
    name,
    ...(options.description !== undefined ? { description: options.description } : {}),
    parametersSchema,
    ...(options.success !== undefined ? { successSchema: options.success } : {}),
    definition
  }
}

/**
 * A tool from a definition whose parameters are JSON Schema (a `--tools` file, an MCP server):
 * the parameters are converted to an Effect Schema with Effect's own JSON Schema support
 * (`SchemaRepresentation.fromJsonSchemaDocument`, draft 2020-12; `pattern`s applied), so that
 * calls can be decoded with it, and the definition is kept as given (it is what the provider
 * receives). Fails with a message naming the tool and the keyword when the JSON Schema uses one
 * Effect cannot express (`if`/`then`, `dependentRequired`, `contains`, an external `$ref`...), or
 * when the parameters are not an object schema.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * Tool.fromDefinition({ name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } })
 */
export const fromDefinition = (definition: Definition): Result.Result<Dynamic, string> => {
  const parameters = definition.parameters
  if (parameters.type !== "object") {
    return Result.fail(
      `tool ${definition.name}: parameters must be a JSON Schema object ({ type: object, properties: ... }), ` +
        `got type ${JSON.stringify(parameters.type ?? null)}`
    )
  }
  let parametersSchema: Schema.Codec<unknown, unknown>
  try {
    // A JSON Schema import decodes plain JSON: no services, unknown values.
    parametersSchema = SchemaRepresentation.fromJsonSchemaDocument(
      JsonSchema.fromSchemaDraft2020_12(parameters as JsonSchema.JsonSchema),
      { patterns: "apply" }
    ) as Schema.Codec<unknown, unknown>
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return Result.fail(
      `tool ${definition.name}: its parameters use JSON Schema that Effect cannot express: ` +
        message.replace(/\s*\n\s*/g, " ").replace(/\["schema"\]/g, "parameters")
    )
  }
  return Result.succeed({
    _tag: "Tool",
    name: definition.name,
    ...(definition.description !== undefined ? { description: definition.description } : {}),
    parametersSchema,
    definition
  })
}

/**
 * Whether a value is a tool declared with {@link make}.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTool = (value: unknown): value is Any =>
  typeof value === "object" && value !== null && "_tag" in value && value._tag === "Tool"

/**
 * The definition of a tool, or the definition itself.
 *
 * @since 0.1.0
 * @category accessors
 */
export const definitionOf = (tool: Any | Definition): Definition => isTool(tool) ? tool.definition : tool

/**
 * Why a request's tools and tool choice cannot be sent, or `undefined` when they can: a name
 * declared twice, or a choice that names an undeclared tool or requires a tool when none is
 * declared. The request's `decode` runs it, and so does every provider before sending.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkDeclarations = (
  tools: ReadonlyArray<Definition> | undefined,
  toolChoice: ToolChoice | undefined
): { readonly parameter: "tools" | "toolChoice"; readonly description: string } | undefined => {
  const names = new Set<string>()
  for (const tool of tools ?? []) {
    if (names.has(tool.name)) {
      return { parameter: "tools", description: `tool ${tool.name} is declared twice; give each tool its own name` }
    }
    names.add(tool.name)
  }
  if (toolChoice === undefined || toolChoice === "auto" || toolChoice === "none") return undefined
  if (toolChoice === "required") {
    return names.size === 0
      ? { parameter: "toolChoice", description: "toolChoice required asks for a tool call, but the request declares no tools; declare tools or use auto" }
      : undefined
  }
  if (names.has(toolChoice.tool)) return undefined
  return {
    parameter: "toolChoice",
    description: `toolChoice names tool ${JSON.stringify(toolChoice.tool)}, which the request does not declare ` +
      (names.size === 0 ? "(it declares no tools)" : `(declared: ${[...names].join(", ")})`) +
      "; name a declared tool, or use auto, none or required"
  }
}

/**
 * Reads a tool call's arguments with the tool's Schema: the typed value, or a `SchemaError`
 * saying what is wrong (arguments that were not JSON at all decode as `null` and fail).
 *
 * @since 0.1.0
 * @category decoding
 * @example
 * const args = yield* Tool.decodeArguments(weather, call) // { city: string }
 */
export const decodeArguments = <T extends Any>(
  tool: T,
  call: ToolCall.ToolCall
): Effect.Effect<T["parametersSchema"]["Type"], Schema.SchemaError, T["parametersSchema"]["DecodingServices"]> =>
  Schema.decodeUnknownEffect(tool.parametersSchema)(call.arguments, { errors: "all" })

/**
 * Parses a list of tool definitions (e.g. a `--tools` file's contents) against
 * {@link Definition}, reporting every issue.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeDefinitions = Schema.decodeUnknownEffect(Schema.Array(Definition))
