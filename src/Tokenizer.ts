/**
 * Counting tokens locally.
 *
 * Used where a provider reports no usage (the response is then marked `estimated`), by the mock
 * provider to report realistic usage, and by budgets to size reservations. The count uses the
 * `o200k_base` BPE encoding (`gpt-tokenizer`), which matches current OpenAI models exactly and
 * other providers approximately.
 *
 * Chat framing: every message costs {@link MESSAGE_FRAMING_TOKENS} tokens besides its text,
 * and every request {@link REQUEST_FRAMING_TOKENS} (the assistant's reply priming), as in
 * OpenAI's published counting recipe.
 *
 * The work is bounded, so that no prompt or reply can pin the CPU (counting runs synchronously on
 * the request path, where no timer can fire): BPE is quadratic in the length of one pre-token,
 * and a run without whitespace (a base64 blob, minified JSON, a long URL, CJK text) is one
 * pre-token, as is a run of whitespace, so runs of either longer than {@link MAX_RUN} characters
 * are cut into pieces before BPE (the count of such a run is then approximate, within a token per
 * piece). And one count reads at most
 * {@link EXACT_LIMIT_BYTES} bytes exactly: past that, every further UTF-8 byte counts as a token,
 * the byte bound a BPE count never exceeds. A count is thus an exact figure for ordinary text and
 * an upper bound beyond the limit.
 *
 * @since 0.1.0
 */
import { countTokens as countBpe, decode, encode } from "gpt-tokenizer"
import * as LlmRequest from "./LlmRequest.ts"
import * as Message from "./Message.ts"

/**
 * Tokens each message costs besides its text (role and separators).
 *
 * @since 0.1.0
 * @category constants
 */
export const MESSAGE_FRAMING_TOKENS = 3

/**
 * Tokens each request costs besides its messages (the reply priming).
 *
 * @since 0.1.0
 * @category constants
 */
export const REQUEST_FRAMING_TOKENS = 3

/**
 * The longest run of characters without whitespace (or of whitespace) given to BPE in one piece.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_RUN = 256

/**
 * The most UTF-8 bytes one count reads with the tokenizer; the rest count as a token a byte.
 *
 * @since 0.1.0
 * @category constants
 */
export const EXACT_LIMIT_BYTES = 256 * 1024

const isSpace = (code: number): boolean =>
  code === 32 || (code >= 9 && code <= 13) || code === 0xa0 || code === 0x3000 || (code >= 0x2000 && code <= 0x200a)

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff

/**
 * Cuts `text` into the pieces given to BPE, in order, until `visit` returns false: a run of
 * whitespace or of other characters is cut every MAX_RUN characters (never between the two
 * halves of a surrogate pair), and, when `window` is finite, a piece longer than `window` is also
 * cut where a whitespace run starts. Linear in the length of the text.
 */
const forEachPiece = (text: string, window: number, visit: (piece: string) => boolean): void => {
  let pieceStart = 0
  let run = 0
  let inSpace = false
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    const space = isSpace(code)
    if (space !== inSpace) {
      inSpace = space
      run = 0
      if (space && index - pieceStart >= window) {
        if (!visit(text.slice(pieceStart, index))) return
        pieceStart = index
      }
    }
    run++
    if (run >= MAX_RUN && !isHighSurrogate(code)) {
      if (!visit(text.slice(pieceStart, index + 1))) return
      pieceStart = index + 1
      run = 0
    }
  }
  if (pieceStart < text.length) visit(text.slice(pieceStart))
}

/** BPE over `text`, cut into pieces (linear overall). */
const countPieces = (text: string): number => {
  let total = 0
  forEachPiece(text, Number.POSITIVE_INFINITY, (piece) => {
    total += countBpe(piece)
    return true
  })
  return total
}

