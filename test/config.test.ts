import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, mergeConfig, defaultConfig } from '../src/config.ts'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

describe('configuration', () => {
  it('defaults: data in ~/.ipidd, HTTP on 127.0.0.1:8080', () => {
    const config = loadConfig({ env: { HOME: '/home/alice' } })
    expect(config).toEqual({
      dataDir: '/home/alice/.ipidd',
      http: { host: '127.0.0.1', port: 8080, trustProxy: false, rateLimitPerMinute: 600, rateLimitBurst: 100, probesAccess: 'loopback' },
      logLevel: 'info',
      testIdentifiers: [],
      ipfs: { backend: 'embedded', listen: ['/ip4/0.0.0.0/tcp/4001'], announce: [], bootstrap: [], network: 'local' },
      cache: { maxIdentities: 100_000, expiredGraceMs: 24 * 3_600_000, keepResolved: false, keeperIntervalMs: 4 * 3_600_000 },
      auth: { requirePeerProof: false, autoAuthenticate: false, stepTimeoutMs: 10_000, limits: { maxConcurrent: 64, maxConcurrentPerPeer: 2, perPeerPerMinute: 30, burst: 10 } }
    })
  })

  it('HTTP exposure settings: proxies, TLS in pairs, rate limit', () => {
    const env = { HOME: '/home/alice', IPIDD_TRUST_PROXY: 'loopback, 10.0.0.0/8', IPIDD_RATE_LIMIT: '120', IPIDD_TLS_CERT: 'cert.pem', IPIDD_TLS_KEY: '/etc/ipidd/key.pem' }
    const http = loadConfig({ env }).http
    expect(http).toMatchObject({ trustProxy: ['loopback', '10.0.0.0/8'], rateLimitPerMinute: 120, tlsKeyFile: '/etc/ipidd/key.pem' })
    expect(http.tlsCertFile).toMatch(/^\/.*cert\.pem$/)
    expect(loadConfig({ env: { HOME: '/h', IPIDD_TRUST_PROXY: '2' } }).http.trustProxy).toBe(2)
    expect(() => loadConfig({ env: { HOME: '/h', IPIDD_TRUST_PROXY: 'true' } })).toThrow(/lets any client choose its address/)
    expect(() => loadConfig({ env: { HOME: '/h', IPIDD_TLS_CERT: 'cert.pem' } })).toThrow(/TLS needs both/)
  })

  it('probes and test identifiers: from the environment, validated, each DID once', () => {
    const did = 'did:ipid:k51qzi5uqu5dgutdk6i1ynyzgkqngpha5xpgia2ji4eqkc4dtq9dkq6ptzphvo'
    const config = loadConfig({ env: { HOME: '/h', IPIDD_PROBES_ACCESS: 'any', IPIDD_PROBES_PORT: '9090', IPIDD_PROBES_HOST: '0.0.0.0', IPIDD_TEST_IDENTIFIERS: `${did}, ${did}` } })
    expect(config.http).toMatchObject({ probesAccess: 'any', probesPort: 9090, probesHost: '0.0.0.0' })
    expect(config.testIdentifiers).toEqual([did])
    expect(() => loadConfig({ env: { HOME: '/h', IPIDD_PROBES_ACCESS: 'everyone' } })).toThrow(/http\.probesAccess/)
    expect(() => loadConfig({ env: { HOME: '/h', IPIDD_PROBES_PORT: 'ninety' } })).toThrow(/IPIDD_PROBES_PORT/)
    expect(() => loadConfig({ env: { HOME: '/h', IPIDD_TEST_IDENTIFIERS: 'did:web:example.com' } })).toThrow(/testIdentifiers\.0.*did:ipid/)
  })

  it('cache settings from the environment and flags, validated', () => {
    const env = { HOME: '/home/alice', IPIDD_CACHE_URL: 'redis://127.0.0.1:6379', IPIDD_CACHE_MAX: '500', IPIDD_KEEP_RESOLVED: 'yes' }
    expect(loadConfig({ env }).cache).toMatchObject({ url: 'redis://127.0.0.1:6379', maxIdentities: 500, keepResolved: true })
    expect(loadConfig({ env, flags: { cache: { url: 'postgres://u@db/ipidd', maxIdentities: 7 } } }).cache).toMatchObject({ url: 'postgres://u@db/ipidd', maxIdentities: 7 })
    expect(() => loadConfig({ env: { HOME: '/h', IPIDD_CACHE_URL: 'mysql://x' } })).toThrow(/cache\.url.*sqlite:, redis:/)
    expect(() => loadConfig({ env: { HOME: '/h', IPIDD_CACHE_MAX: 'many' } })).toThrow(/IPIDD_CACHE_MAX: "many" is not a whole number/)
    expect(() => loadConfig({ env: { HOME: '/h', IPIDD_KEEP_RESOLVED: 'maybe' } })).toThrow(/IPIDD_KEEP_RESOLVED/)
    expect(() => loadConfig({ env: { HOME: '/h' }, flags: { cache: { maxIdentities: 0 } } })).toThrow(/cache\.maxIdentities/)
  })

  it('layers defaults < file < environment < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipidd-config-'))
    const file = join(dir, 'config.json')
    writeFileSync(file, JSON.stringify({ http: { host: '0.0.0.0', port: 9000 }, logLevel: 'debug' }))
    const env = { HOME: '/home/alice', IPIDD_HTTP_PORT: '9001', IPIDD_DATA: join(dir, 'data') }
    expect(loadConfig({ env, configFile: file })).toMatchObject({ dataDir: join(dir, 'data'), http: { host: '0.0.0.0', port: 9001 }, logLevel: 'debug' })
    expect(loadConfig({ env, configFile: file, flags: { http: { port: 9002 }, logLevel: 'warn' } }).http).toMatchObject({ host: '0.0.0.0', port: 9002 })
  })

  it('IPFS settings: lists from the environment, Kubo chosen by its URL, and a Kubo backend needs one', () => {
    const env = { HOME: '/x', IPIDD_BOOTSTRAP: '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWMHdrzcwpjbdrZs5GGqERAvcgqX3b5dpuPtPa9ot69yew, /ip4/127.0.0.1/tcp/4002/p2p/12D3KooWMHdrzcwpjbdrZs5GGqERAvcgqX3b5dpuPtPa9ot69yew', IPIDD_LISTEN: '/ip4/127.0.0.1/tcp/0' }
    const config = loadConfig({ env })
    expect(config.ipfs.bootstrap).toHaveLength(2)
    expect(config.ipfs.listen).toEqual(['/ip4/127.0.0.1/tcp/0'])
    expect(loadConfig({ env: { HOME: '/x', IPIDD_KUBO_URL: 'http://127.0.0.1:5001' } }).ipfs).toMatchObject({ backend: 'kubo', kuboUrl: 'http://127.0.0.1:5001' })
    expect(() => loadConfig({ env: { HOME: '/x' }, flags: { ipfs: { backend: 'kubo' } } })).toThrow(/kuboUrl/)
    expect(() => loadConfig({ env: { HOME: '/x' }, flags: { ipfs: { network: 'galaxy' } } })).toThrow(/ipfs\.network/)
  })

  it('reads <dataDir>/config.json when present and no file is named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipidd-config-'))
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ logLevel: 'error' }))
    const config = loadConfig({ env: { HOME: '/x' }, flags: { dataDir: dir }, fileExists: () => true })
    expect(config.logLevel).toBe('error')
  })

  it('refuses unknown keys, bad values and unreadable files with a message naming the problem', () => {
    expect(() => mergeConfig(defaultConfig({ HOME: '/x' }), { logLevel: 'loud' })).toThrow(/logLevel/)
    expect(() => mergeConfig(defaultConfig({ HOME: '/x' }), { http: { port: 70000 } })).toThrow(/http\.port/)
    expect(() => mergeConfig(defaultConfig({ HOME: '/x' }), { colour: 'blue' } as never)).toThrow(ConfigError)
    expect(() => loadConfig({ env: { HOME: '/x', IPIDD_HTTP_PORT: 'eighty' } })).toThrow(/IPIDD_HTTP_PORT/)
    expect(() => loadConfig({ env: { HOME: '/x' }, configFile: '/nonexistent/ipidd.json' })).toThrow(/cannot read config file/)
    const dir = mkdtempSync(join(tmpdir(), 'ipidd-config-'))
    writeFileSync(join(dir, 'bad.json'), '{ nope')
    expect(() => loadConfig({ env: { HOME: '/x' }, configFile: join(dir, 'bad.json') })).toThrow(/not valid JSON/)
  })
})
