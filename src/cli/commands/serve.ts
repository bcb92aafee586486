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
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import * as ServeConfig from "../../server/ServeConfig.ts"
import * as GatewayFlags from "../flags/GatewayFlags.ts"

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
  keepAliveTimeout: Flag.String("keep-alive-timeout").pipe(
    Flag.withMetavar("DURATION"),
    Flag.withDescription(
      "how long an idle client connection is kept open, e.g. 65s or 2m (default serve.keepAliveTimeout, else 65s; at most 1h): " +
        "longer than the idle timeout of the clients and load balancers in front"
    ),
    Flag.optional
  ),
  noAuth: Flag.Boolean("no-auth").pipe(
    Flag.withDescription("allow a non-loopback address without virtual keys (anyone who can reach it can spend)"),
    Flag.withDefault(false)
  )
} as const

const config = { ...flags, ...GatewayFlags.flags } as const

/**
 * What the `serve` command is given (its flags, parsed).
 *
 * @since 0.1.0
 * @category models
 */
export type Input = Command.Command.Config.Infer<typeof config>

/**
 * The `serve` command. Its handler (the server, its routes and stores) is loaded only when
 * `serve` runs (`handlers/serve.ts`), so other commands start without it.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make(
  "serve",
  config,
  (input) => Effect.flatMap(Effect.promise(() => import("./handlers/serve.ts")), (handler) => handler.run(input))
).pipe(
  Command.withDescription(
    "Serve llm-connect over HTTP: /execute, /rpc (JSON-RPC), OpenAI- and Anthropic-compatible APIs, /health, /metrics (docs/serve.md)"
  ),
  Command.withExamples([
    { command: "llm-connect serve --port 9999", description: "on 127.0.0.1:9999 with the configured provider" },
    { command: "llm-connect serve --port 0 --provider mock", description: "a free port; the first stdout line names it" },
    { command: "llm-connect serve --workflows ./workflows", description: "also serve the workflows of a folder (POST /v1/workflows/NAME/runs)" },
    { command: "llm-connect serve --keep-alive-timeout 2m", description: "keep idle client connections 2 minutes (clients that keep theirs 90 s)" }
  ])
)