/** Counts a text within a byte allowance: exact up to it, a token a byte past it. */
const countWithin = (text: string, allowance: number): { readonly tokens: number; readonly bytes: number } => {
  if (text.length === 0) return { tokens: 0, bytes: 0 }
  // A UTF-16 unit is at most 3 UTF-8 bytes: a short text fits without measuring it.
  if (text.length * 3 <= allowance) {
    return { tokens: countPieces(text), bytes: text.length * 3 <= 64 ? text.length : Buffer.byteLength(text, "utf8") }
  }
  const bytes = Buffer.byteLength(text, "utf8")
  if (bytes <= allowance) return { tokens: countPieces(text), bytes }
  // The exact part: the longest prefix within the allowance (on a code point boundary).
  let end = Math.min(text.length, allowance)
  while (end > 0 && Buffer.byteLength(text.slice(0, end), "utf8") > allowance) end = Math.floor(end * 0.9)
  if (end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end--
  const head = text.slice(0, end)
  const headBytes = Buffer.byteLength(head, "utf8")
  return { tokens: (end > 0 ? countPieces(head) : 0) + (bytes - headBytes), bytes }
}

/**
 * Counts the BPE tokens of a text (exact for ordinary text; an upper bound past
 * {@link EXACT_LIMIT_BYTES}, see the module description).
 *
 * @since 0.1.0
 * @category counting
 */
export const countText = (text: string): number => countWithin(text, EXACT_LIMIT_BYTES).tokens

// Pieces of ordinary text given to BPE at once when truncating.
const TRUNCATE_WINDOW = 4096

/**
 * The first `maxTokens` BPE tokens of a text, and whether it was cut. The work is bounded by
 * what is kept: the text is encoded piece by piece (runs cut as for counting, ordinary text in
 * windows of a few kilobytes) until the cap is reached.
 *
 * @since 0.1.0
 * @category counting
 * @example
 * Tokenizer.truncate("one two three", 2) // { text: "one two", truncated: true }
 */
export const truncate = (text: string, maxTokens: number): { readonly text: string; readonly truncated: boolean } => {
  let kept = 0
  let end = 0
  let tail = ""
  let truncated = false
  forEachPiece(text, TRUNCATE_WINDOW, (piece) => {
    const tokens = encode(piece)
    if (kept + tokens.length > maxTokens) {
      tail = decode(tokens.slice(0, Math.max(0, maxTokens - kept)))
      truncated = true
      return false
    }
    kept += tokens.length
    end += piece.length
    return true
  })
  return truncated ? { text: text.slice(0, end) + tail, truncated } : { text, truncated }
}

/**
 * Counts the input tokens of a request: its system prompt and messages, with chat framing. The
 * texts of one request share one {@link EXACT_LIMIT_BYTES} allowance.
 *
 * @since 0.1.0
 * @category counting
 */
export const countRequest = (request: LlmRequest.LlmRequest): number => {
  let total = REQUEST_FRAMING_TOKENS
  let allowance = EXACT_LIMIT_BYTES
  const add = (text: string) => {
    const counted = countWithin(text, allowance)
    allowance = Math.max(0, allowance - counted.bytes)
    total += MESSAGE_FRAMING_TOKENS + counted.tokens
  }
  if (request.system !== undefined) add(request.system)
  for (const message of request.messages) add(Message.text(message))
  // Tool declarations are sent with every request: counted as one more message.
  const tools = LlmRequest.toolsText(request)
  if (tools !== "") add(tools)
  return total
}

/**
 * A cheap upper bound on the input tokens of a request, without running the tokenizer: a BPE
 * token is at least one UTF-8 byte, so the byte length bounds the token count.
 *
 * @since 0.1.0
 * @category counting
 */
export const boundRequest = (request: LlmRequest.LlmRequest): number => {
  let total = REQUEST_FRAMING_TOKENS
  if (request.system !== undefined) total += MESSAGE_FRAMING_TOKENS + Buffer.byteLength(request.system, "utf8")
  for (const message of request.messages) {
    total += MESSAGE_FRAMING_TOKENS + Buffer.byteLength(Message.text(message), "utf8")
  }
  const tools = LlmRequest.toolsText(request)
  if (tools !== "") total += MESSAGE_FRAMING_TOKENS + Buffer.byteLength(tools, "utf8")
  return total
}
