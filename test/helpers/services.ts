/**
 * URLs of the real Redis / PostgreSQL servers the tests use (started by `.ci/run`, or locally by
 * `source scripts/test-services.sh`). Outside CI a missing server skips those tests; in CI it is an error.
 */
export function serviceUrl (variable: 'IPIDD_TEST_REDIS_URL' | 'IPIDD_TEST_POSTGRES_URL'): string | undefined {
  const url = process.env[variable]
  if (url !== undefined && url !== '') return url
  if (process.env.CI === 'true') throw new Error(`${variable} is not set: CI must start the test services (scripts/test-services.sh)`)
  return undefined
}
