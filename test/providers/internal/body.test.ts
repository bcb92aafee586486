import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { HttpClientError, HttpClientRequest, HttpClientResponse } from "effect/http"
import { Readable } from "node:stream"
import * as Body from "../../../src/providers/internal/body.ts"

const request = HttpClientRequest.get("http://127.0.0.1/")
const bytes = (text: string) => new TextEncoder().encode(text)
const textOf = (read: Body.Read) =>
  Array.isArray(read) ? read.map((chunk) => new TextDecoder().decode(chunk)).join("") : read

/** A response over `source` shaped as the Node transports' are (undici: `source.body`; node:http: `source`). */
const nodeResponse = (source: unknown): HttpClientResponse.HttpClientResponse =>
  Object.assign(HttpClientResponse.fromWeb(request, new Response("")), { source })

describe("Body", () => {
  it("readableOf: the Readable of a node:http response (source) or an undici one (source.body); none for a fetch Response", () => {
    const readable = new Readable({ read() {} })
    assert.strictEqual(Body.readableOf(nodeResponse(readable)), readable)
    assert.strictEqual(Body.readableOf(nodeResponse({ statusCode: 200, body: readable })), readable)
    assert.isUndefined(Body.readableOf(HttpClientResponse.fromWeb(request, new Response("x"))))
  })

  it.live("ofReadable: what is there is read at once, a wait ends when more comes, then the end", () =>
    Effect.gen(function*() {
      const readable = new Readable({ read() {} })
      const body = Body.ofReadable(nodeResponse(readable), readable)
      assert.isUndefined(body.read())
      readable.push(bytes("data: a\n\n"))
      readable.push(bytes("data: b\n\n"))
      assert.strictEqual(textOf(body.read()), "data: a\n\ndata: b\n\n")
      assert.isUndefined(body.read())
      const waiting = yield* Effect.forkChild(body.wait)
      yield* Effect.yieldNow
      readable.push(bytes("data: c\n\n"))
      yield* Fiber.join(waiting)
      assert.strictEqual(textOf(body.read()), "data: c\n\n")
      readable.push(null)
      let read = body.read()
      while (read === undefined) {
        yield* body.wait
        read = body.read()
      }
      assert.isNull(read)
      assert.isNull(body.read())
      body.close()
      assert.isFalse(readable.destroyed && !readable.readableEnded)
    }))

  it.live("ofReadable: an error of the body is a DecodeError with its cause; a close before the end is a premature close", () =>
    Effect.gen(function*() {
      const failing = new Readable({ read() {} })
      const body = Body.ofReadable(nodeResponse(failing), failing)
      const cause = Object.assign(new Error("socket hang up"), { code: "UND_ERR_SOCKET" })
      const waiting = yield* Effect.forkChild(body.wait)
      yield* Effect.yieldNow
      failing.destroy(cause)
      yield* Fiber.join(waiting)
      const failed = body.read()
      assert.instanceOf(failed, HttpClientError.HttpClientError)
      const reason = (failed as HttpClientError.HttpClientError).reason
      assert.strictEqual(reason._tag, "DecodeError")
      assert.strictEqual((reason as HttpClientError.DecodeError).cause, cause)
      assert.strictEqual(body.read(), failed)

      const closed = new Readable({ read() {} })
      const cut = Body.ofReadable(nodeResponse(closed), closed)
      closed.destroy()
      const premature = cut.read()
      assert.instanceOf(premature, HttpClientError.HttpClientError)
      const prematureCause = ((premature as HttpClientError.HttpClientError).reason as HttpClientError.DecodeError).cause
      assert.strictEqual((prematureCause as { code?: string }).code, "ERR_STREAM_PREMATURE_CLOSE")
    }))

  it("ofReadable: closing before the end destroys the body", () => {
    const readable = new Readable({ read() {} })
    readable.push(bytes("data: a\n\n"))
    const body = Body.ofReadable(nodeResponse(readable), readable)
    body.close()
    assert.isTrue(readable.destroyed)
  })

  it.effect("ofPull: each wait is one pull; the end and a failure stay", () =>
    Effect.gen(function*() {
      const pull = yield* Stream.toPull(Stream.make(bytes("data: a\n\n"), bytes("data: b\n\n")).pipe(Stream.rechunk(1)))
      const body = Body.ofPull(pull)
      assert.isUndefined(body.read())
      yield* body.wait
      assert.strictEqual(textOf(body.read()), "data: a\n\n")
      assert.isUndefined(body.read())
      yield* body.wait
      assert.strictEqual(textOf(body.read()), "data: b\n\n")
      yield* body.wait
      assert.isNull(body.read())
      assert.isNull(body.read())

      const error = new HttpClientError.HttpClientError({
        reason: new HttpClientError.TransportError({ request, cause: new Error("reset") })
      })
      const failing = Body.ofPull(Effect.fail(error))
      yield* failing.wait
      assert.strictEqual(failing.read(), error)
      assert.strictEqual(failing.read(), error)
    }).pipe(Effect.scoped))
})
