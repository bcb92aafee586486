import { defineConfig } from "vitest/config"

// `npm run test:live`: calls the real providers whose keys are set (each one without a key is
// reported as skipped). Never part of `npm test`, which excludes test/live/.
export default defineConfig({
  test: {
    include: ["test/live/**/*.live.test.ts"],
    maxWorkers: 1,
    testTimeout: 120_000,
    hookTimeout: 120_000
  }
})
