/**
 * Hostile HTTP requests against every real route of the daemon, generated from a seed (so a failure
 * reproduces), and a raw HTTP/1.1 client over node:net that sends them byte for byte (bad percent-encoding,
 * raw bytes in the target, broken framing and slow clients are impossible with fetch).
 *
 * Each request says what a correct daemon may answer: `reject` (a 4xx), `accept` (a 2xx/3xx: the rare valid
 * request) or `either` (valid or not depending on state the generator cannot see, e.g. a mutated IPNS record).
 */
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { base32 } from 'multiformats/bases/base32'
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { prng } from './prng.ts'

export { prng } from './prng.ts'

export type Expectation = 'reject' | 'accept' | 'either'

export interface HostileRequest {
  /** The family it belongs to (the report counts by family). */
  category: string
  /** A finer name within the family. */
  kind: string
  method: string
  /** The request target as sent (latin1), for the report and for telling the resolution route apart. */
  target: string
  /** Everything sent at once: the head and whatever body goes with it. */
  bytes: Buffer
  /** Slow clients: after `bytes`, one byte of this every `everyMs`, until the server answers or closes. */
  dribble?: { bytes: Buffer, everyMs: number }
  expect: Expectation
  /** When set, the only statuses a correct daemon may answer (e.g. 408 for a slow client). */
  statuses?: readonly number[]
  /** No answer within this is a failure (the daemon hung the client). */
  deadlineMs: number
  /** Answered only by a daemon timeout (10–30 s): run apart, so that it holds no worker of the fast lane. */
  lane?: 'slow'
}

/** What the generator needs to know of the daemon under test, so that some requests are valid or nearly. */
export interface HostileTarget {
  /** A DID the daemon holds (its own identity): resolves. */
  did: string
  /** Its method-specific id (base36). */
  id: string
  /** The daemon's own identity name (admin API). */
  identityName: string
  /** The admin bearer token. */
  token: string
  /** A JWT signed by the identity's authentication key, audience `audience`. */
  jwt: string
  audience: string
  /** The identity's current IPNS record, marshalled. */
  record: Uint8Array
}

const B32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const B36_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'
const RECORD_TYPE = 'application/vnd.ipfs.ipns-record'
/** Slow clients: a deadline past the daemon's longest timeout (30 s request timeout) with room to spare. */
export const SLOW_DEADLINE_MS = 45_000
/** Everything else must be answered well within this. */
export const FAST_DEADLINE_MS = 15_000

/**
 * `count` requests from `seed`, `slowCount` of them slow clients (slowloris heads, dribbled bodies, silent
 * connections); the caller runs those (`lane: 'slow'`) apart, since each takes 10–30 s. Without
 * `longSlowClients`, no slow client waits for the 30 s request timeout (heads: 10 s, routing bodies: 15 s).
 */
