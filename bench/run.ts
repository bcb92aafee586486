/**
 * Runs every benchmark, one after the other (`npm run bench`), each in its own Node process so
 * that one's heap and JIT state do not colour the next. Each benchmark prints its own ratios
 * against a baseline measured in the same run. Pass names to run only some:
 *
 *   npm run bench                       # all
 *   npm run bench -- budget stack       # bench/budget.ts and bench/stack.ts
 */
import { spawnSync } from "node:child_process"
import { join } from "node:path"

const all = ["openai-adapter", "streaming", "budget", "redis-budget", "pg-ledger", "stack", "stack-layers", "stack-http", "stack-async", "attempt-timeout", "observability", "tokenizer-estimate", "workflow", "claude-code", "bridge", "agent", "promise"]
const chosen = process.argv.slice(2)
const names = chosen.length > 0 ? chosen : all
const unknown = names.filter((name) => !all.includes(name))
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(", ")}; choose from ${all.join(", ")}`)
  process.exit(2)
}

let failed = 0
for (const name of names) {
  console.log(`\n=== bench/${name}.ts ===`)
  const result = spawnSync(process.execPath, [join(import.meta.dirname, `${name}.ts`)], { stdio: "inherit" })
  if (result.status !== 0) {
    failed++
    console.error(`bench/${name}.ts exited with ${result.status ?? result.signal}`)
  }
}
process.exit(failed === 0 ? 0 : 1)
