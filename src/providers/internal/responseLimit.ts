/**
 * Reading a provider's response up to a cap: the implementation behind `ProviderKit.readText`,
 * `ProviderKit.limitFetchResponse` and `ProviderKit.responseTooLarge` (see there).
 *
 * @since 0.1.0
 */
import { Effect, Stream } from "effect"
import type { HttpClientError, HttpClientResponse } from "effect/http"
import * as LlmError from "../../LlmError.ts"

/**
 * What a response error names: the provider, the model and, for HTTP, the base URL.
 *
 * @since 0.1.0
 * @category models
 */
export interface Call {
  readonly provider: string
  readonly model?: string | undefined
  readonly baseUrl?: string | undefined
}

const mebibytes = (bytes: number): string => {
  const value = bytes / (1024 * 1024)
  return value >= 1 ? `${Number.isInteger(value) ? value : value.toFixed(1)} MiB` : `${bytes} bytes`
}

/**
 * A response larger than the cap: `ResponseMalformed` (not retryable: the same request would get
 * the same answer), naming the cap and the option that raises it.
 *
 * @since 0.1.0
 * @category limits
 */
export const responseTooLarge = (
  call: Call,
  maxBytes: number,
  options: { readonly what?: string | undefined; readonly requestId?: string | undefined } = {}
): LlmError.LlmError =>
  LlmError.make(
    call.provider,
    new LlmError.ResponseMalformed({
      description: `${options.what ?? (call.baseUrl !== undefined ? `the response from ${call.baseUrl}` : "the response")} ` +
        `is larger than ${mebibytes(maxBytes)} ` +
        `(maxResponseBytes ${maxBytes}) and was not read whole; raise providers.${call.provider}.options.maxResponseBytes ` +
        `if answers this large are expected`
    }),
    { model: call.model, requestId: options.requestId }
  )

const declaredLength = (value: string | null | undefined): number | undefined => {
  if (value === undefined || value === null || value.trim() === "") return undefined
  const length = Number(value)
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined
}

const utf8 = new TextDecoder()

const concat = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(size)
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

/**
 * Reads an HTTP response's body as text, at most `maxBytes` of it. A body that declares a
 * length within the cap is read as is (the transport stops at that length); any other is read
 * chunk by chunk and, as soon as it passes the cap, the read fails with
 * {@link responseTooLarge} and the connection is closed, so a huge body is never held whole.
 *
 * @since 0.1.0
 * @category limits
 */
export const readText = (
  response: HttpClientResponse.HttpClientResponse,
  call: Call,
  maxBytes: number
): Effect.Effect<string, LlmError.LlmError | HttpClientError.HttpClientError> => {
  const declared = declaredLength(response.headers["content-length"])
  if (declared !== undefined && declared <= maxBytes) return response.text
  return Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    // A declared length over the cap fails on the first chunk: ending the stream closes the connection.
    const read = Stream.runForEach(response.stream, (chunk) => {
      size += chunk.length
      if (size > maxBytes || declared !== undefined) return Effect.fail(responseTooLarge(call, maxBytes))
      chunks.push(chunk)
      return Effect.void
    })
    return Effect.map(read, () => utf8.decode(concat(chunks, size)))
  })
}

/**
 * Caps the body of a fetch `Response` (for SDKs that take a `fetch`): a body that declares a
 * length over `maxBytes` is cancelled at once, any other fails its reader as soon as it passes
 * the cap; either way `onTooLarge` is called first, so the caller can tell this failure from the
 * SDK's own and raise {@link responseTooLarge}.
 *
 * @since 0.1.0
 * @category limits
 */
export const limitFetchResponse = (response: Response, maxBytes: number, onTooLarge: () => void): Response => {
  const body = response.body
  if (body === null) return response
  const declared = declaredLength(response.headers.get("content-length"))
  if (declared !== undefined && declared <= maxBytes) return response
  const tooLarge = () => {
    onTooLarge()
    return new RangeError(`the response is larger than maxResponseBytes (${maxBytes})`)
  }
  if (declared !== undefined) {
    void body.cancel().catch(() => undefined)
    throw tooLarge()
  }
  let size = 0
  const reader = body.getReader()
  const limited = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      const { done, value } = await reader.read()
      if (done) return controller.close()
      size += value.byteLength
      if (size > maxBytes) {
        controller.error(tooLarge())
        await reader.cancel().catch(() => undefined)
        return
      }
      controller.enqueue(value)
    },
    cancel: (reason) => reader.cancel(reason)
  })
  return new Response(limited, { status: response.status, statusText: response.statusText, headers: response.headers })
}
