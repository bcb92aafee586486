import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // 2-core machines: keep the worker pool small
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
