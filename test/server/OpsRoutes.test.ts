/**
 * The readiness checks of serve's /ready: a ledger in a database must answer, and a check never
 * shows the database URL (it may hold a password, and /ready answers without a key).
 */
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, FileSystem, Path } from "effect"
import * as LlmConnectConfig from "../../src/LlmConnectConfig.ts"
import type * as UsageLedger from "../../src/observability/UsageLedger.ts"
import * as OpsRoutes from "../../src/server/OpsRoutes.ts"

const URL_WITH_PASSWORD = "postgres://llmc:s3cret-pass@127.0.0.1:1/usage"

const ledger = (reachable: boolean): UsageLedger.Service => ({
  record: () => Effect.void,
  entries: () => (reachable ? Effect.succeed([]) : Effect.die(new Error(`usage ledger: could not read entries: connect ECONNREFUSED ${URL_WITH_PASSWORD}`)))
})

describe("OpsRoutes.readiness", () => {
  it.live("a database ledger: ok when it answers, else not ready; the URL never shown", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = yield* Path.Path
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "llmc-ready-" })
      yield* fs.writeFileString(path.join(dir, "llm-connect.yaml"), `ledger:\n  path: "${URL_WITH_PASSWORD}"\n`)
      const { config } = yield* LlmConnectConfig.load({ cwd: dir, flags: {} })
      const up = yield* OpsRoutes.readiness(config, ledger(true), fs)
      assert.deepStrictEqual(up, { config: "ok", ledger: "ok" })
      const down = yield* OpsRoutes.readiness(config, ledger(false), fs)
      assert.notStrictEqual(down.ledger, "ok")
      assert.include(down.ledger!, "cannot reach")
      assert.notInclude(JSON.stringify(down), "s3cret")
      // A file ledger that cannot be written names the file.
      yield* fs.writeFileString(path.join(dir, "llm-connect.yaml"), "ledger:\n  path: /nonexistent-dir/usage.db\n")
      const file = yield* LlmConnectConfig.load({ cwd: dir, flags: {} })
      assert.include((yield* OpsRoutes.readiness(file.config, ledger(true), fs)).ledger!, "cannot write /nonexistent-dir/usage.db")
    }).pipe(
      Effect.scoped,
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({}))),
      Effect.provide(NodeServices.layer)
    ))
})
