/**
 * The `store:` section of the configuration: where budgets live. Absent, every budget is in
 * this process's memory (the default, unchanged). With `store.redis`, the budgets of every
 * process that names the same Redis and `budget.id` are one budget (see `RedisBudgetStore` and
 * docs/scaling.md).
 *
 * ```yaml
 * store:
 *   redis:
 *     url: redis://redis:6379    # or LLM_CONNECT_REDIS_URL
 *     prefix: "{llm-connect}:"   # default
 *   onStoreError: fail           # default; allow: admit calls while Redis is down (local accounting)
 *   timeout: 2s                  # how long a budget step may take before the store counts as down
 * budget:
 *   id: team-a                   # the shared budget's name
 *   window: day                  # optional: a budget per UTC day
 *   costUsd: 50
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as ConfigSection from "../ConfigSection.ts"

/**
 * The Redis store's settings.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RedisConfig = Schema.Struct({
  url: Schema.String.check(Schema.isPattern(/^(redis|rediss|unix):\/\//)).annotate({
    description: "redis://[user:password@]host:port[/db], rediss://... (TLS) or unix:///path/to/redis.sock"
  }),
  prefix: Schema.optionalKey(Schema.String.check(Schema.isNonEmpty())).annotate({
    description: "Prefix of every key (default \"{llm-connect}:\"; keep a {hash tag} for Redis Cluster)."
  })
}).annotate({ identifier: "RedisStoreConfig" })

/**
 * The `store` section.
 *
 * @since 0.1.0
 * @category schemas
 */
export const StoreConfig = Schema.Struct({
  redis: Schema.optionalKey(RedisConfig),
  onStoreError: Schema.optionalKey(Schema.Literals(["fail", "allow"])).annotate({
    description: "While the store is unreachable: refuse calls before they are sent (\"fail\", default) or admit them " +
      "with a warning, counted in this process only (\"allow\")."
  }),
  timeout: Schema.optionalKey(Schema.String.check(Schema.isPattern(/^\d+(\.\d+)?(ms|s|m)$/))).annotate({
    description: "How long one budget step may take before the store counts as unavailable, e.g. 2s (default) or 500ms."
  })
}).annotate({ identifier: "StoreConfig" })

/**
 * @since 0.1.0
 * @category models
 */
export type StoreConfig = typeof StoreConfig.Type

/**
 * The section.
 *
 * @since 0.1.0
 * @category sections
 */
export const section = ConfigSection.make({
  name: "store",
  fields: { store: Schema.optionalKey(StoreConfig) },
  settings: {
    "store.redis.url": {
      env: "LLM_CONNECT_REDIS_URL",
      kind: "string",
      example: "redis://localhost:6379",
      expected: "a redis://, rediss:// or unix:// URL"
    }
  }
})

/**
 * A `store.timeout` text (`500ms`, `2s`, `1m`) in milliseconds.
 *
 * @since 0.1.0
 * @category utils
 */
export const timeoutMillis = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text)
  if (match === null) return undefined
  const value = Number(match[1])
  return match[2] === "ms" ? value : match[2] === "s" ? value * 1000 : value * 60_000
}
