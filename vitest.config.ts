import { defineConfig } from "vitest/config"

export default defineConfig({
  // `llm-connect` imported by name (as the examples do) resolves to the sources; the other
  // conditions are Vite's defaults (which a `conditions` list replaces)
  resolve: { conditions: ["llm-connect-source", "module", "browser", "development|production"] },
  ssr: { resolve: { conditions: ["llm-connect-source", "module", "node", "development|production"] } },
  test: {
    include: ["test/**/*.test.ts"],
    // live calls to real providers run only with `npm run test:live` (vitest.live.config.ts)
    exclude: ["test/live/**", "**/node_modules/**"],
    // 2-core machines: keep the worker pool small
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