export function hostileRequests (seed: number, count: number, target: HostileTarget, slowCount: number, options: { longSlowClients?: boolean } = {}): HostileRequest[] {
  const rand = prng(seed)
  const int = (n: number): number => Math.floor(rand() * n)
  const chance = (p: number): boolean => rand() < p
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!
  const bytesOf = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)))
  const text = (alphabet: string, n: number): string => Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join('')
  const b32 = (n: number): string => text(B32_ALPHABET, n)
  const pct = (buf: Buffer): string => [...buf].map(b => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')

  // Names that parse (sha2-256 libp2p-key CIDs) but that nobody published, in every accepted spelling.
  const validNames = Array.from({ length: 64 }, () => {
    const digest = Digest.create(0x12, createHash('sha256').update(bytesOf(16)).digest())
    const cid = CID.createV1(0x72, digest)
    return { b36: cid.toString(base36), b32: cid.toString(base32), b58: base58btc.baseEncode(digest.bytes) }
  })
  const validName = (): string => {
    const n = pick(validNames)
    return pick([n.b36, n.b36, n.b32, n.b58])
  }
  const realIds = [target.id, CID.parse(target.id, base36).toString(base32)]
  const unicode = (): string => {
    const pieces = ['é', 'ß', 'Ω', 'Ж', 'ا', '中', '😀', '\u200b', '\u202e', '\ufeff', '\u0000', '\u0007', '\ud7ff', '\ue000', '\uffff', '𝕏', 'ﬁ', '\u0301', 'İ', 'ǅ']
    return Array.from({ length: 1 + int(24) }, () => chance(0.7) ? pick(pieces) : String.fromCodePoint(int(0x10ffff + 1) & ~0x800 | 0x20)).join('')
  }
  const badPercent = (): string => pick(['%', '%G1', '%E0%A4%A', '%FF', '%C0%AF', '%ED%A0%80', '%%', '%2', '%u0041', '%F4%90%80%80', '%C3', '%80', '%F8%88%80%80%80', '%0', '%E2%82'])
  const randomDid = (): string => pick([
    `did:ipid:${validName()}`,
    `did:ipid:k51${text(B36_ALPHABET, 50 + int(10))}`,
    `did:ipid:${b32(int(60))}`,
    `did:ipid:Qm${text('123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz', 44)}`,
    `did:ipid:12D3KooW${text('123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz', 44)}`,
    `did:${pick(['key', 'web', 'IPID', 'ipid:ipid', '', 'i p i d'.replace(/ /g, '%20')])}:${b32(20)}`,
    `did:ipid:${b32(10)}:${b32(10)}`,
    'did:ipid:',
    'did:',
    b32(30)
  ])
  const xff = (): string => pick([`X-Forwarded-For: 10.${int(256)}.${int(256)}.${int(256)}\r\n`, 'X-Forwarded-For: 127.0.0.1, ::1\r\n', `X-Real-IP: 192.0.2.${int(256)}\r\n`, ''])
  const HEAD_END = 'Connection: close\r\n\r\n'
  /** A request head; `headers` are whole lines with their CRLF. Host is added unless `host` is false. */
  const head = (method: string, target: string | Buffer, headers: string[] = [], options: { host?: boolean, version?: string } = {}): Buffer =>
    Buffer.concat([
      Buffer.from(`${method} `, 'latin1'),
      typeof target === 'string' ? Buffer.from(target, 'latin1') : target,
      Buffer.from(` ${options.version ?? 'HTTP/1.1'}\r\n${options.host === false ? '' : 'Host: localhost\r\n'}${xff()}${headers.join('')}${HEAD_END}`, 'latin1')
    ])
  const withBody = (method: string, path: string, body: Buffer | string, type: string | undefined, extra: string[] = []): Buffer => {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body
    return Buffer.concat([head(method, path, [...(type === undefined ? [] : [`Content-Type: ${type}\r\n`]), `Content-Length: ${bytes.length}\r\n`, ...extra]), bytes])
  }
  const chunked = (method: string, path: string, body: Buffer, type: string, extra: string[] = []): Buffer => {
    const parts: Buffer[] = [head(method, path, [`Content-Type: ${type}\r\n`, 'Transfer-Encoding: chunked\r\n', ...extra])]
    for (let at = 0; at < body.length; at += 4096) {
      const chunk = body.subarray(at, at + 4096)
      parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'))
    }
    parts.push(Buffer.from('0\r\n\r\n'))
    return Buffer.concat(parts)
  }
  const deepJson = (depth: number): string => pick([
    () => `${'['.repeat(depth)}${']'.repeat(depth)}`,
    () => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
    () => `{"versionId":${'['.repeat(depth)}${']'.repeat(depth)}}`,
    () => `{"jwt":${'{"x":'.repeat(depth)}null${'}'.repeat(depth)}}`,
    () => `${'['.repeat(depth)}` // unterminated
  ])()
  const garbageJson = (): string | Buffer => pick<() => string | Buffer>([
    () => '{',
    () => '{"a":',
    () => 'nul',
    () => '[1,]',
    () => '{"a":1}}',
    () => '\u0000',
    () => '"just a string"',
    () => '12345',
    () => 'null',
    () => '[]',
    () => 'true',
    () => '{"__proto__":{"polluted":true}}',
    () => '{"constructor":{"prototype":{"polluted":true}}}',
    () => `{"a":"${'\\u'.repeat(3)}"}`,
    () => '{"a":"\ud800"}',
    () => '{"a":1e999999}',
    () => `{"n":${'9'.repeat(5000)}}`,
    () => bytesOf(1 + int(200)),
    () => Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), // a BOM, then {}
    () => Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]) // UTF-16LE
  ])()
  const jwtPart = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
  const [jwtHeader = '', jwtPayload = '', jwtSignature = ''] = target.jwt.split('.')

  const idPath = (did: string | Buffer): Buffer => Buffer.concat([Buffer.from('/1.0/identifiers/'), Buffer.from(did)])
  const enc = (s: string): string => encodeURIComponent(s)

  type Make = () => Omit<HostileRequest, 'deadlineMs' | 'target'> & { target?: string }
  const simple = (category: string, kind: string, method: string, target: string | Buffer, expect: Expectation, headers: string[] = [], options?: { host?: boolean, version?: string }): ReturnType<Make> => ({
    category, kind, method, expect, bytes: head(method, target, headers, options), target: typeof target === 'string' ? target : target.toString('latin1')
  })
  const post = (category: string, kind: string, method: string, path: string, body: Buffer | string, type: string | undefined, expect: Expectation, extra: string[] = []): ReturnType<Make> => ({
    category, kind, method, expect, target: path, bytes: withBody(method, path, body, type, extra)
  })

  const families: Array<{ weight: number, make: Make }> = [
    {
      // Random bytes, raw or percent-encoded, where the DID goes.
      weight: 8,
      make: () => {
        const raw = Buffer.concat([Buffer.from(pick(['did:ipid:', 'did:ipid:k51', 'did:', ''])), bytesOf(1 + int(80))])
        return chance(0.5)
          ? simple('did-random-bytes', 'raw', pick(['GET', 'GET', 'HEAD', 'POST']), idPath(raw), 'reject')
          : simple('did-random-bytes', 'percent-encoded', pick(['GET', 'GET', 'HEAD']), idPath(pct(raw)), 'reject')
      }
    },
    {
      weight: 7,
      make: () => {
        const u = `did:ipid:${chance(0.5) ? unicode() : `${b32(20)}${unicode()}`}`
        return chance(0.7)
          ? simple('did-unicode', 'percent-encoded', 'GET', idPath(enc(u)), 'reject')
          : simple('did-unicode', 'raw-utf8', 'GET', idPath(Buffer.from(u, 'utf8')), 'reject')
      }
    },
    {
      // 129 chars (id too long), 2 KiB (DID URL too long), 8 KiB+ (URL limit), 16 KiB+ (head limit), 64 KiB.
      weight: 5,
      make: () => {
        const length = pick([129, 300, 2_049, 5_000, 8_200, 12_000, 16_400, 30_000, 65_000]) + int(100)
        const filler = pick(['a', 'k', '%41', '/', '0'])
        const did = `did:ipid:${pick([validName(), b32(10)])}${filler === '/' ? '/' : ''}${filler.repeat(Math.ceil(length / filler.length))}`.slice(0, length)
        return simple('did-overlong', `~${length < 2_048 ? 'id' : length < 8_192 ? 'did-url' : length < 16_384 ? 'url' : 'head'}`, pick(['GET', 'POST']), idPath(did), 'reject')
      }
    },
    {
      // DID URLs: paths, fragments, DID parameters, in every spelling.
      weight: 10,
      make: () => {
        const did = pick([target.did, `did:ipid:${validName()}`, `did:ipid:${pick(realIds)}`])
        const suffix = pick([
          `/${b32(8)}`, `/${b32(3)}/${b32(3)}`, '/', '//', '/../../../etc/passwd', '/%2e%2e/%2e%2e', `%2F${b32(5)}`,
          `%23${b32(6)}`, '#key-1', `%23auth-1`, '%23', `?service=${b32(5)}`, `?relativeRef=%2F${b32(4)}`, '?hl=zQm', '?versionId=',
          `?versionId=${b32(20)}`, '?versionTime=yesterday', '?versionTime=2026-13-45T99:99:99Z', '?versionTime=1970-01-01T00:00:00Z',
          `%3FversionId%3D${b32(10)}`, `%3Fservice%3D${b32(3)}%23x`, `;${b32(4)}=${b32(4)}`, '%3Fa%3D1%26a%3D2', `%3F${badPercent()}`
        ])
        const method = pick(['GET', 'GET', 'HEAD', 'POST'])
        return simple('did-url', suffix.replace(/[a-z2-7]{3,}/g, '…').slice(0, 24), method, `/1.0/identifiers/${did}${suffix}`, 'either')
      }
    },
    {
      weight: 8,
      make: () => {
        const where = int(7)
        const t = [
          `/1.0/identifiers/did:ipid:${b32(30)}${badPercent()}`,
          `/1.0/identifiers/${badPercent()}did:ipid:${b32(30)}`,
          `/1.0/identifiers/did:ipid:${validName()}?versionId=${badPercent()}`,
          `/1.0/history/did:ipid:${validName()}${badPercent()}`,
          `/routing/v1/ipns/${validName()}${badPercent()}`,
          `/admin/v1/identities/${badPercent()}`,
          `/${badPercent()}/${badPercent()}`
        ][where]!
        return simple('bad-percent-encoding', ['did', 'did-prefix', 'option', 'history', 'routing', 'admin', 'unknown'][where]!, pick(['GET', 'GET', 'HEAD', 'PUT', 'POST']), t, 'reject')
      }
    },
    {
      // Resolution options: unknown, repeated, malformed, prototype keys, arrays, huge values.
      weight: 10,
      make: () => {
        const options = Array.from({ length: 1 + int(5) }, () => pick([
          `versionId=${b32(10)}`, `versionTime=${pick(['now', '2026-01-01', '2026-01-01T00:00:00Z', '1e9', badPercent()])}`, 'noCache=maybe', 'noCache=true',
          'noCache=TRUE', 'noCache=', 'noCache', 'expandRelativeUrls=yes', `${b32(6)}=${b32(8)}`, '__proto__=1', '__proto__[x]=1', 'constructor[prototype][x]=1',
          'hasOwnProperty=1', `a[]=${int(9)}`, `a[${int(9)}]=1`, '=', '&&&', '?', `accept=${enc('application/did+json')}`, `versionId=${'x'.repeat(2_000 + int(4_000))}`,
          `transform-keys=${b32(5)}`, `${enc(unicode())}=${enc(unicode())}`
        ]))
        if (chance(0.3)) options.push(options[0]!) // duplicated
        const did = pick([target.did, `did:ipid:${validName()}`, randomDid()])
        return simple('resolution-options', options.length > 1 && options.at(-1) === options[0] ? 'duplicated' : 'mixed', pick(['GET', 'GET', 'HEAD']), `/1.0/identifiers/${did}?${options.join('&')}`, 'either')
      }
    },
    {
      weight: 6,
      make: () => {
        const accept = pick([
          'text/html', 'application/xml', 'image/png', '*/*;q=0', 'application/did-resolution;q=0', 'application/json;q=0, application/did+json;q=0',
          '', ',,,,', ';;;', 'application/', '/json', 'application/did+json;q=abc', 'application/did+json;q=2', 'application/did+json;q=-1',
          'application/ld+json;profile="https://w3id.org/did-resolution"', 'application/ld+json;profile=', 'application/did;q=0.5, text/*;q=1',
          Array.from({ length: 200 }, (_, i) => `application/x-${i};q=0.${i % 10}`).join(', '), 'a/b;'.repeat(1_000), `${'*/*;q=0.1;'.repeat(300)}`, `application/${unicode()}`
        ])
        const did = pick([target.did, target.did, `did:ipid:${validName()}`, randomDid()])
        return simple('accept-header', accept.length > 40 ? `long(${accept.length})` : accept.slice(0, 40) || '(empty)', pick(['GET', 'GET', 'HEAD']), `/1.0/identifiers/${did}`, 'either', [`Accept: ${accept.replace(/[\r\n]/g, '')}\r\n`])
      }
    },
    {
      // POST /1.0/identifiers/{did}: the options as JSON, or not.
      weight: 10,
      make: () => {
        const did = pick([target.did, `did:ipid:${validName()}`, randomDid()])
        const path = `/1.0/identifiers/${did}${chance(0.2) ? `?versionId=${b32(8)}` : ''}`
        const form = int(9)
        switch (form) {
          case 0: return post('post-identifiers', 'oversized', 'POST', path, JSON.stringify({ noCache: true, pad: 'x'.repeat(16 * 1024 + int(200_000)) }), 'application/json', 'reject')
          case 1: return { category: 'post-identifiers', kind: 'oversized-chunked', method: 'POST', target: path, expect: 'reject', bytes: chunked('POST', path, Buffer.from(JSON.stringify({ pad: 'y'.repeat(17_000 + int(100_000)) })), 'application/json') }
          case 2: return post('post-identifiers', 'garbage', 'POST', path, garbageJson(), pick(['application/json', 'application/did+json', 'application/json; charset=utf-8']), 'either')
          case 3: return post('post-identifiers', 'deep-json', 'POST', path, deepJson(500 + int(7_500)), 'application/json', 'reject')
          case 4: return post('post-identifiers', 'content-type', 'POST', path, '{"noCache":true}', pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-7', 'application/json; charset=utf-16', 'application/json; charset=nope', '', 'json', `application/${b32(300)}+json`]), 'either')
          case 5: return post('post-identifiers', 'content-encoding', 'POST', path, bytesOf(20 + int(200)), 'application/json', 'reject', [`Content-Encoding: ${pick(['gzip', 'deflate', 'br', 'zstd', 'compress', 'x-nope', 'gzip, gzip'])}\r\n`])
          case 6: return post('post-identifiers', 'options', 'POST', path, JSON.stringify(pick<unknown>([
            { versionId: 1 }, { versionTime: null }, { noCache: 'maybe' }, { [b32(6)]: 1 }, { versionId: '' }, { expandRelativeUrls: [] }, { noCache: true, noCache2: true },
            { versionTime: 'x'.repeat(10_000) }, Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]))
          ])), 'application/json', 'either')
          case 7: {
            const [body, type] = pick<[string, string | undefined]>([['{}', 'application/json'], ['{"noCache":false}', 'application/json; charset=utf-8'], ['{"expandRelativeUrls":true}', 'application/did+json'], ['', undefined]])
            return post('post-identifiers', 'valid', 'POST', `/1.0/identifiers/${target.did}`, body, type, 'accept')
          }
          default: return post('post-identifiers', 'gzip-bomb-ish', 'POST', path, Buffer.from('1f8b0800000000000003', 'hex'), 'application/json', 'reject', ['Content-Encoding: gzip\r\n'])
        }
      }
    },
    {
      weight: 6,
      make: () => {
        const form = int(5)
        if (form === 0) {
          const q = pick(['limit=0', 'limit=-1', 'limit=201', 'limit=1e3', 'limit=abc', 'limit=1&limit=2', 'before=-5', 'before=99999999999999999999', 'before=x', 'limit[]=1', 'limit=', `before=${'9'.repeat(16)}`, 'noCache=true', 'limit=200&before=2'])
          return simple('history', 'page-options', 'GET', `/1.0/history/${pick([target.did, `did:ipid:${validName()}`])}?${q}`, 'either')
        }
        if (form === 1) return simple('history', 'random-did', pick(['GET', 'HEAD']), `/1.0/history/${enc(randomDid())}`, 'reject')
        if (form === 2) return simple('history', 'random-bytes', 'GET', Buffer.concat([Buffer.from('/1.0/history/'), chance(0.5) ? bytesOf(1 + int(60)) : Buffer.from(pct(bytesOf(1 + int(60))))]), 'reject')
        if (form === 3) return simple('history', 'nested-path', pick(['GET', 'POST', 'DELETE']), `/1.0/history/${target.did}/${b32(4)}${pick(['', '/x', '%2Fx'])}`, 'reject')
        return simple('history', 'valid', 'GET', `/1.0/history/${pick([target.did, `did:ipid:${pick(realIds)}`])}${pick(['', '?limit=1', '?limit=200', '?before=2'])}`, 'accept')
      }
    },
    {
      // POST /1.0/verify: garbage JWTs, huge bodies, the real JWT altered.
      weight: 8,
      make: () => {
        const form = int(10)
        const body = (value: unknown): string => JSON.stringify(value)
        switch (form) {
          case 0: return post('verify', 'random-jwt', 'POST', '/1.0/verify', body({ jwt: `${bytesOf(10 + int(60)).toString('base64url')}.${bytesOf(10 + int(200)).toString('base64url')}.${bytesOf(64).toString('base64url')}` }), 'application/json', 'reject')
          case 1: return post('verify', 'alg-none', 'POST', '/1.0/verify', body({ jwt: `${jwtPart({ alg: pick(['none', 'HS256', 'ES256K', 'EdDSA', 'RS256']), typ: 'JWT' })}.${jwtPayload}.${pick(['', jwtSignature, 'AAAA'])}` }), 'application/json', 'reject')
          case 2: {
            const sig = Buffer.from(jwtSignature, 'base64url')
            const at = int(Math.max(1, sig.length))
            sig[at] = (sig[at] ?? 0) ^ (1 << int(8))
            return post('verify', 'tampered-signature', 'POST', '/1.0/verify', body({ jwt: `${jwtHeader}.${jwtPayload}.${sig.toString('base64url')}`, audience: target.audience }), 'application/json', 'reject')
          }
          case 3: {
            const issuer = pick([`did:ipid:${validName()}`, 'did:web:evil.example', 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK', `did:ipid:${b32(10)}`, 'not a did', target.did])
            return post('verify', 'forged-payload', 'POST', '/1.0/verify', body({ jwt: `${jwtHeader}.${jwtPart({ iss: issuer, aud: target.audience, exp: pick([1, 9_999_999_999, -1, 'soon']), iat: 0 })}.${jwtSignature}`, audience: target.audience }), 'application/json', 'reject')
          }
          case 4: return post('verify', 'huge-jwt', 'POST', '/1.0/verify', body({ jwt: 'a'.repeat(32 * 1024 + 1 + int(20_000)) }), 'application/json', 'reject')
          case 5: return post('verify', 'oversized-body', 'POST', '/1.0/verify', body({ jwt: target.jwt, pad: 'z'.repeat(64 * 1024 + int(300_000)) }), 'application/json', 'reject')
          case 6: return post('verify', 'bad-body', 'POST', '/1.0/verify', pick<string | Buffer>([garbageJson(), deepJson(200 + int(5_000)), body({ jwt: target.jwt, extra: 1 }), body({ jwt: 42 }), body({ jwt: '' }), body({ jwt: target.jwt, proofPurpose: 'keyAgreement' }), body({ jwt: target.jwt, audience: '' })]), pick(['application/json', 'text/plain', 'application/json; charset=latin1']), 'reject')
          case 7: return post('verify', 'wrong-audience', 'POST', '/1.0/verify', body({ jwt: target.jwt, ...(chance(0.5) ? { audience: `did:example:${b32(6)}` } : {}) }), 'application/json', 'reject')
          case 8: return simple('verify', 'wrong-method', pick(['GET', 'PUT', 'DELETE', 'HEAD']), '/1.0/verify', 'reject')
          default: return post('verify', 'valid', 'POST', '/1.0/verify', body({ jwt: target.jwt, audience: target.audience, ...(chance(0.5) ? { proofPurpose: 'authentication' } : {}) }), 'application/json', 'accept')
        }
      }
    },
    {
      // The delegated routing API.
      weight: 10,
      make: () => {
        const name = pick([validName(), validName(), pick(realIds), b32(int(70)), `${b32(10)}-${b32(3)}`, enc(unicode()), 'k51', '%00', ''])
        const path = `/routing/v1/ipns/${name}`
        const form = int(10)
        const record = Buffer.from(target.record)
        switch (form) {
          case 0: return simple('routing', 'get', pick(['GET', 'HEAD']), path, 'either', chance(0.5) ? [`Accept: ${pick([RECORD_TYPE, 'application/json', 'text/html', '*/*', 'application/vnd.ipfs.ipns-record;q=0', ''])}\r\n`] : [])
          case 1: return post('routing', 'put-garbage', 'PUT', path, bytesOf(int(2_000)), RECORD_TYPE, 'reject')
          case 2: return post('routing', 'put-oversized', 'PUT', path, bytesOf(10 * 1024 + 1 + int(100_000)), RECORD_TYPE, 'reject')
          case 3: return { category: 'routing', kind: 'put-oversized-chunked', method: 'PUT', target: path, expect: 'reject', bytes: chunked('PUT', path, bytesOf(10 * 1024 + 1 + int(60_000)), RECORD_TYPE) }
          case 4: return post('routing', 'put-content-type', 'PUT', path, record, pick(['application/json', 'text/plain', 'application/octet-stream', 'multipart/form-data', `${RECORD_TYPE}x`]), 'reject')
          case 5: {
            const mutated = Buffer.from(record)
            const cut = chance(0.3)
            const at = int(mutated.length)
            if (!cut) mutated[at] = (mutated[at] ?? 0) ^ (1 << int(8))
            const bytes = cut ? mutated.subarray(0, int(mutated.length)) : mutated
            return post('routing', 'put-mutated-record', 'PUT', `/routing/v1/ipns/${pick([...realIds, validName()])}`, bytes, RECORD_TYPE, 'either')
          }
          case 6: return post('routing', 'put-encoded', 'PUT', path, record, RECORD_TYPE, 'reject', [`Content-Encoding: ${pick(['gzip', 'br', 'x'])}\r\n`])
          case 7: return simple('routing', 'odd-method', pick(['DELETE', 'PATCH', 'POST', 'TRACE', 'OPTIONS', 'PROPFIND']), path, 'either', chance(0.5) ? ['Origin: https://evil.example\r\n', 'Access-Control-Request-Method: PUT\r\n'] : [])
          case 8: return post('routing', 'put-empty', 'PUT', `/routing/v1/ipns/${pick([...realIds, validName()])}`, '', RECORD_TYPE, 'reject')
          default: return post('routing', 'put-own-record', 'PUT', `/routing/v1/ipns/${pick(realIds)}`, record, pick([RECORD_TYPE, undefined]), 'accept')
        }
      }
    },
    {
      // The admin API: no token, wrong tokens, and with the token, bodies and paths it must refuse.
      weight: 8,
      make: () => {
        const route = pick(['/admin/v1/identities', `/admin/v1/identities/${target.identityName}`, '/admin/v1/pins', '/admin/v1/keeper', `/admin/v1/identities/${target.identityName}/keys`,
          `/admin/v1/pins/${enc(target.did)}`, `/admin/v1/${b32(6)}`, '/admin', '/admin/v2/identities', '/ADMIN/V1/IDENTITIES', '/admin/v1/identities/../pins'])
        const method = pick(['GET', 'POST', 'PUT', 'DELETE', 'PATCH'])
        const wrong = pick([
          '', 'Bearer', 'Bearer ', `Bearer ${target.token.slice(0, -1)}`, `Bearer ${target.token.slice(0, -1)}${target.token.endsWith('A') ? 'B' : 'A'}`, `Bearer ${target.token}x`,
          `bearer  ${b32(43)}`, `Basic ${Buffer.from(`admin:${target.token}`).toString('base64')}`, `Bearer ${'t'.repeat(8_000)}`, `Bearer ${target.token} ${target.token}`,
          `Token ${target.token}`, `Bearer ${enc(unicode())}`
        ])
        const form = int(3)
        if (form === 0) return simple('admin', 'no-token', method, route, 'reject')
        if (form === 1) return post('admin', 'wrong-token', method, route, '{"name":"x","passphrase":"p"}', 'application/json', 'reject', [`Authorization: ${wrong}\r\n`])
        const auth = `Authorization: Bearer ${target.token}\r\n`
        const authed = int(8)
        switch (authed) {
          case 0: return post('admin', 'token+garbage-body', pick(['POST', 'PUT', 'DELETE']), pick(['/admin/v1/identities', `/admin/v1/identities/${target.identityName}/keys`, `/admin/v1/identities/${target.identityName}/deactivate`]), garbageJson(), 'application/json', 'reject', [auth])
          case 1: return post('admin', 'token+schema', 'POST', '/admin/v1/identities', JSON.stringify(pick<unknown>([
            { name: 'x' }, { name: 'Bad Name!', passphrase: 'long enough passphrase' }, { name: 'x', passphrase: 'short' }, { name: 1, passphrase: [] },
            { name: b32(10), passphrase: 'x'.repeat(5_000) }, { name: b32(8), passphrase: 'p', services: [{ fragment: '#', type: '', serviceEndpoint: [] }] }, { name: b32(8), passphrase: 'p', extra: true },
            { name: target.identityName, passphrase: 'short' }
          ])), 'application/json', 'reject', [auth])
          case 2: return post('admin', 'token+oversized', 'POST', '/admin/v1/identities', JSON.stringify({ name: 'x', passphrase: 'y'.repeat(64 * 1024 + int(100_000)) }), 'application/json', 'reject', [auth])
          case 3: return post('admin', 'token+unknown-identity', pick(['POST', 'DELETE']), `/admin/v1/identities/${pick([b32(8), enc(unicode()), '..', 'Alice', '-x', 'a'.repeat(70)])}/${pick(['keys', 'deactivate', 'services', 'keys/rotate', 'services/x', 'keys/auth-1'])}`, '{"passphrase":"whatever passphrase"}', 'application/json', 'reject', [auth])
          case 4: return simple('admin', 'token+bad-pin', pick(['PUT', 'DELETE']), `/admin/v1/pins/${pick([enc(`did:web:${b32(12)}`), `did:ipid:${b32(20)}`, b32(20), pct(bytesOf(20)), `did:ipid:${validName()}%23x`, `did:ipid:${validName()}%3Fx%3D1`, enc(`did:ipid:${unicode()}`)])}`, 'reject', [auth])
          // Valid DIDs nobody pinned: 404 not_pinned, unless an earlier request of this kind pinned it (PUT is never generated for valid DIDs).
          case 5: return simple('admin', 'token+unpin-unknown', 'DELETE', `/admin/v1/pins/did:ipid:${validName()}`, 'reject', [auth])
          case 6: return simple('admin', 'token+unknown-path', pick(['GET', 'POST', 'PUT']), `/admin/v1/${pick([b32(6), 'identities/x/y/z', 'keeper/x', 'pins', 'identities'])}`, 'either', [auth])
          default: return simple('admin', 'token+valid', 'GET', pick(['/admin/v1/identities', `/admin/v1/identities/${target.identityName}`, '/admin/v1/pins', '/admin/v1/keeper']), 'accept', [auth])
        }
      }
    },
    {
      // Unknown paths and odd methods.
      weight: 5,
      make: () => {
        const method = pick(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'MKCOL', 'LOCK', 'PURGE', 'SEARCH', 'QUERY', 'FOO', 'get', 'G@T', 'GET\u0000'])
        const t = pick(['/', '*', '/nope', `/${b32(10)}`, '/1.0', '/1.0/', '/1.0/identifiers', '/1.0/identifiers/', '/1.0/methods', '/1.0/testIdentifiers', '/1.0/properties', '/2.0/identifiers/x',
          'http://evil.example/1.0/identifiers/x', `http://localhost/1.0/identifiers/${target.did}`, '//admin/v1/identities', '/./1.0/methods', '/1.0/../admin/v1/keeper', '/.env', '/.git/config',
          '/favicon.ico', '/metrics/x', '/healthz/x', `/${'a/'.repeat(1_000)}`, '/%2e%2e/%2e%2e/etc/passwd', '/1.0/identifiers/*', 'example.com:443'])
        const cors = chance(0.3) ? ['Origin: https://evil.example\r\n', `Access-Control-Request-Method: ${pick(['GET', 'POST', 'DELETE', 'PUT'])}\r\n`, 'Access-Control-Request-Headers: authorization\r\n'] : []
        return simple('paths-methods', `${method.replace(/\W/g, '?')} ${t.length > 30 ? `${t.slice(0, 30)}…` : t}`, method, t, 'either', cors)
      }
    },
    {
      // Header floods, huge headers, broken header syntax, missing Host, Expect.
      weight: 5,
      make: () => {
        const form = int(10)
        const t = pick([`/1.0/identifiers/${target.did}`, '/1.0/methods', `/routing/v1/ipns/${validName()}`, '/admin/v1/keeper'])
        switch (form) {
          case 0: return simple('headers', 'flood', 'GET', t, 'either', Array.from({ length: 101 + int(400) }, (_, i) => `X-Flood-${i}: ${b32(8)}\r\n`))
          case 1: return simple('headers', 'huge', 'GET', t, 'reject', [`X-Big: ${'h'.repeat(16_500 + int(40_000))}\r\n`])
          case 2: return simple('headers', 'many-cookies', 'GET', t, 'either', Array.from({ length: 60 }, () => `Cookie: ${b32(20)}=${b32(100)}\r\n`))
          case 3: return simple('headers', 'malformed', 'GET', t, 'reject', [pick(['Bad Header: x\r\n', 'X-Ctl: a\u0001b\r\n', ': empty-name\r\n', 'X-Obs-Fold: a\r\n  b\r\n', 'NoColon\r\n', 'X-Nul: a\u0000b\r\n', 'Content-Length: 1\r\nContent-Length: 2\r\n', 'X\u00ff: y\r\n'])])
          case 4: return simple('headers', 'no-host', 'GET', t, 'reject', [], { host: false })
          case 5: return simple('headers', 'expect', pick(['GET', 'POST']), t, 'either', [`Expect: ${pick(['100-continue', 'nope', '200-ok', '100-continue, x'])}\r\n`])
          case 6: return simple('headers', 'odd-values', 'GET', t, 'either', [
            `Accept-Encoding: ${pick(['gzip;q=2', 'x'.repeat(5_000), '*;q=0', 'identity;q=0'])}\r\n`, `X-Request-Id: ${pick(['ok-id', 'bad id', 'x'.repeat(200), '\u00ff\u00fe', '../../etc'])}\r\n`,
            `If-None-Match: ${pick(['*', 'W/"x"', '"' + 'a'.repeat(3_000) + '"', ',,,', '"unterminated'])}\r\n`, `Range: ${pick(['bytes=0-1', 'bytes=-1', 'bytes=9-1,0-0,' + '1-1,'.repeat(200)])}\r\n`])
          case 7: return simple('headers', 'absolute-host-mismatch', 'GET', `http://[::1]:1/${t.slice(1)}`, 'either', ['Host: evil.example\r\n'])
          case 8: return simple('headers', 'upgrade', 'GET', t, 'either', ['Upgrade: websocket\r\n', 'Connection: Upgrade\r\n', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n', 'Sec-WebSocket-Version: 13\r\n'])
          default: return simple('headers', 'duplicate-host', 'GET', t, 'reject', [`Host: ${pick(['evil.example', 'localhost', 'a'])}\r\n`])
        }
      }
    },
    {
      // Bytes that are barely or not at all HTTP/1.1.
      weight: 5,
      make: () => {
        const id = `/1.0/identifiers/${target.did}`
        // Each with whether a lenient parser could take it as a valid request ('either') or not ('reject').
        const [rawBytes, expect] = pick<() => [Buffer, Expectation]>([
          () => [Buffer.from(`GET ${id}\r\n\r\n`), 'either'], // HTTP/0.9: llhttp takes it
          () => [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), 'reject'],
          () => [Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), bytesOf(200)]), 'reject'], // a TLS ClientHello
          () => [bytesOf(1 + int(3_000)), 'reject'],
          () => [Buffer.from(`GET ${id} HTTP/1.2\r\nHost: x\r\n\r\n`), 'either'],
          () => [Buffer.from(`GET ${id} HTTP/9.9\r\nHost: x\r\n\r\n`), 'reject'],
          () => [Buffer.from(`GET ${id} http/1.1\r\nHost: x\r\n\r\n`), 'reject'],
          () => [Buffer.from(`GET  ${id}  HTTP/1.1\r\nHost: x\r\n\r\n`), 'either'],
          () => [Buffer.from(`GET ${id} HTTP/1.1\nHost: x\n\n`), 'either'],
          () => [Buffer.from(`GET ${id} HTTP/1.1\rHost: x\r\r`), 'reject'],
          () => [Buffer.from(`POST /1.0/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin/v1/keeper HTTP/1.1\r\nHost: x\r\n\r\n`), 'reject'], // smuggling
          () => [Buffer.from(`POST /1.0/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${pick(['zz', '-1', 'ffffffffffffffffff', '5;' + 'e'.repeat(20_000), '1\r\nab'])}\r\n\r\n`), 'reject'],
          () => [Buffer.from(`POST /1.0/verify HTTP/1.1\r\nHost: x\r\nContent-Length: ${pick(['-1', 'abc', '1e3', '99999999999999999999', '0x10', '5, 5'])}\r\n\r\n{}`), 'reject'],
          () => [Buffer.from(`POST /1.0/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${pick(['gzip, chunked', 'chunked, gzip', 'identity', 'xchunked', 'chunked\r\nTransfer-Encoding: chunked'])}\r\n\r\n0\r\n\r\n`), 'reject'],
          () => [Buffer.from(`GET ${id} HTTP/1.0\r\n\r\n`), 'accept'],
          () => [Buffer.from(`GET ${id} HTTP/1.1\r\nHost: x\r\n\r\nGET /1.0/methods HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`), 'accept'], // pipelined
          () => [Buffer.concat([Buffer.from('GET '), bytesOf(30), Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n')]), 'reject'],
          () => [Buffer.from('\r\n\r\n\r\n'), 'reject'], // empty lines before a request are skipped: answered 408 after the head timeout
          () => [Buffer.from(`${'A'.repeat(20_000)} / HTTP/1.1\r\n\r\n`), 'reject']
        ])()
        const firstLine = rawBytes.subarray(0, 300).toString('latin1').split(/[\r\n]/, 1)[0] ?? ''
        const [method = '', requestTarget = ''] = firstLine.split(' ').filter(word => word !== '')
        const waits = /^(\r\n)+$/.test(rawBytes.toString('latin1'))
        return {
          category: 'raw-malformed',
          kind: waits ? 'blank-lines' : firstLine.replace(/[^\x20-\x7e]/g, '.').replace(/did:ipid:\w+/, 'did').slice(0, 40),
          method,
          target: requestTarget,
          bytes: rawBytes,
          expect,
          ...(waits ? { lane: 'slow' as const, statuses: [408] } : {})
        }
      }
    },
    {
      // The rare valid request.
      weight: 2,
      make: () => {
        const form = int(8)
        const get = (t: string, headers: string[] = []): ReturnType<Make> => simple('valid', t.split('?')[0]!.replace(/did:ipid:\w+/, 'did').replace(/k51\w+|k2k4\w+|bafz\w+/, 'name'), 'GET', t, 'accept', headers)
        switch (form) {
          case 0: return get('/healthz')
          case 1: return get('/readyz')
          case 2: return get('/1.0/methods')
          case 3: return get('/1.0/testIdentifiers')
          case 4: return get('/metrics')
          case 5: return get(`/1.0/identifiers/${target.did}`, [`Accept: ${pick(['application/did-resolution', 'application/did+json', 'application/did', '*/*', 'application/ld+json;profile="https://w3id.org/did-resolution"'])}\r\n`])
          case 6: return get(`/routing/v1/ipns/${pick(realIds)}`, [`Accept: ${RECORD_TYPE}\r\n`])
          default: return get(`/1.0/identifiers/${target.did}`, ['If-None-Match: *\r\n'])
        }
      }
    }
  ]
  const total = families.reduce((sum, f) => sum + f.weight, 0)
  const fast = (): HostileRequest => {
    let roll = rand() * total
    for (const family of families) {
      roll -= family.weight
      if (roll < 0) {
        const made = family.make()
        return { ...made, target: made.target ?? '', deadlineMs: made.lane === 'slow' ? SLOW_DEADLINE_MS : FAST_DEADLINE_MS }
      }
    }
    throw new Error('unreachable')
  }

  // Slow clients: each holds a connection until the daemon's timeouts end it (10 s for a head, 15 s for a
  // routing body, 30 s for any other request).
  const slow = (): HostileRequest => {
    // Heads time out after 10 s and routing bodies after 15 s; other bodies only at the 30 s request timeout.
    const form = int(options.longSlowClients === false ? 4 : 7)
    const base = { category: 'slow-client', deadlineMs: SLOW_DEADLINE_MS, statuses: [408] as const, lane: 'slow' as const }
    const idTarget = `/1.0/identifiers/did:ipid:${validName()}`
    switch (form) {
      case 0: return { ...base, kind: 'head-dribbled', method: 'GET', target: idTarget, expect: 'reject', bytes: Buffer.from(`GET ${idTarget} HTTP/1.1\r\nHost: x\r\n`), dribble: { bytes: Buffer.from(`X-Slow: ${b32(2_000)}`), everyMs: 300 + int(400) } }
      case 1: return { ...base, kind: 'head-stalled', method: 'GET', target: idTarget, expect: 'reject', bytes: Buffer.from(`GET ${idTarget} HTTP/1.1\r\nHost: x\r\nX-Sl`) }
      case 2: return { ...base, kind: 'silent', method: 'GET', target: '', expect: 'reject', bytes: Buffer.alloc(0) }
      case 3: {
        const t = `/routing/v1/ipns/${validName()}`
        return { ...base, kind: 'body-dribbled-routing', method: 'PUT', target: t, expect: 'reject', bytes: Buffer.from(`PUT ${t} HTTP/1.1\r\nHost: x\r\nContent-Type: ${RECORD_TYPE}\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n`), dribble: { bytes: bytesOf(5_000), everyMs: 300 + int(400) } }
      }
      case 4: return { ...base, kind: 'body-dribbled-verify', method: 'POST', target: '/1.0/verify', expect: 'reject', bytes: Buffer.from('POST /1.0/verify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n{"jwt":"'), dribble: { bytes: Buffer.from('a'.repeat(5_000)), everyMs: 300 + int(400) } }
      case 5: return { ...base, kind: 'body-dribbled-resolve', method: 'POST', target: idTarget, expect: 'reject', bytes: Buffer.from(`POST ${idTarget} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n{"noCache":`), dribble: { bytes: Buffer.from(' '.repeat(5_000)), everyMs: 300 + int(400) } }
      default: return { ...base, kind: 'body-dribbled-admin', method: 'POST', target: '/admin/v1/identities', expect: 'reject', bytes: Buffer.from(`POST /admin/v1/identities HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${target.token}\r\nContent-Type: application/json\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n{"name":`), dribble: { bytes: Buffer.from(' '.repeat(5_000)), everyMs: 300 + int(400) } }
    }
  }

  const requests: HostileRequest[] = []
  const slowEvery = slowCount > 0 ? Math.floor(count / slowCount) : Infinity
  let slowMade = 0
  for (let i = 0; i < count; i++) {
    const makeSlow = i % slowEvery === slowEvery - 1 && slowMade < slowCount
    if (makeSlow) slowMade++
    requests.push(makeSlow ? slow() : fast())
  }
  return requests
}

