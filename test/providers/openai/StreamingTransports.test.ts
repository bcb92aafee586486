/**
 * The OpenAI-protocol streaming suite on the other transports (issue 14, stop 31, ADR 0064): a
 * streamed body is read from its Node `Readable` when the response has one (undici's, in the other
 * suites; `node:http`'s, serve's lean transport here), else through the response's `stream` (a
 * fetch `Response` here): every behaviour the same on each.
 */
import { FetchHttpClient } from "effect/http"
import * as HttpTransport from "../../../src/node/internal/httpTransport.ts"
import * as OpenAiCompatibleLanguageModel from "../../../src/providers/openai-compatible/OpenAiCompatibleLanguageModel.ts"
import { streamingSuite } from "./streamingSuite.ts"

const make = (origin: string, options: { readonly maxResponseBytes?: number } = {}) =>
  OpenAiCompatibleLanguageModel.make({ baseUrl: `${origin}/v1`, defaultModel: "qwen2.5:0.5b", ...options })

streamingSuite({
  provider: "openai-compatible",
  path: "/v1/chat/completions",
  make,
  transport: { name: "node:http (serve's lean transport)", layer: HttpTransport.layer({ keepAliveMs: 5_000 }) }
})

streamingSuite({
  provider: "openai-compatible",
  path: "/v1/chat/completions",
  make,
  transport: { name: "fetch (the response's stream)", layer: FetchHttpClient.layer }
})
