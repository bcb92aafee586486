/**
 * A parsed YAML document to plain values, with bounded work: the configuration file and workflow
 * files both read YAML through here.
 *
 * YAML aliases (`*name`) repeat an anchored node (`&name`) wherever they appear, so a few lines
 * can expand into billions of values (a "billion laughs" bomb). Before converting, the document
 * is walked once and the values its aliases add are counted; past {@link MAX_ALIAS_VALUES} the
 * document is refused with the line of the alias that crossed the bound. An alias inside the
 * node it names (a cycle) is refused too. The walk is linear in the document's size.
 *
 * @internal
 */
import { Result } from "effect"
import { type Document, isAlias, isMap, isPair, isSeq, type LineCounter } from "yaml"

/** The most values aliases may add to a document. */
export const MAX_ALIAS_VALUES = 100_000

/** Why a document cannot be converted, and where. */
export interface Refusal {
  readonly line: number
  readonly column: number
  readonly message: string
}

interface Ranged {
  readonly range?: readonly [number, number, number] | null | undefined
}

const positionOf = (node: unknown, lineCounter: LineCounter): { line: number; column: number } => {
  const offset = (node as Ranged | null)?.range?.[0]
  if (offset === undefined) return { line: 1, column: 1 }
  const position = lineCounter.linePos(offset)
  return { line: position.line, column: position.col }
}

class Refused {
  readonly node: unknown
  readonly message: string
  constructor(node: unknown, message: string) {
    this.node = node
    this.message = message
  }
}

/** Counts the values each node stands for (aliases expanded), refusing a bomb or a cycle. */
const checkAliases = (document: Document): Refused | undefined => {
  const anchors = new Map<string, unknown>()
  const sizes = new Map<unknown, number>()
  let added = 0
  const walk = (node: unknown): number => {
    if (node === null || node === undefined) return 0
    if (isAlias(node)) {
      const target = anchors.get(node.source)
      // An unknown anchor: the conversion reports it.
      if (target === undefined) return 1
      const size = sizes.get(target)
      if (size === undefined) throw new Refused(node, `the alias *${node.source} is inside the node it names (a cycle)`)
      added += size
      if (added > MAX_ALIAS_VALUES) {
        throw new Refused(
          node,
          `its aliases expand to more than ${MAX_ALIAS_VALUES} values (at *${node.source}); a file that grows like this is refused`
        )
      }
      return size
    }
    const anchor = (node as { readonly anchor?: string | undefined }).anchor
    if (anchor !== undefined) anchors.set(anchor, node)
    let size = 1
    if (isMap(node)) {
      for (const item of node.items) size += isPair(item) ? walk(item.key) + walk(item.value) : walk(item)
    } else if (isSeq(node)) {
      for (const item of node.items) size += walk(item)
    }
    sizes.set(node, size)
    return size
  }
  try {
    walk(document.contents)
    return undefined
  } catch (error) {
    if (error instanceof Refused) return error
    // A stack overflow: nesting far deeper than any real file.
    if (error instanceof RangeError) return new Refused(document.contents, "it is nested too deeply")
    throw error
  }
}

/**
 * The plain value of a parsed document (one without syntax errors), or why it is refused, with
 * the line and column of the node at fault.
 */
export const toPlain = (document: Document, lineCounter: LineCounter): Result.Result<unknown, Refusal> => {
  const refused = checkAliases(document)
  if (refused !== undefined) return Result.fail({ ...positionOf(refused.node, lineCounter), message: refused.message })
  try {
    // The walk above bounds what aliases add, so the library's own alias count is not needed.
    return Result.succeed(document.toJS({ maxAliasCount: -1 }))
  } catch (error) {
    return Result.fail({
      ...positionOf(document.contents, lineCounter),
      message: error instanceof Error ? error.message : String(error)
    })
  }
}
