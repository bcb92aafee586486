/**
 * The server's own endpoints: `GET /health` (alive), `GET /ready` (the configuration is loaded,
 * the usage ledger is writable: its file, or its database answering, and the shared budget store
 * answers when there is one; 503 otherwise, the failing checks named in `failing`), `GET /metrics` (our metrics in the
 * Prometheus text format, `LlmMetrics`), `GET /v1/usage?since=1h&by=model` (the ledger's sums,
 * `UsageReport`) and `GET /openapi.json` (generated from `ServeApi`). None is shed when the
 * server is busy, so probes and scrapes answer under load.
 *
 * @since 0.1.0
 */
import { Clock, Effect, FileSystem } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import type * as Bridge from "../bridge/Bridge.ts"
import type * as LlmConnectConfig from "../LlmConnectConfig.ts"
import * as ObservabilityConfig from "../observability/ObservabilityConfig.ts"
import type * as UsageLedger from "../observability/UsageLedger.ts"
import * as LlmMetrics from "../observability/LlmMetrics.ts"
import * as Server from "./Server.ts"
import * as ServeApi from "./ServeApi.ts"
import * as UsageReport from "./UsageReport.ts"

/**
 * The readiness checks: each `"ok"` or what is wrong. A ledger file must be writable; a ledger in
 * a database (a `postgres://` URL) must answer a query within 2 s; `more` adds checks (serve's
 * shared budget store: `store`). A check never shows a URL's password (`/ready` answers without
 * a key).
 *
 * @since 0.1.0
 * @category checks
 */
export const readiness = (
  config: LlmConnectConfig.LlmConnectConfig,
  ledger: UsageLedger.Service | undefined,
  fs: FileSystem.FileSystem,
  more: Readonly<Record<string, Effect.Effect<string>>> = {}
): Effect.Effect<Record<string, string>> =>
  Effect.gen(function*() {
    const location = config.ledger === false ? undefined : ObservabilityConfig.ledgerLocation(config.ledger)
    const check = ledger === undefined
      ? "off"
      : location === undefined
      ? "ok (in memory)"
      : /^[a-z][a-z0-9+.-]*:\/\//i.test(location)
      ? yield* Effect.flatMap(Clock.currentTimeMillis, (now) => ledger.entries({ since: now })).pipe(
        Effect.timeoutOrElse({ duration: 2_000, orElse: () => Effect.fail("timeout") }),
        Effect.as("ok"),
        Effect.catchCause(() => Effect.succeed("cannot reach the ledger's database (within 2 s)"))
      )
      : yield* fs.access(location, { writable: true }).pipe(
        Effect.as("ok"),
        Effect.catch((error) => Effect.succeed(`cannot write ${location}: ${error.message}`))
      )
    const others = yield* Effect.all(more, { concurrency: "unbounded" })
    return { config: "ok", ledger: check, ...others }
  })

/**
 * The routes.
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (
  bridge: Bridge.Service,
  fs: FileSystem.FileSystem,
  checks: Readonly<Record<string, Effect.Effect<string>>> = {}
): ReadonlyArray<Server.Route> => {
  const spec = ServeApi.openApi()
  return [
    { method: "GET", path: "/health", shed: false, open: true, handler: Effect.succeed(Server.json({ status: "ok" })) },
    {
      method: "GET",
      path: "/ready",
      shed: false,
      open: true,
      handler: Effect.map(readiness(bridge.config, bridge.ledger, fs, checks), (checks) => {
        const failing = Object.entries(checks).filter(([, check]) => check !== "off" && !check.startsWith("ok")).map(([name]) => name)
        const ready = failing.length === 0
        return Server.json({ ready, checks, ...(ready ? {} : { failing }) }, ready ? 200 : 503)
      })
    },
    {
      method: "GET",
      path: "/metrics",
      shed: false,
      handler: Effect.map(
        LlmMetrics.prometheusText(),
        (text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
      )
    },
    {
      method: "GET",
      path: "/v1/usage",
      handler: Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const query = new URL(request.url, "http://localhost").searchParams
        return yield* UsageReport.report(bridge.ledger, {
          since: query.get("since") ?? undefined,
          by: query.get("by") ?? undefined,
          key: query.get("key") ?? undefined
        }).pipe(
          Effect.map((report) => Server.json(report)),
          Effect.catch((failure) => Effect.succeed(Server.failureResponse(failure)))
        )
      })
    },
    { method: "GET", path: "/openapi.json", shed: false, handler: Effect.succeed(Server.json(spec)) }
  ]
}
