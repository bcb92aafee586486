/**
 * The server's own endpoints: `GET /health` (alive), `GET /ready` (the configuration is loaded,
 * the usage ledger is writable: its SQLite file, or its PostgreSQL server answering and not
 * read-only; the shared Redis store answers `PING` when `store.redis` is set; 503 with a JSON
 * body naming the failing store otherwise), `GET /metrics` (our metrics in the
 * Prometheus text format, `LlmMetrics`), `GET /v1/usage?since=1h&by=model` (the ledger's sums,
 * `UsageReport`) and `GET /openapi.json` (generated from `ServeApi`). None is shed when the
 * server is busy, so probes and scrapes answer under load.
 *
 * @since 0.1.0
 */
import { Effect, FileSystem } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import type * as Bridge from "../bridge/Bridge.ts"
import type * as RedisBudgetStore from "../budget/RedisBudgetStore.ts"
import * as LlmMetrics from "../observability/LlmMetrics.ts"
import * as Server from "./Server.ts"
import * as ServeApi from "./ServeApi.ts"
import * as UsageReport from "./UsageReport.ts"

/**
 * The shared stores `/ready` checks beside the ledger.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stores {
  /** The Redis store (`store.redis`), asked for a `PING`. */
  readonly redis?: Pick<RedisBudgetStore.RedisStore, "ping"> | undefined
}

/**
 * The readiness checks: each `"ok"` or what is wrong (`config`, `ledger`, and `redis` when
 * `store.redis` is set).
 *
 * @since 0.1.0
 * @category checks
 */
export const readiness = (bridge: Bridge.Service, fs: FileSystem.FileSystem, stores: Stores = {}): Effect.Effect<Record<string, string>> =>
  Effect.gen(function*() {
    const config = bridge.config
    const path = config.ledger === false ? undefined : config.ledger?.path
    const writable = bridge.ledger?.writable
    const ledger = bridge.ledger === undefined
      ? "off"
      : writable !== undefined
      ? yield* writable
      : path === undefined || path === ":memory:"
      ? "ok (in memory)"
      : yield* fs.access(path, { writable: true }).pipe(
        Effect.as("ok"),
        Effect.catch((error) => Effect.succeed(`cannot write ${path}: ${error.message}`))
      )
    const redis = stores.redis === undefined
      ? {}
      : { redis: yield* stores.redis.ping.pipe(Effect.as("ok"), Effect.catch((error) => Effect.succeed(error.message))) }
    return { config: "ok", ledger, ...redis }
  })

/**
 * The routes.
 *
 * @since 0.1.0
 * @category routes
 */
export const routes = (bridge: Bridge.Service, fs: FileSystem.FileSystem, stores: Stores = {}): ReadonlyArray<Server.Route> => {
  const spec = ServeApi.openApi()
  return [
    { method: "GET", path: "/health", shed: false, open: true, handler: Effect.succeed(Server.json({ status: "ok" })) },
    {
      method: "GET",
      path: "/ready",
      shed: false,
      open: true,
      handler: Effect.map(readiness(bridge, fs, stores), (checks) => {
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
          by: query.get("by") ?? undefined
        }).pipe(
          Effect.map((report) => Server.json(report)),
          Effect.catch((failure) => Effect.succeed(Server.failureResponse(failure)))
        )
      })
    },
    { method: "GET", path: "/openapi.json", shed: false, handler: Effect.succeed(Server.json(spec)) }
  ]
}