// -------------------------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client

export interface RawResponse {
  /** 0 when the connection ended without an answer. */
  status: number
  headers: Record<string, string>
  body: Buffer
  elapsedMs: number
  /** No answer within the deadline. */
  hung: boolean
  /** The socket error seen, if any (a reset after the answer is fine). */
  error?: string
}

interface Parsed { status: number, headers: Record<string, string>, body: Buffer, complete: boolean }

/** Parses one response out of `data` (skipping 1xx interim answers); `closed` when the server closed the connection. */
export function parseResponse (data: Buffer, method: string, closed: boolean): Parsed | undefined {
  let rest = data
  for (;;) {
    const end = rest.indexOf('\r\n\r\n')
    if (end < 0) return undefined
    const head = rest.subarray(0, end).toString('latin1')
    const lines = head.split('\r\n')
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? Number.NaN)
    if (Number.isNaN(status)) return { status: -1, headers: { 'x-unparsable-status-line': lines[0] ?? '' }, body: Buffer.alloc(0), complete: true }
    const headers: Record<string, string> = {}
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':')
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const after = rest.subarray(end + 4)
    if (status >= 100 && status < 200) { rest = after; continue }
    if (method === 'HEAD' || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0), complete: true }
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = []
      let at = 0
      for (;;) {
        const lineEnd = after.indexOf('\r\n', at)
        if (lineEnd < 0) return { status, headers, body: Buffer.concat(chunks), complete: closed }
        const size = Number.parseInt(after.subarray(at, lineEnd).toString('latin1'), 16)
        if (Number.isNaN(size)) return { status, headers, body: Buffer.concat(chunks), complete: true }
        if (size === 0) return { status, headers, body: Buffer.concat(chunks), complete: true }
        if (after.length < lineEnd + 2 + size + 2) return { status, headers, body: Buffer.concat(chunks), complete: closed }
        chunks.push(after.subarray(lineEnd + 2, lineEnd + 2 + size))
        at = lineEnd + 2 + size + 2
      }
    }
    const length = headers['content-length']
    if (length !== undefined) {
      const n = Number(length)
      return { status, headers, body: after.subarray(0, n), complete: after.length >= n || closed }
    }
    return { status, headers, body: after, complete: closed }
  }
}

