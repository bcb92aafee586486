/**
 * The provider conformance suite (src/testing/ProviderConformance.ts) against the Claude Code
 * provider: the real `claude` binary, talking to a fake Anthropic API that can be told to fail.
 *
 * Not provoked: `rate-limited`. The suite expects the 429's Retry-After to be kept, and the
 * claude CLI does not report it (its JSON result has the status and the text only), so a 429
 * becomes RateLimited without `retryAfterMs` (tested in ClaudeCodeLanguageModel.test.ts).
 */
import { NodeServices } from "@effect/platform-node"
import { describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import * as ClaudeCodeLanguageModel from "../../../src/providers/claude-code/ClaudeCodeLanguageModel.ts"
import { ProviderConformance } from "../../../src/testing/index.ts"
import * as Harness from "./ClaudeCodeHarness.ts"
import * as FakeAnthropicApi from "./FakeAnthropicApi.ts"

const KEY = "sk-ant-conformance-0123456789abcdef"
const ANSWER = FakeAnthropicApi.proportionalAnswer("The river runs past the old mill and on to the sea.")

const modeFor = (fault: ProviderConformance.Fault): FakeAnthropicApi.Mode => {
  const spec = ProviderConformance.faults[fault]
  switch (fault) {
    case "hang":
      return { _tag: "Hang" }
    case "network":
      return { _tag: "Destroy" }
    case "malformed":
      return { _tag: "Malformed" }
    default:
      return {
        _tag: "Status",
        status: spec.httpStatus!,
        message: spec.description,
        ...(spec.retryAfterSeconds !== undefined ? { retryAfterSeconds: spec.retryAfterSeconds } : {})
      }
  }
}

const subject: ProviderConformance.Subject = {
  name: "claude-code (real claude binary, fake Anthropic API)",
  apiKey: KEY,
  faults: ["server-error", "unavailable", "authentication", "invalid-request", "network", "malformed", "hang"],
  make: Effect.gen(function*() {
    const api = yield* FakeAnthropicApi.start({ _tag: "Answer", answer: ANSWER })
    const wrapper = yield* Harness.makeWrapper()
    const { ANTHROPIC_API_KEY: _unused, ...env } = wrapper.env
    const model = yield* ClaudeCodeLanguageModel.make({
      binaryPath: Harness.claudeBinary(),
      baseUrl: api.origin,
      apiKey: Redacted.make(KEY),
      env
    })
    const harness: ProviderConformance.Harness = {
      model,
      // a fault stays set until the next one: the CLI may send more than one request per call
      // (on a 400 it tries again without some beta features; on an unreadable answer, without streaming)
      provoke: (fault) => Effect.sync(() => api.setMode(modeFor(fault))),
      calls: Effect.sync(() => api.messageRequests().length),
      aborts: api.server.abandonedTotal
    }
    return harness
  }).pipe(Effect.provide(NodeServices.layer))
}

describe("claude-code conformance", () => {
  // Each check starts the CLI several times; killing it on interruption sends SIGTERM, then
  // SIGKILL after 2 seconds if it is still there.
  ProviderConformance.register(it, subject, { checkTimeout: "100 seconds", interruptWithin: "5 seconds" })
})
