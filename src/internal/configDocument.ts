/**
 * YAML parsing with positions, for configuration messages that name a file line, and the known
 * keys of a Schema at a path, for "unknown setting" messages.
 *
 * @internal
 */
import { Result, SchemaAST } from "effect"
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml"
import type { Node } from "yaml"

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

/** Parses YAML text, keeping the line of each key. */
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
  return Result.succeed({ value: document.toJS(), lines })
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
