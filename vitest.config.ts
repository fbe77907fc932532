import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real nodes and stores take seconds to start; unit tests finish in milliseconds.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Under CI, also write the JSON report .ci/run reads for its `N passed, N failed` line.
    reporters: process.env.CI === 'true' ? ['default', ['json', { outputFile: 'test-results.json' }]] : ['default']
  }
})
