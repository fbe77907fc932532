import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real nodes and stores in later suites take seconds to start; unit tests finish in milliseconds.
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
