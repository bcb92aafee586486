/**
 * A preload for a benchmarked server (`node --import=<this file>`, bench/serve-connect.ts
 * `--alloc`): on `SIGUSR2` it writes `@heap <used heap bytes> <collections so far>` to stderr. With
 * a young generation too large to fill during a measured span (`--min-semi-space-size=256`), the
 * used heap's growth between two lines is what the process allocated in between, when the
 * collection count did not change: bytes per request, deterministic where CPU times are not.
 */
import { PerformanceObserver } from "node:perf_hooks"
import { getHeapStatistics } from "node:v8"

let collections = 0
new PerformanceObserver((list) => void (collections += list.getEntries().length)).observe({ entryTypes: ["gc"] })
process.on("SIGUSR2", () => void process.stderr.write(`@heap ${getHeapStatistics().used_heap_size} ${collections}\n`))
