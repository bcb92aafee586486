/**
 * CPU per `Bridge.modelFor` lookup (serve's per-request stack lookup, issue 16 stop 24), in
 * process: a bridge on the openai-compatible provider (never called), `Effect.scoped(modelFor)`
 * in a loop, sequential or `--concurrent N` at once; µs of process CPU per lookup, best of rounds.
 *
 *   node bench/serve-modelfor.ts [--calls 20000] [--rounds 7] [--concurrent 1]
 */
import { NodeServices } from "@effect/platform-node"
import { ConfigProvider, Effect, FileSystem, Layer, Path } from "effect"
import * as Bridge from "../src/bridge/Bridge.ts"
import * as LlmConnectConfig from "../src/LlmConnectConfig.ts"
import * as NodeProviders from "../src/node/NodeProviders.ts"
import { argument, median } from "./internal/stats.ts"

const CALLS = argument("calls", 20_000)
const ROUNDS = argument("rounds", 7)
const CONCURRENT = argument("concurrent", 1)

const program = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const dir = yield* Effect.orDie(fs.makeTempDirectoryScoped({ prefix: "llmc-modelfor-" }))
  yield* Effect.orDie(fs.writeFileString(path.join(dir, "llm-connect.yaml"), "ledger: false\n"))
  const resolved = yield* LlmConnectConfig.load({
    cwd: dir,
    flags: { provider: "openai-compatible", baseUrl: "http://127.0.0.1:9/v1", model: "gpt-4o-mini" }
  })
  const bridge = yield* Bridge.make(resolved)
  const one = Effect.scoped(bridge.modelFor({ model: "gpt-4o-mini" }))
  const batch = Effect.forEach(Array.from({ length: CONCURRENT }), () => one, { concurrency: CONCURRENT, discard: true })
  yield* Effect.repeat(batch, { times: 1000 })
  const perCall: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    const before = process.cpuUsage()
    yield* Effect.repeat(batch, { times: Math.ceil(CALLS / CONCURRENT) - 1 })
    const used = process.cpuUsage(before)
    perCall.push((used.user + used.system) / (Math.ceil(CALLS / CONCURRENT) * CONCURRENT))
  }
  console.log(`Bridge.modelFor, ${CONCURRENT} at once: ${median(perCall).toFixed(2)} µs CPU per lookup (median of ${ROUNDS}; min ${Math.min(...perCall).toFixed(2)})`)
}).pipe(
  Effect.scoped,
  Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ LLM_CONNECT_KEY_DIR: "/nonexistent-keys", OPENAI_COMPATIBLE_API_KEY: "sk-bench" }))),
  Effect.provide(Layer.mergeAll(NodeProviders.layer, NodeServices.layer))
)

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
