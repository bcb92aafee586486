/**
 * `llm-connect bridge`: the bridge contract (`src/bridge/`) on stdin and stdout, for programs in
 * any language.
 *
 * Without `--jsonl` it reads one JSON request on stdin (up to EOF), prints one JSON answer on
 * stdout and exits 0 (success), 1 (the call failed: the `LlmError` reason, a timeout included)
 * or 2 (`InvalidInput`: not JSON, no prompt, an unknown provider, a missing key, a bad
 * setting). With `--jsonl` it is long-lived: one request per line, one answer per line as each
 * finishes (up to `--concurrency` at once; reading pauses while that many are in flight), the
 * request's `id` echoed; a line that cannot be read is answered with `"id": null` and
 * `InvalidInput`, and the bridge goes on; at EOF it finishes the requests in flight and exits 0.
 *
 * Nothing but answers goes to stdout; notices and logs go to stderr. A request (a line, or the
 * single document) is at most `maxRequestBytes` plus 64 KiB; a longer one is refused unread.
 *
 * SIGINT or SIGTERM stops the bridge at once: calls in flight are interrupted (each is answered
 * with `errorType: "Interrupted"` and its usage so far is charged and recorded), the usage
 * ledger is flushed, and the process exits 130, the CLI's code for an interrupted run. To stop
 * `--jsonl` gracefully, close its stdin: it answers everything it has read, then exits 0.
 *
 * @since 0.1.0
 */
