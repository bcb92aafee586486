/**
 * A fake OpenAI chat-completions server on 127.0.0.1 (random port) that bills like a provider
 * that charges every request it received: an answered request is billed the usage it reports,
 * and a request whose client went away before the answer (a timeout, an interruption) is billed
 * its input tokens plus the output cap it was sent (`max_completion_tokens` / `max_tokens`): the
 * most the provider could have generated for it. Input tokens are counted with the project's
 * tokenizer, as OpenAI counts them.
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
}

export interface Options {
  /** How long the server takes to answer. */
  readonly delayMs: number
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
      const server = createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          received++
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Body
          const input = Tokenizer.countRequest({ messages: body.messages ?? [] })
          const cap = body.max_completion_tokens ?? body.max_tokens ?? 0
          let done = false
          const timer = setTimeout(() => {
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
          }, options.delayMs)
          response.on("close", () => {
            if (done) return
            done = true
            clearTimeout(timer)
            settled++
            abandoned++
            billed += input + cap
          })
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
              billed: () => billed
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

/** Waits (real time) until every request received has been answered or abandoned. */
export const settledAll = (billing: Billing): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let waited = 0; waited < 5_000 && billing.settled() < billing.received(); waited += 10) {
      yield* Effect.sleep("10 millis")
    }
  })
