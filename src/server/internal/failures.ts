// Failures and usage notes shared by the server's doors.
import { Effect } from "effect"
import * as BridgeContract from "../../bridge/BridgeContract.ts"
import type * as LlmError from "../../LlmError.ts"
import type * as LlmResponse from "../../LlmResponse.ts"
import * as Server from "../Server.ts"

// The failure document of an LlmError, as the bridge writes it (configuration problems: InvalidInput).
export const ofLlmError = (error: LlmError.LlmError): BridgeContract.BridgeFailure => BridgeContract.fromLlmError(error).document

// A response's tokens on the request's access-log line.
export const note = (response: LlmResponse.LlmResponse): Effect.Effect<void> =>
  Server.noteUsage({ tokensIn: response.usage.inputTokens, tokensOut: response.usage.outputTokens, model: response.model })
