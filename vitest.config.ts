import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Traffic to anything but loopback (or a namespace the test made) fails the run: test/helpers/loopback-guard.ts.
    globalSetup: ['test/helpers/loopback-guard-setup.ts'],
    setupFiles: ['test/helpers/loopback-guard-register.ts'],
    // Real nodes and stores take seconds to start; unit tests finish in milliseconds.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Under CI, also write the JSON report .ci/run reads for its `N passed, N failed` line.
    reporters: process.env.CI === 'true' ? ['default', ['json', { outputFile: 'test-results.json' }]] : ['default']
  }
})
