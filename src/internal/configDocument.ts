/**
 * The configuration document before validation: YAML parsed with the line of each key (for
 * messages that name a file line), values set and read by path (to merge flags and variables
 * over the file), and the known keys of a Schema at a path (for "unknown setting" messages).
 *
 * @internal
 */
import { Effect, FileSystem, Option, Path, Result, SchemaAST } from "effect"
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml"
import type { Node } from "yaml"
import * as LlmError from "../LlmError.ts"
import * as Redaction from "../observability/Redaction.ts"
import * as YamlDocument from "./yamlDocument.ts"

/** A parsed YAML document: its plain value and the line (1-based) of each key, by dotted path. */
export interface Parsed {
  readonly value: unknown
  readonly lines: ReadonlyMap<string, number>
}

/** A syntax error with its line. */
export interface SyntaxError {
  readonly line: number
  readonly message: string
}

/** Parses YAML text, keeping the line of each key; aliases are bounded (`yamlDocument.ts`). */
export const parse = (text: string): Result.Result<Parsed, SyntaxError> => {
  const lineCounter = new LineCounter()
  const document = parseDocument(text, { lineCounter, prettyErrors: false })
  const first = document.errors[0]
  if (first !== undefined) {
    const line = first.linePos?.[0].line ?? lineCounter.linePos(first.pos[0]).line
    return Result.fail({ line, message: first.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "") })
  }
  const lines = new Map<string, number>()
  const visit = (node: unknown, prefix: ReadonlyArray<string>) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
        const path = [...prefix, key]
        const keyNode = pair.key as Node | null
        const offset = keyNode?.range?.[0]
        if (offset !== undefined) lines.set(path.join("."), lineCounter.linePos(offset).line)
        visit(pair.value, path)
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        const offset = (item as Node | null)?.range?.[0]
        const path = [...prefix, String(index)]
        if (offset !== undefined) lines.set(path.join("."), lineCounter.linePos(offset).line)
        visit(item, path)
      })
    }
  }
  visit(document.contents, [])
  return Result.match(YamlDocument.toPlain(document, lineCounter), {
    onFailure: (refusal) => Result.fail({ line: refusal.line, message: refusal.message }),
    onSuccess: (value) => Result.succeed({ value, lines })
  })
}

const objectsOf = (ast: SchemaAST.AST): ReadonlyArray<SchemaAST.Objects> => {
  if (SchemaAST.isObjects(ast)) return [ast]
  if (SchemaAST.isUnion(ast)) return ast.types.flatMap(objectsOf)
  return []
}

/** The property names a Schema accepts at `path` (records are walked through by any key). */
export const knownKeys = (ast: SchemaAST.AST, path: ReadonlyArray<string>): ReadonlyArray<string> => {
  let nodes = objectsOf(ast)
  for (const key of path) {
    nodes = nodes.flatMap((node) => {
      const property = node.propertySignatures.find((signature) => signature.name === key)
      if (property !== undefined) return objectsOf(property.type)
      return node.indexSignatures.flatMap((signature) => objectsOf(signature.type))
    })
  }
  return [...new Set(nodes.flatMap((node) => node.propertySignatures.map((signature) => String(signature.name))))]
}

/** Sets a value at a path, creating the objects on the way. */
export const setIn = (target: Record<string, unknown>, path: ReadonlyArray<string>, value: unknown): void => {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {}
    node = node[key] as Record<string, unknown>
  }
  node[path.at(-1)!] = value
}

/** Reads the value at a path. */
export const getIn = (target: unknown, path: ReadonlyArray<PropertyKey>): unknown =>
  path.reduce<unknown>(
    (node, key) => (typeof node === "object" && node !== null ? (node as Record<PropertyKey, unknown>)[key] : undefined),
    target
  )

/**
 * A short rendering of a value for a message, its secrets scrubbed before it is cut (a cut URL
 * could lose the `@` that marks its password).
 */
export const show = (value: unknown): string => {
  const text = Redaction.scrubText(typeof value === "string" || Array.isArray(value) ? JSON.stringify(value) : String(value))
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}

/** Which file to read: `--config`, else the variable, else the default file if it exists. */
export interface FileChoice {
  readonly flag: string | undefined
  readonly env: Option.Option<string>
  readonly envName: string
  readonly defaultFile: string
  readonly cwd: string | undefined
}

/** Reads the chosen config file (if any): its shown name and its document. */
export const readFile = Effect.fnUntraced(function*(choice: FileChoice) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const cwd = choice.cwd ?? path.resolve(".")
  const named = choice.flag !== undefined
    ? Option.some({ file: choice.flag, via: "--config" })
    : Option.map(choice.env, (file) => ({ file, via: choice.envName }))
  if (Option.isNone(named)) {
    const fallback = path.join(cwd, choice.defaultFile)
    const exists = yield* Effect.orElseSucceed(fs.exists(fallback), () => false)
    if (!exists) return undefined
    return yield* parseFile(fallback, choice.defaultFile, "the default file")
  }
  const file = path.resolve(cwd, named.value.file)
  return yield* parseFile(file, named.value.file, named.value.via)
})

const fileError = (description: string, fix: string): LlmError.LlmError =>
  LlmError.make("config", new LlmError.Configuration({ description, setting: "config", fix }))

const parseFile = Effect.fnUntraced(function*(file: string, shown: string, via: string) {
  const fs = yield* FileSystem.FileSystem
  const text = yield* fs.readFileString(file).pipe(
    Effect.mapError((error) =>
      fileError(
        `cannot read the config file ${shown} (named by ${via}): ${error.reason._tag === "NotFound" ? "no such file" : error.message}`,
        `create ${shown}, or point ${via} at an existing YAML file (see docs/configuration.md)`
      )
    )
  )
  const parsed = parse(text)
  if (Result.isFailure(parsed)) {
    return yield* Effect.fail(
      fileError(
        `${shown} line ${parsed.failure.line} is not valid YAML: ${parsed.failure.message}`,
        `fix the YAML syntax at ${shown} line ${parsed.failure.line}; a valid file looks like "provider: mock"`
      )
    )
  }
  return { shown, document: parsed.success }
})
