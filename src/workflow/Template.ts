/**
 * Prompt templates: `{{input.topic}}`, `{{steps.outline.output}}`, `{{steps.meta.output.title}}`.
 *
 * A template is parsed once, before anything runs, into text and references; every reference
 * is checked (unknown input, unknown step, field of a text output). Rendering walks the parsed
 * parts and inserts each value literally: the result is never scanned again, so an input or a
 * model output that contains `{{...}}` is just text and cannot inject anything.
 *
 * @since 0.1.0
 */
import { Result } from "effect"

/**
 * A reference to a value: an input, or a step's output (optionally a field path into a JSON
 * output).
 *
 * @since 0.1.0
 * @category models
 */
export type Reference =
  | { readonly _tag: "Input"; readonly name: string; readonly raw: string }
  | { readonly _tag: "Step"; readonly step: string; readonly path: ReadonlyArray<string>; readonly raw: string }

/**
 * A parsed template: literal text and references, in order.
 *
 * @since 0.1.0
 * @category models
 */
export type Part = { readonly _tag: "Text"; readonly text: string } | Reference

/**
 * @since 0.1.0
 * @category models
 */
export interface Template {
  readonly source: string
  readonly parts: ReadonlyArray<Part>
}

const placeholder = /\{\{([^{}]*)\}\}/g
const identifier = /^[A-Za-z_][A-Za-z0-9_-]*$/

const parseReference = (raw: string): Result.Result<Reference, string> => {
  const segments = raw.trim().split(".")
  if (segments.some((segment) => !identifier.test(segment))) {
    return Result.fail(`"{{${raw}}}" is not a variable: write {{input.<name>}} or {{steps.<id>.output}}`)
  }
  const [root, ...rest] = segments
  if (root === "input" || root === "inputs") {
    if (rest.length !== 1) return Result.fail(`"{{${raw}}}": write {{input.<name>}} (one name after "input.")`)
    return Result.succeed({ _tag: "Input", name: rest[0]!, raw: raw.trim() })
  }
  if (root === "steps") {
    if (rest.length < 2 || rest[1] !== "output") {
      return Result.fail(`"{{${raw}}}": write {{steps.<id>.output}} (or {{steps.<id>.output.<field>}} for a JSON output)`)
    }
    return Result.succeed({ _tag: "Step", step: rest[0]!, path: rest.slice(2), raw: raw.trim() })
  }
  return Result.fail(`unknown variable "{{${raw.trim()}}}": variables start with input. or steps.`)
}

/**
 * Parses a template, reporting every malformed placeholder.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (source: string): Result.Result<Template, ReadonlyArray<string>> => {
  const parts: Array<Part> = []
  const errors: Array<string> = []
  let last = 0
  for (const match of source.matchAll(placeholder)) {
    if (match.index > last) parts.push({ _tag: "Text", text: source.slice(last, match.index) })
    const reference = parseReference(match[1]!)
    if (Result.isSuccess(reference)) parts.push(reference.success)
    else errors.push(reference.failure)
    last = match.index + match[0].length
  }
  if (last < source.length) parts.push({ _tag: "Text", text: source.slice(last) })
  const rest = parts.filter((part) => part._tag === "Text").map((part) => part.text).join("")
  if (rest.includes("{{") || rest.includes("}}")) {
    errors.push(`unbalanced "{{" or "}}" in template; a variable is written {{input.<name>}}`)
  }
  return errors.length > 0 ? Result.fail(errors) : Result.succeed({ source, parts })
}

/**
 * The references of a template.
 *
 * @since 0.1.0
 * @category accessors
 */
export const references = (template: Template): ReadonlyArray<Reference> =>
  template.parts.filter((part): part is Reference => part._tag !== "Text")

/**
 * What a template is rendered against.
 *
 * @since 0.1.0
 * @category models
 */
export interface Scope {
  readonly input: Readonly<Record<string, unknown>>
  readonly outputs: ReadonlyMap<string, unknown>
}

const stringify = (value: unknown): string => {
  if (typeof value === "string") return value
  if (value === undefined) return ""
  return JSON.stringify(value)
}

/**
 * Looks a reference up. A missing value is a defect: validation guarantees every reference
 * resolves before a run starts.
 *
 * @since 0.1.0
 * @category rendering
 */
export const resolve = (reference: Reference, scope: Scope): unknown => {
  if (reference._tag === "Input") return scope.input[reference.name]
  let value: unknown = scope.outputs.get(reference.step)
  for (const key of reference.path) {
    value = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined
  }
  return value
}

/**
 * Renders a template. Values are inserted literally (strings as they are, other values as
 * JSON) and the result is not evaluated again.
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (template: Template, scope: Scope): string => {
  let out = ""
  for (const part of template.parts) out += part._tag === "Text" ? part.text : stringify(resolve(part, scope))
  return out
}

/**
 * Renders every string inside a JSON-like value (used for a step type's `with` arguments).
 * Strings are parsed with {@link parse}; invalid ones were reported by validation.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderDeep = (value: unknown, scope: Scope): unknown => {
  if (typeof value === "string") {
    const parsed = parse(value)
    return Result.isSuccess(parsed) ? render(parsed.success, scope) : value
  }
  if (Array.isArray(value)) return value.map((item) => renderDeep(item, scope))
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, renderDeep(item, scope)]))
  }
  return value
}

/**
 * A JSON-like value whose strings are parsed templates (a step type's `with` arguments, parsed
 * once by validation).
 *
 * @since 0.1.0
 * @category models
 */
export type Tree =
  | { readonly _tag: "Template"; readonly template: Template }
  | { readonly _tag: "List"; readonly items: ReadonlyArray<Tree> }
  | { readonly _tag: "Record"; readonly entries: ReadonlyArray<readonly [string, Tree]> }
  | { readonly _tag: "Literal"; readonly value: unknown }

/**
 * Renders a {@link Tree}: every template in it with {@link render}, other values as they are.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderTree = (tree: Tree, scope: Scope): unknown => {
  switch (tree._tag) {
    case "Template":
      return render(tree.template, scope)
    case "List":
      return tree.items.map((item) => renderTree(item, scope))
    case "Record":
      return Object.fromEntries(tree.entries.map(([key, item]) => [key, renderTree(item, scope)]))
    case "Literal":
      return tree.value
  }
}
