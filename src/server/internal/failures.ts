// Failures and usage notes shared by the server's doors.
import { Effect } from "effect"
import * as BridgeContract from "../../bridge/BridgeContract.ts"
import type * as LlmError from "../../LlmError.ts"
import type * as LlmResponse from "../../LlmResponse.ts"
import type * as StreamPart from "../../StreamPart.ts"
import * as Server from "../Server.ts"

// The failure document of an LlmError, as the bridge writes it (configuration problems: InvalidInput).
export const ofLlmError = (error: LlmError.LlmError): BridgeContract.BridgeFailure => BridgeContract.fromLlmError(error).document

// A response's tokens on the request's access-log line.
export const note = (response: LlmResponse.LlmResponse): Effect.Effect<void> =>
  Server.noteUsage({ tokensIn: response.usage.inputTokens, tokensOut: response.usage.outputTokens, model: response.model })

// The usage of a streamed answer's finish part (the last of a pull's parts) on the request's
// access-log line; nothing to do for a pull without it.
export const noteFinish = (parts: ReadonlyArray<StreamPart.StreamPart>): Effect.Effect<void> | undefined => {
  const last = parts[parts.length - 1]!
  return last.type === "finish" ? note(last.response) : undefined
}
