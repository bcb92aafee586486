/**
 * Flags of the embedded mock provider: `--mock-reply`, `--mock-latency`, `--mock-faults`.
 * Keys are the settings' paths in the config file.
 *
 * @since 0.1.0
 */
import { Flag } from "effect/cli"

/**
 * The flags of this group.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = {
  "mock.reply": Flag.String("mock-reply").pipe(
    Flag.withMetavar("TEXT"),
    Flag.withDescription("the mock's reply (\"echo\" repeats the prompt)"),
    Flag.optional
  ),
  "mock.latency": Flag.String("mock-latency").pipe(
    Flag.withMetavar("DURATION"),
    Flag.withDescription("the mock's latency, e.g. 250ms"),
    Flag.optional
  ),
  "mock.faults": Flag.String("mock-faults").pipe(
    Flag.withMetavar("SCRIPT"),
    Flag.withDescription("fail the next calls, e.g. 429,500 (ok, 429[:2s], 5xx, timeout, hang, network, malformed, auth, 400)"),
    Flag.optional
  )
} as const