import { Console, Data, Effect, FiberSet, Runtime, Semaphore, Stdio, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import * as Bridge from "../../bridge/Bridge.ts"
import * as BridgeContract from "../../bridge/BridgeContract.ts"
import * as Lines from "../../bridge/internal/lines.ts"
import * as LlmError from "../../LlmError.ts"
import * as UsageLedger from "../../observability/UsageLedger.ts"
import * as RequestSize from "../../RequestSize.ts"
import * as GatewayFlags from "../flags/GatewayFlags.ts"
import * as Output from "../Output.ts"

/**
 * How many `--jsonl` requests run at once unless `--concurrency` says otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CONCURRENCY = 16

/**
 * How the command ends once it has printed a failure itself: a message for `main.ts`'s error
 * line on stderr, and the exit code (1 or 2).
 *
 * @since 0.1.0
 * @category errors
 */
export class BridgeExit extends Data.TaggedError("BridgeExit")<{ readonly message: string; readonly code: number }> {
  override get [Runtime.errorExitCode](): number {
    return this.code
  }
}

/**
 * The answer to a request stopped by a signal.
 *
 * @since 0.1.0
 * @category constants
 */
export const INTERRUPTED: BridgeContract.BridgeFailure = {
  ...BridgeContract.fromLlmError(
    LlmError.make("bridge", new LlmError.Interrupted({ description: "stopped by a signal (SIGINT or SIGTERM) before it finished" }))
  ).document,
  error: "interrupted"
}

/** One answer, one line. */
const write = (answer: BridgeContract.BridgeAnswer): Effect.Effect<void> => Console.log(JSON.stringify(answer))

const tooLong = (bytes: number, limit: number): BridgeContract.BridgeFailure => ({
  id: null,
  ...BridgeContract.invalidInput(
    `the request is over ${RequestSize.formatBytes(limit)} (${bytes > limit ? "more than " : ""}${RequestSize.formatBytes(bytes)} read)`,
    {
      setting: RequestSize.SETTING,
      fix: "send a smaller request, or raise --max-request-bytes (LLM_CONNECT_MAX_REQUEST_BYTES, maxRequestBytes in the file)"
    }
  ).document
})

const unreadable = (error: { readonly message: string }): BridgeContract.BridgeFailure => ({
  id: null,
  ...BridgeContract.invalidInput(`cannot read stdin: ${error.message}`).document
})

const withoutId = ({ id: _id, ...answer }: BridgeContract.BridgeFailure): BridgeContract.BridgeFailure => answer

// One request from stdin, one answer on stdout; a failed answer ends the command with its code.
const single = (bridge: Bridge.Service, stdin: Stdio.Stdio["stdin"]) =>
  Effect.gen(function*() {
    const line = yield* Lines.document(stdin, bridge.maxDocumentBytes).pipe(
      Effect.map((line) => ({ line, failure: undefined })),
      Effect.catch((error) => Effect.succeed({ line: undefined, failure: unreadable(error) }))
    )
    const answer = line.failure !== undefined
      ? line.failure
      : line.line._tag === "TooLong"
      ? tooLong(line.line.bytes, bridge.maxDocumentBytes)
      : yield* bridge.answerText(line.line.text)
    // One request: no id to match, so an unreadable one is not given "id": null.
    yield* write(BridgeContract.isFailure(answer) && answer.id === null ? withoutId(answer) : answer)
    const code = BridgeContract.exitCode(answer)
    if (BridgeContract.isFailure(answer) && code !== 0) return yield* Effect.fail(new BridgeExit({ message: answer.error, code }))
  }).pipe(Effect.onInterrupt(() => write(INTERRUPTED)))

// One request per line, answered as each finishes, at most `concurrency` at once.
const jsonl = (bridge: Bridge.Service, stdin: Stdio.Stdio["stdin"], concurrency: number) =>
  Effect.gen(function*() {
    const permits = yield* Semaphore.make(concurrency)
    const inFlight = yield* FiberSet.make<void, never>()
    const serve = (line: Lines.Line): Effect.Effect<void> => {
      if (line._tag === "TooLong") return write(tooLong(line.bytes, bridge.maxDocumentBytes))
      const parsed = BridgeContract.parseJson(line.text)
      if (parsed._tag === "Failure") return write({ id: null, ...parsed.failure.document })
      const id = BridgeContract.idOf(parsed.success)
      return bridge.answer(parsed.success).pipe(
        Effect.flatMap(write),
        Effect.onInterrupt(() => write(id === null ? INTERRUPTED : { id, ...INTERRUPTED }))
      )
    }
    yield* Lines.lines(stdin, bridge.maxDocumentBytes).pipe(
      Stream.runForEach((line) =>
        line._tag === "Line" && line.text.trim() === ""
          ? Effect.void
          : Effect.andThen(
            Semaphore.take(permits, 1),
            FiberSet.run(inFlight, Effect.ensuring(serve(line), Semaphore.release(permits, 1)))
          )
      ),
      Effect.catch((error) => Output.errorLine(`cannot read stdin: ${error.message}; finishing the requests in flight`))
    )
    // EOF: drain.
    yield* FiberSet.awaitEmpty(inFlight)
  })

/**
 * The `bridge` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "bridge",
  {
    ...GatewayFlags.flags,
    jsonl: Flag.Boolean("jsonl").pipe(
      Flag.withDescription("long-lived: one JSON request per line, one answer per line as each finishes; EOF drains and exits 0"),
      Flag.withDefault(false)
    ),
    concurrency: Flag.Int("concurrency").pipe(
      Flag.withMetavar("N"),
      Flag.withDescription(`--jsonl: most requests in flight at once (default ${DEFAULT_CONCURRENCY}); reading pauses beyond it`),
      Flag.withDefault(DEFAULT_CONCURRENCY)
    )
  },
  Effect.fn("cli.bridge")(function*(input) {
    if (!Number.isInteger(input.concurrency) || input.concurrency < 1) {
      const failure = BridgeContract.invalidInput(`--concurrency is ${input.concurrency}; it must be a whole number of at least 1`, {
        setting: "concurrency",
        fix: `pass --concurrency ${DEFAULT_CONCURRENCY}, or leave it out`
      })
      yield* write(failure.document)
      return yield* Effect.fail(new BridgeExit({ message: failure.document.error, code: 2 }))
    }
    const stdin = (yield* Stdio.Stdio).stdin
    yield* Effect.scoped(Effect.gen(function*() {
      const resolved = yield* GatewayFlags.load(input)
      // `--jsonl` is long-lived: a SQLite ledger writes from a thread of its own (ADR 0053).
      const bridge = yield* Bridge.make(resolved).pipe(Effect.provideService(UsageLedger.WriteOffThread, input.jsonl))
      if (input.jsonl) yield* jsonl(bridge, stdin, input.concurrency)
      else yield* single(bridge, stdin)
    })).pipe(
      // A configuration that cannot be loaded (bad file, bad flag value, unwritable ledger):
      // the answer is its failure document.
      Effect.catchTag("LlmError", (error) => {
        const failure = BridgeContract.fromLlmError(error)
        return Effect.andThen(write(failure.document), Effect.fail(new BridgeExit({ message: failure.document.error, code: failure.exitCode })))
      })
    )
  })
).pipe(
  Command.withDescription(
    "Answer JSON requests on stdin with JSON on stdout (the bridge contract; docs/bridge.md). Exit 0 success, 1 the call failed, 2 invalid input"
  ),
  Command.withExamples([
    {
      command: "echo '{\"provider\":\"mock\",\"model\":null,\"systemPrompt\":null,\"prompt\":\"Hi\",\"maxTokens\":100,\"temperature\":0.2}' | llm-connect bridge",
      description: "one request, one answer"
    },
    { command: "llm-connect bridge --jsonl --concurrency 8 < requests.jsonl", description: "one answer per line, as each finishes" }
  ])
)
