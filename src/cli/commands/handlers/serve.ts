/**
 * The handler of `llm-connect serve` (see `../serve.ts`), loaded when the command runs.
 *
 * @since 0.1.0
 */
import { Console, Deferred, Effect, Exit, Option, Queue, Result } from "effect"
import * as DurationText from "../../../DurationText.ts"
import * as LlmError from "../../../LlmError.ts"
import * as NodeServe from "../../../node/NodeServe.ts"
import * as Serve from "../../../server/Serve.ts"
import * as Server from "../../../server/Server.ts"
import * as ServeConfig from "../../../server/ServeConfig.ts"
import * as GatewayFlags from "../../flags/GatewayFlags.ts"
import * as Output from "../../Output.ts"
import type { Input } from "../serve.ts"
import * as Federation from "../federation.ts"
import * as Keys from "../keys.ts"

const refuse = (description: string, fix: string, setting = "host") =>
  Effect.fail(LlmError.make("serve", new LlmError.Configuration({ description, setting, fix })))

// `--keep-alive-timeout`: a duration of more than 0 and at most 1h, in milliseconds.
const keepAliveFlag = (text: string | undefined) => {
  if (text === undefined) return Effect.succeed(undefined)
  const parsed = DurationText.parseMillis(text)
  const problem = Result.isFailure(parsed) ? parsed.failure : ServeConfig.keepAliveTimeoutProblem(parsed.success)
  return problem === undefined && Result.isSuccess(parsed)
    ? Effect.succeed(parsed.success)
    : refuse(`--keep-alive-timeout: ${problem}`, "pass a duration such as --keep-alive-timeout 65s (at most 1h)", "keepAliveTimeout")
}

// serve owns SIGTERM while it runs (the runtime's handler would interrupt at once, exit 130):
// the signal completes `stop`, and the handlers are put back afterwards.
const takeSigterm = (stop: Deferred.Deferred<void>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const saved = process.listeners("SIGTERM")
      process.removeAllListeners("SIGTERM")
      const onSigterm = () => {
        Deferred.doneUnsafe(stop, Exit.void)
      }
      process.on("SIGTERM", onSigterm)
      return { saved, onSigterm }
    }),
    ({ onSigterm, saved }) =>
      Effect.sync(() => {
        process.off("SIGTERM", onSigterm)
        for (const listener of saved) process.on("SIGTERM", listener as NodeJS.SignalsListener)
      })
  )

// The access log on stderr, one JSON line per request: each line is queued, and one fiber writes
// the lines queued since its last write together (stderr is written synchronously, one `write`
// system call each: one per batch instead of one per request; docs/performance.md, stop 27). Not
// through console.error's formatting (about as much again per request, stop 24). The lines still
// queued when serve stops are written by the scope's finalizer, after the server's (it is made
// first, so it closes last).
const accessLogWriter = Effect.gen(function*() {
  const lines = yield* Queue.unbounded<string>()
  // Named, so that a CPU profile finds them (bench/cpu-profile.ts).
  const writeAccessLines = (batch: ReadonlyArray<string>): void => {
    if (batch.length > 0) process.stderr.write(`${batch.join("\n")}\n`)
  }
  const queueAccessLine = (line: Server.AccessLogLine): void => void Queue.offerUnsafe(lines, JSON.stringify(line))
  const write = (batch: ReadonlyArray<string>) => Effect.sync(() => writeAccessLines(batch))
  yield* Effect.addFinalizer(() => Effect.flatMap(Queue.clear(lines), write))
  // A batch taken is written before the fiber can be interrupted.
  yield* Effect.forkScoped(Effect.forever(Effect.uninterruptibleMask((restore) => Effect.flatMap(restore(Queue.takeAll(lines)), write))))
  return (line: Server.AccessLogLine): Effect.Effect<void> => Effect.sync(() => queueAccessLine(line))
})

/**
 * Runs `serve` with its parsed flags.
 *
 * @since 0.1.0
 * @category handlers
 */
export const run = Effect.fn("cli.serve")(function*(input: Input) {
    const port = Option.getOrUndefined(input.port)
    if (port !== undefined && (port < 0 || port > 65535)) {
      return yield* refuse(`--port is ${port}; it must be 0 to 65535`, "pass --port 9999, or --port 0 for a free port")
    }
    const keepAliveTimeoutMs = yield* keepAliveFlag(Option.getOrUndefined(input.keepAliveTimeout))
    yield* Effect.scoped(Effect.gen(function*() {
      const resolved = yield* GatewayFlags.load(input)
      const host = Option.getOrUndefined(input.host) ?? resolved.config.serve.host ?? ServeConfig.DEFAULT_HOST
      const keys = yield* Keys.storeOf(resolved.config)
      const keyCount = keys === undefined ? 0 : yield* keys.count
      if (keyCount === 0 && !Server.loopback(host) && !input.noAuth) {
        return yield* refuse(
          `refusing to listen on ${host} without keys: anyone who can reach it could spend your budget`,
          "listen on 127.0.0.1 (the default), or pass --no-auth to accept every caller on that address"
        )
      }
      const accessLog = yield* accessLogWriter
      const stop = yield* Deferred.make<void>()
      yield* takeSigterm(stop)
      const running = yield* Serve.make(resolved, {
        listen: NodeServe.listen,
        host,
        keys,
        federation: yield* Federation.storeForServe(resolved.config),
        ...(port !== undefined ? { port } : {}),
        ...(Option.isSome(input.workflows) ? { workflows: input.workflows.value } : {}),
        ...(keepAliveTimeoutMs !== undefined ? { keepAliveTimeoutMs } : {}),
        accessLog
      })
      yield* Console.log(`listening on ${running.server.url}`)
      yield* Deferred.await(stop)
      const drainMs = running.settings.drainTimeoutMs
      yield* Output.notice(`SIGTERM: draining (up to ${drainMs} ms for the requests and workflow runs in flight)`)
      // Both at once: a run's event stream (a request) ends when its run does.
      const [left, cancelled] = yield* Effect.all([running.server.drain(drainMs), running.runs.drain(drainMs)], { concurrency: 2 })
      if (cancelled > 0) yield* Output.notice(`${cancelled} workflow run(s) still running after the drain timeout: cancelled`)
      if (left > 0) yield* Output.notice(`${left} request(s) still running after the drain timeout: stopping them`)
      // Closing the scope stops what is left, closes the stacks and flushes the usage ledger.
    }))
    yield* Output.notice("stopped")
  })
