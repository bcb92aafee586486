/**
 * `llm-connect serve`: the gateway. Serves the bridge contract (`POST /execute`), JSON-RPC
 * (`POST /rpc`), the OpenAI- and Anthropic-compatible APIs and the server's own endpoints over
 * HTTP (`src/server/`, docs/serve.md), with the provider, budget and resilience flags `prompt`
 * and `bridge` take (a budget applies per request).
 *
 * The first line on stdout is exactly `listening on http://HOST:PORT` (`--port 0` picks a free
 * port); nothing else goes to stdout. Each request writes one JSON access-log line on stderr.
 *
 * Without virtual keys the server accepts calls only on a loopback address: asked to bind any
 * other address it refuses to start (exit 2) unless `--no-auth` is given.
 *
 * SIGTERM drains: the server stops accepting, the calls and workflow runs in flight finish (up to
 * `serve.drainTimeout`, then they are stopped and their usage charged; a stopped run is
 * journaled as cancelled), the usage ledger is
 * flushed, and the process exits 0 (a documented exception to the 130 rule). SIGINT stops at
 * once (130), interrupting the calls in flight.
 *
 * @since 0.1.0
 */
import { Console, Deferred, Effect, Exit, Option } from "effect"
import { Command, Flag } from "effect/cli"
import * as LlmError from "../../LlmError.ts"
import * as NodeServe from "../../node/NodeServe.ts"
import * as Serve from "../../server/Serve.ts"
import * as Server from "../../server/Server.ts"
import * as ServeConfig from "../../server/ServeConfig.ts"
import * as GatewayFlags from "../flags/GatewayFlags.ts"
import * as Output from "../Output.ts"
import * as Keys from "./keys.ts"
import * as Federation from "./federation.ts"

/**
 * The serve-only flags.
 *
 * @since 0.1.0
 * @category flags
 */
export const flags = {
  host: Flag.String("host").pipe(
    Flag.withMetavar("ADDRESS"),
    Flag.withDescription(`the address to listen on (default serve.host, else ${ServeConfig.DEFAULT_HOST})`),
    Flag.optional
  ),
  port: Flag.Int("port").pipe(
    Flag.withMetavar("PORT"),
    Flag.withDescription(`the port (default serve.port, else ${ServeConfig.DEFAULT_PORT}; 0 picks a free one)`),
    Flag.optional
  ),
  workflows: Flag.String("workflows").pipe(
    Flag.withMetavar("DIR"),
    Flag.withDescription("a folder of workflow YAML files to serve at /v1/workflows/{name}/runs (default serve.workflows)"),
    Flag.optional
  ),
  noAuth: Flag.Boolean("no-auth").pipe(
    Flag.withDescription("allow a non-loopback address without virtual keys (anyone who can reach it can spend)"),
    Flag.withDefault(false)
  )
} as const

const refuse = (description: string, fix: string) =>
  Effect.fail(LlmError.make("serve", new LlmError.Configuration({ description, setting: "host", fix })))

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

/**
 * The `serve` command.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "serve",
  {
    ...flags,
    ...GatewayFlags.flags
  },
  Effect.fn("cli.serve")(function*(input) {
    const port = Option.getOrUndefined(input.port)
    if (port !== undefined && (port < 0 || port > 65535)) {
      return yield* refuse(`--port is ${port}; it must be 0 to 65535`, "pass --port 9999, or --port 0 for a free port")
    }
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
      const stop = yield* Deferred.make<void>()
      yield* takeSigterm(stop)
      const running = yield* Serve.make(resolved, {
        listen: NodeServe.listen,
        host,
        keys,
        federation: yield* Federation.storeForServe(resolved.config),
        ...(port !== undefined ? { port } : {}),
        ...(Option.isSome(input.workflows) ? { workflows: input.workflows.value } : {}),
        // Written as one string, straight to stderr (console.error's formatting costs about as
        // much again per request; see docs/performance.md, stop 24).
        accessLog: (line) => Effect.sync(() => void process.stderr.write(`${JSON.stringify(line)}\n`))
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
).pipe(
  Command.withDescription(
    "Serve llm-connect over HTTP: /execute, /rpc (JSON-RPC), OpenAI- and Anthropic-compatible APIs, /health, /metrics (docs/serve.md)"
  ),
  Command.withExamples([
    { command: "llm-connect serve --port 9999", description: "on 127.0.0.1:9999 with the configured provider" },
    { command: "llm-connect serve --port 0 --provider mock", description: "a free port; the first stdout line names it" },
    { command: "llm-connect serve --workflows ./workflows", description: "also serve the workflows of a folder (POST /v1/workflows/NAME/runs)" }
  ])
)
