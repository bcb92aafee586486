/**
 * A fake OpenAI chat-completions server on 127.0.0.1 (random port) that bills like a provider
 * that charges every request it received: an answered request is billed the usage it reports,
 * and a request whose client went away before the answer (a timeout, an interruption) is billed
 * its input tokens plus the output cap it was sent (`max_completion_tokens` / `max_tokens`): the
 * most the provider could have generated for it. Input tokens are counted with the project's
 * tokenizer, as OpenAI counts them.
 *
 * A server started with `delayMs: "never"` holds every request until its client goes away, so a
 * test that waits for {@link Billing.untilReceived} before it lets the attempt time out (on
 * `TestClock`) knows the request arrived and that no answer can cross the timeout, however
 * loaded the machine.
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"
import type * as Message from "../../src/Message.ts"
import * as Tokenizer from "../../src/Tokenizer.ts"

export interface Billing {
  readonly origin: string
  /** Requests received. */
  readonly received: () => number
  /** Requests settled: answered, or abandoned by their client. */
  readonly settled: () => number
  /** Requests abandoned by their client before the answer. */
  readonly abandoned: () => number
  /** Tokens billed so far (input + output). */
  readonly billed: () => number
  /** Resolves once `count` requests have been received (real time, no polling). */
  readonly untilReceived: (count: number) => Promise<void>
  /** Resolves once every request received has been settled (real time, no polling). */
  readonly untilSettled: () => Promise<void>
}

export interface Options {
  /** How long the server takes to answer; `"never"`: it holds the request until its client goes away. */
  readonly delayMs: number | "never"
  /** The model named in the answer (default: the one asked for). */
  readonly answerModel?: string | undefined
  /** Output tokens of an answer (capped by the request's output cap). */
  readonly outputTokens?: number | undefined
}

interface Body {
  readonly model?: string
  readonly messages?: ReadonlyArray<Message.Message>
  readonly max_completion_tokens?: number
  readonly max_tokens?: number
}

export const start = (options: Options): Effect.Effect<Billing, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => {
      let received = 0
      let settled = 0
      let abandoned = 0
      let billed = 0
      let waiters: Array<{ readonly ready: () => boolean; readonly resolve: () => void }> = []
      const wake = () => {
        const ready = waiters.filter((waiter) => waiter.ready())
        waiters = waiters.filter((waiter) => !waiter.ready())
        for (const waiter of ready) waiter.resolve()
      }
      const until = (ready: () => boolean) =>
        ready() ? Promise.resolve() : new Promise<void>((resolve) => void waiters.push({ ready, resolve }))
      const server = createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          received++
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Body
          const input = Tokenizer.countRequest({ messages: body.messages ?? [] })
          const cap = body.max_completion_tokens ?? body.max_tokens ?? 0
          let done = false
          const answer = () => {
            if (done || response.destroyed) return
            done = true
            settled++
            const output = Math.min(options.outputTokens ?? 5, cap === 0 ? Number.POSITIVE_INFINITY : cap)
            billed += input + output
            response.writeHead(200, { "content-type": "application/json" })
            response.end(JSON.stringify({
              id: "chatcmpl-billing",
              object: "chat.completion",
              created: 1_700_000_000,
              model: options.answerModel ?? body.model ?? "gpt-4o-mini",
              choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
              usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output }
            }))
            wake()
          }
          const timer = options.delayMs === "never" ? undefined : setTimeout(answer, options.delayMs)
          response.on("close", () => {
            if (done) return
            done = true
            clearTimeout(timer)
            settled++
            abandoned++
            billed += input + cap
            wake()
          })
          wake()
        })
      })
      return new Promise<{ server: typeof server; billing: Billing }>((resolve) =>
        server.listen(0, "127.0.0.1", () =>
          resolve({
            server,
            billing: {
              origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
              received: () => received,
              settled: () => settled,
              abandoned: () => abandoned,
              billed: () => billed,
              untilReceived: (count) => until(() => received >= count),
              untilSettled: () => until(() => settled >= received)
            }
          }))
      )
    }),
    ({ server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
      )
  ).pipe(Effect.map(({ billing }) => billing))

/**
 * Waits until every request received has been answered or abandoned, at most 10 s of real time
 * (a plain timer, not `Clock`: it works on `TestClock` too); the test's assertions say what is
 * missing after that.
 */
export const settledAll = (billing: Billing): Effect.Effect<void> =>
  Effect.promise((signal) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000)
      signal.addEventListener("abort", () => clearTimeout(timer))
      void billing.untilSettled().then(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  )