/** Sends a request over a fresh TCP connection and reads one response (or none, by the deadline). */
export async function sendRaw (port: number, request: Pick<HostileRequest, 'bytes' | 'dribble' | 'deadlineMs' | 'method'>): Promise<RawResponse> {
  const startedMs = performance.now()
  return new Promise(resolve => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true })
    const chunks: Buffer[] = []
    let error: string | undefined
    let done = false
    let dribbler: NodeJS.Timeout | undefined
    const finish = (parsed: Parsed | undefined, hung: boolean): void => {
      if (done) return
      done = true
      clearTimeout(deadline)
      clearInterval(dribbler)
      socket.destroy()
      resolve({
        status: parsed?.status ?? 0,
        headers: parsed?.headers ?? {},
        body: parsed?.body ?? Buffer.alloc(0),
        elapsedMs: performance.now() - startedMs,
        hung,
        ...(error === undefined ? {} : { error })
      })
    }
    const deadline = setTimeout(() => { finish(parseResponse(Buffer.concat(chunks), request.method, true), true) }, request.deadlineMs)
    socket.on('connect', () => {
      if (request.bytes.length > 0) socket.write(request.bytes)
      const { dribble } = request
      if (dribble !== undefined) {
        let at = 0
        dribbler = setInterval(() => {
          if (at >= dribble.bytes.length || !socket.writable) { clearInterval(dribbler); return }
          socket.write(dribble.bytes.subarray(at, at + 1))
          at++
        }, dribble.everyMs)
      }
    })
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      const parsed = parseResponse(Buffer.concat(chunks), request.method, false)
      if (parsed?.complete === true) finish(parsed, false)
    })
    socket.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message })
    socket.on('close', () => { finish(parseResponse(Buffer.concat(chunks), request.method, true), false) })
  })
}
